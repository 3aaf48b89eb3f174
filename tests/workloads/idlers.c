/* Many threads that wait (the "all threads over time" view's long list):
 * argv[1] threads (default 60) named idle-00, idle-01, ..., each sleeping
 * argv[2] ms (default 1000) at a time, forever: off-CPU reason "sleep", a
 * few wakeups a second in all. Prints "ready" once every thread runs under
 * its name. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static pthread_barrier_t named;
static long nap_ms = 1000;

static void *idler(void *arg)
{
    char name[16];
    snprintf(name, sizeof(name), "idle-%02ld", (long)arg);
    prctl(PR_SET_NAME, name);
    pthread_barrier_wait(&named);
    struct timespec ts = {nap_ms / 1000, (nap_ms % 1000) * 1000000L};
    for (;;)
        nanosleep(&ts, NULL);
    return arg;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 60;
    if (argc > 2)
        nap_ms = atol(argv[2]);
    pthread_t t;
    pthread_barrier_init(&named, NULL, (unsigned)(n + 1));
    for (long i = 0; i < n; i++)
        pthread_create(&t, NULL, idler, (void *)i);
    pthread_barrier_wait(&named);
    printf("ready\n");
    fflush(stdout);
    pause();
    return 0;
}
