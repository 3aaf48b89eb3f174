/* Test workload: main -> work -> burn_a, built with and without frame pointers.
 * Prints its functions' run-time addresses, then burns CPU for argv[1] seconds
 * (argv[2]: "sleep" blocks in nanosleep instead, "thread" burns in a second
 * thread, "signal" burns inside a signal handler, "clock" burns in the vDSO's
 * clock_gettime). */
#include <pthread.h>
#include <signal.h>
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

__attribute__((noinline)) void burn_clock(long n) {
    struct timespec ts;
    for (long i = 0; i < n / 100; i++) clock_gettime(CLOCK_MONOTONIC, &ts);
    sink += ts.tv_nsec;
}

static int mode_clock;

__attribute__((noinline)) void work(long n, int sleepy) {
    if (sleepy) block_a(); else if (mode_clock) burn_clock(n); else burn_a(n);
    sink += 1; /* no tail call: work stays on the stack */
}

static double seconds = 1.0;
static int sleepy;

__attribute__((noinline)) void *thread_main(void *arg) {
    (void)arg;
    double end = now() + seconds;
    while (now() < end) work(200000, sleepy);
    return NULL;
}

__attribute__((noinline)) void on_signal(int sig) {
    (void)sig;
    double end = now() + seconds;
    while (now() < end) work(200000, 0);
}

int main(int argc, char **argv) {
    seconds = argc > 1 ? atof(argv[1]) : 1.0;
    sleepy = argc > 2 && strcmp(argv[2], "sleep") == 0;
    const char *mode = argc > 2 ? argv[2] : "";
    mode_clock = strcmp(mode, "clock") == 0;
    printf("burn_a=%p work=%p main=%p block_a=%p\n", (void *)burn_a, (void *)work,
           (void *)main, (void *)block_a);
    fflush(stdout);
    if (strcmp(mode, "thread") == 0) {
        pthread_t t;
        pthread_create(&t, NULL, thread_main, NULL);
        pthread_join(t, NULL);
    } else if (strcmp(mode, "signal") == 0) {
        signal(SIGUSR1, on_signal);
        raise(SIGUSR1);
    } else {
        double end = now() + seconds;
        while (now() < end) work(200000, sleepy);
    }
    return 0;
}
