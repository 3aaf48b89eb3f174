/* The web UI tests' workload: known functions, threads and off-CPU reasons.
 *
 *   burner  : work() -> burn_a (7 units) and burn_b (argv[1] units, default 3)
 *             so a second "release" run with a larger argv[1] got slower in
 *             burn_b, and only there
 *   sleeper : nap() sleeps 50 ms, forever (off-CPU reason "sleep")
 *   holder  : holds a mutex for 20 ms, frees it for 1 ms
 *   waiter  : wait_for_lock() blocks on that mutex (off-CPU reason "lock")
 * Prints "ready" once every thread runs. Build: gcc -O1 -fno-omit-frame-pointer -pthread. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long b_units = 3;

__attribute__((noinline)) void burn_a(long n) { for (long i = 0; i < n; i++) sink += i * i; }
__attribute__((noinline)) void burn_b(long n) { for (long i = 0; i < n; i++) sink += i * i; }

__attribute__((noinline)) void work(unsigned *seed)
{
    long n = 2000 + rand_r(seed) % 6000;  /* jittered, so sampling does not alias */
    burn_a(7 * n);
    burn_b(b_units * n);
}

static void *burner(void *arg)
{
    unsigned seed = 7;
    prctl(PR_SET_NAME, "burner");
    for (;;)
        work(&seed);
    return arg;
}

__attribute__((noinline)) void nap(void)
{
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static void *sleeper(void *arg)
{
    prctl(PR_SET_NAME, "sleeper");
    for (;;)
        nap();
    return arg;
}

static void *holder(void *arg)
{
    struct timespec hold = {0, 20 * 1000 * 1000}, free_ = {0, 1000 * 1000};
    prctl(PR_SET_NAME, "holder");
    for (;;) {
        pthread_mutex_lock(&lock);
        nanosleep(&hold, NULL);
        pthread_mutex_unlock(&lock);
        nanosleep(&free_, NULL);
    }
    return arg;
}

__attribute__((noinline)) void wait_for_lock(void)
{
    pthread_mutex_lock(&lock);
    pthread_mutex_unlock(&lock);
}

static void *waiter(void *arg)
{
    prctl(PR_SET_NAME, "waiter");
    for (;;)
        wait_for_lock();
    return arg;
}

int main(int argc, char **argv)
{
    pthread_t t;
    if (argc > 1)
        b_units = atol(argv[1]);
    pthread_create(&t, NULL, burner, NULL);
    pthread_create(&t, NULL, sleeper, NULL);
    pthread_create(&t, NULL, holder, NULL);
    pthread_create(&t, NULL, waiter, NULL);
    printf("ready\n");
    fflush(stdout);
    pause();
    return 0;
}
