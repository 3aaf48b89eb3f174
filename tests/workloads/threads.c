/* A process whose threads' answers are known, for the sampler tests.
 *
 *   burner   : work() -> burn_a (7 units) and burn_b (argv[2] units, default
 *              3): ~70% of its CPU time in burn_a, ~30% in burn_b (equal-cost
 *              loops; cycle lengths jittered so 99 Hz sampling does not alias).
 *              A "release" run with more burn_b units got slower only there.
 *   sleeper  : nap() sleeps 100 ms, forever
 *   holder   : takes a mutex and sleeps 20 ms holding it, then 1 ms free
 *   waiter   : blocks on that mutex (futex): off-CPU reason "lock"
 *   spin-N   : N extra busy threads (argv[1], default 0): with more busy
 *              threads than CPUs, everyone waits on the run queue
 * Prints "ready" once every thread runs under its name. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "burn.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long b_units = 3;
/* Every thread names itself, then waits here with main: a reader of
 * /proc/PID/task/TID/comm after "ready" finds every name already set. */
static pthread_barrier_t named;

static void set_name(const char *name)
{
    prctl(PR_SET_NAME, name);
    pthread_barrier_wait(&named);
}

BURN(burn_a)
BURN(burn_b)

__attribute__((noinline)) void work(unsigned *seed)
{
    long n = 20000 + rand_r(seed) % 60000;  /* ~0.05 to 0.2 ms, jittered */
    burn_a(7 * n);
    burn_b(b_units * n);
}

static void *burner(void *arg)
{
    unsigned seed = 42;
    set_name("burner");
    for (;;)
        work(&seed);
    return arg;
}

__attribute__((noinline)) void nap(void)
{
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static void *sleeper(void *arg)
{
    set_name("sleeper");
    for (;;)
        nap();
    return arg;
}

static void *holder(void *arg)
{
    struct timespec hold = {0, 20 * 1000 * 1000}, free_ = {0, 1000 * 1000};
    set_name("holder");
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
    set_name("waiter");
    for (;;)
        wait_for_lock();
    return arg;
}

static void *spinner(void *arg)
{
    char name[16];
    snprintf(name, sizeof(name), "spin-%ld", (long)arg);
    set_name(name);
    for (;;)
        sink++;
    return arg;
}

int main(int argc, char **argv)
{
    long spinners = argc > 1 ? atol(argv[1]) : 0;
    if (argc > 2)
        b_units = atol(argv[2]);
    pthread_t t;
    pthread_barrier_init(&named, NULL, (unsigned)(5 + spinners));
    pthread_create(&t, NULL, burner, NULL);
    pthread_create(&t, NULL, sleeper, NULL);
    pthread_create(&t, NULL, holder, NULL);
    pthread_create(&t, NULL, waiter, NULL);
    for (long i = 0; i < spinners; i++)
        pthread_create(&t, NULL, spinner, (void *)i);
    pthread_barrier_wait(&named);
    printf("ready\n");
    fflush(stdout);
    pause();
    return 0;
}
