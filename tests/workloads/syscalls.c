/* A syscall-heavy workload: write(2) of one byte to /dev/null and
 * nanosleep(0) in a tight loop for argv[1] seconds; prints iterations done.
 * Timer slack 1 ns, so each nanosleep(0) is a real switch-out and back (the
 * off-CPU program's path) rather than a 50 us nap. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include "repeat.h"

static int fd;

static int write_and_nap(uint64_t i)
{
    static const struct timespec zero = {0, 0};
    (void)i;
    if (write(fd, "x", 1) != 1)
        return 1;
    nanosleep(&zero, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    fd = open("/dev/null", O_WRONLY);
    if (fd < 0)
        return 1;
    int64_t n = repeat_for(argc > 1 ? atof(argv[1]) : 5.0, 16, write_and_nap);
    if (n < 0)
        return 1;
    printf("%lld\n", (long long)n);
    return 0;
}
