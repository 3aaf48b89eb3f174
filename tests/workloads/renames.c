/* Thread renames in a tight loop, the system call of Flamecam's table
 * announcement (docs/TRACE_CONTEXT.md) made by a process without a table:
 * prctl(PR_SET_NAME) for argv[1] seconds; argv[2] "same" renames the thread
 * to its own name each time (what an announcement without the address looks
 * like), "swap" alternates between two names. Prints renames done. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    int same = argc > 2 && strcmp(argv[2], "same") == 0;
    const char *names[2] = {"renames-a", same ? "renames-a" : "renames-b"};
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t n = 0;
    for (;;) {
        for (int k = 0; k < 1024; k++, n++)
            if (prctl(PR_SET_NAME, names[n & 1], 0, 0, 0) != 0)
                return 1;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 >= seconds)
            break;
    }
    printf("%llu\n", (unsigned long long)n);
    return 0;
}
