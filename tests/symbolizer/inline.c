/* Test workload for file:line and inlined frames: mix() is always inlined
 * into burn_a(). Prints burn_a's address, then burns for argv[1] seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

volatile double sink;

static inline __attribute__((always_inline)) double mix(double x, long i) {
    return x * 0.999 + i * 0.5; /* MIX_LINE */
}

__attribute__((noinline)) void burn_a(long n) {
    double x = 0;
    for (long i = 0; i < n; i++) x = mix(x, i);
    sink = x;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    printf("burn_a=%p main=%p\n", (void *)burn_a, (void *)main);
    fflush(stdout);
    time_t end = time(NULL) + (time_t)seconds + 1;
    while (time(NULL) < end) {
        burn_a(1000000);
        sink += 1;
    }
    return 0;
}
