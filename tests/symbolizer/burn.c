/* Test workload: main -> work -> burn_a, built with and without frame pointers.
 * Prints its functions' run-time addresses, then burns CPU for argv[1] seconds
 * (or blocks in nanosleep when argv[2] is "sleep"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

volatile double sink;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void burn_a(long n) {
    double x = 0;
    for (long i = 0; i < n; i++) x += i * 0.5;
    sink = x;
}

__attribute__((noinline)) void block_a(void) {
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    sink += 1;
}

__attribute__((noinline)) void work(long n, int sleepy) {
    if (sleepy) block_a(); else burn_a(n);
    sink += 1; /* no tail call: work stays on the stack */
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    int sleepy = argc > 2 && strcmp(argv[2], "sleep") == 0;
    printf("burn_a=%p work=%p main=%p block_a=%p\n", (void *)burn_a, (void *)work,
           (void *)main, (void *)block_a);
    fflush(stdout);
    double end = now() + seconds;
    while (now() < end) work(20000, sleepy);
    return 0;
}
