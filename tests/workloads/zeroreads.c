/* A system-call-heavy workload: read(2) of 64 bytes from /dev/zero in a
 * tight loop for argv[1] seconds; prints reads done. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    int fd = open("/dev/zero", O_RDONLY);
    if (fd < 0)
        return 1;
    char buf[64];
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t n = 0;
    for (;;) {
        for (int k = 0; k < 1024; k++, n++)
            if (read(fd, buf, sizeof(buf)) != sizeof(buf))
                return 1;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 >= seconds)
            break;
    }
    printf("%llu\n", (unsigned long long)n);
    return 0;
}
