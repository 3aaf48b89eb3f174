/* A process whose threads each stay in one known state, for `flamecam dump`:
 *
 *   napper  : nap() sleeps in nanosleep, an hour at a time
 *   holder  : hold() takes the mutex, then sleeps in hold_still() holding it
 *   waiter  : wait_for_lock() blocks on that mutex (a futex) for good
 *   burner  : burn() spins on the CPU for good
 *   main    : joins the napper (blocked on its exit)
 *
 * Prints "ready" once every thread is named, the holder holds the lock and
 * the waiter is asleep on it (seen in /proc), so a dump finds every thread
 * in its state whatever the machine's load. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "burn.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t named, locked;
static volatile pid_t waiter_tid;

BURN(burn)

static void set_name(const char *name)
{
    prctl(PR_SET_NAME, name);
    pthread_barrier_wait(&named);
}

__attribute__((noinline)) void nap(void)
{
    struct timespec ts = {3600, 0};
    nanosleep(&ts, NULL);
}

static void *napper(void *arg)
{
    set_name("napper");
    for (;;)
        nap();
    return arg;
}

__attribute__((noinline)) void hold_still(void)
{
    struct timespec ts = {3600, 0};
    for (;;)
        nanosleep(&ts, NULL);
}

__attribute__((noinline)) void hold(void)
{
    pthread_mutex_lock(&lock);
    pthread_barrier_wait(&locked);
    hold_still();
}

static void *holder(void *arg)
{
    prctl(PR_SET_NAME, "holder");
    hold();
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
    waiter_tid = gettid();  /* from here on, the only sleep is on the mutex */
    for (;;)
        wait_for_lock();
    return arg;
}

static void *burner(void *arg)
{
    set_name("burner");
    for (;;)
        burn(1000000);
    return arg;
}

/* The state letter of /proc/self/task/TID/stat ('?' if unreadable). */
static char state_of(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return '?';
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return p && p[1] && p[2] ? p[2] : '?';
}

int main(void)
{
    pthread_t nap_t, t;
    pthread_barrier_init(&locked, NULL, 2);
    pthread_barrier_init(&named, NULL, 4);
    pthread_create(&t, NULL, holder, NULL);
    pthread_barrier_wait(&locked);
    pthread_create(&nap_t, NULL, napper, NULL);
    pthread_create(&t, NULL, burner, NULL);
    pthread_create(&t, NULL, waiter, NULL);
    pthread_barrier_wait(&named);
    struct timespec poll = {0, 1000 * 1000};
    while (waiter_tid == 0 || state_of(waiter_tid) != 'S')
        nanosleep(&poll, NULL);
    printf("ready\n");
    fflush(stdout);
    pthread_join(nap_t, NULL);
    return 0;
}
