/* A syscall-heavy workload: write(2) of one byte to /dev/null and
 * nanosleep(0) in a tight loop for argv[1] seconds; prints iterations done.
 * Timer slack 1 ns, so each nanosleep(0) is a real switch-out and back (the
 * off-CPU program's path) rather than a 50 us nap. */
#include <fcntl.h>
#include <sys/prctl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    int fd = open("/dev/null", O_WRONLY);
    if (fd < 0)
        return 1;
    struct timespec zero = {0, 0}, t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t n = 0;
    for (;;) {
        for (int k = 0; k < 16; k++, n++) {
            if (write(fd, "x", 1) != 1)
                return 1;
            nanosleep(&zero, NULL);
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 >= seconds)
            break;
    }
    printf("%llu\n", (unsigned long long)n);
    return 0;
}
