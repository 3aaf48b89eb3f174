/* Many kept off-CPU intervals a second: argv[2] threads each sleeping
 * argv[3] microseconds in a loop (woken by timers) for argv[1] seconds;
 * prints the sleeps done. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static double seconds;
static long sleep_us;

static void *sleeper(void *arg)
{
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    struct timespec t0, now, nap = {0, sleep_us * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t n = 0;
    do {
        nanosleep(&nap, NULL);
        n++;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
    *(uint64_t *)arg = n;
    return NULL;
}

int main(int argc, char **argv)
{
    seconds = argc > 1 ? atof(argv[1]) : 5.0;
    int threads = argc > 2 ? atoi(argv[2]) : 32;
    sleep_us = argc > 3 ? atol(argv[3]) : 1200;
    pthread_t t[1024];
    uint64_t done[1024] = {0};
    if (threads > 1024)
        threads = 1024;
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, sleeper, &done[i]);
    uint64_t total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        total += done[i];
    }
    printf("%llu\n", (unsigned long long)total);
    return 0;
}
