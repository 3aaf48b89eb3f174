/* A system-call-heavy workload: read(2) of 64 bytes from /dev/zero in a
 * tight loop for argv[1] seconds; prints reads done. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "repeat.h"

static int fd;

static int read_once(uint64_t i)
{
    char buf[64];
    (void)i;
    return read(fd, buf, sizeof(buf)) != sizeof(buf);
}

int main(int argc, char **argv)
{
    fd = open("/dev/zero", O_RDONLY);
    if (fd < 0)
        return 1;
    int64_t n = repeat_for(argc > 1 ? atof(argv[1]) : 5.0, 1024, read_once);
    if (n < 0)
        return 1;
    printf("%lld\n", (long long)n);
    return 0;
}
