/* A fixed CPU-bound workload: spins for argv[1] seconds, prints iterations done. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile uint64_t sink;

__attribute__((noinline)) static void step(uint64_t i) { sink += i * 2654435761u; }

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t n = 0;
    for (;;) {
        for (int k = 0; k < 65536; k++)
            step(n++);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 >= seconds)
            break;
    }
    printf("%llu\n", (unsigned long long)n);
    return 0;
}
