/* A context-switch-heavy workload: two threads pass a byte back and forth
 * through two pipes for argv[1] seconds; prints round trips done. With
 * argv[2] > 0, at most that many round trips a second (in bursts each
 * millisecond, so every wait stays far below the off-CPU threshold). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int ping[2], pong[2];

static void *echo(void *arg)
{
    char c;
    while (read(ping[0], &c, 1) == 1 && c)
        if (write(pong[1], &c, 1) != 1)
            break;
    return arg;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    if (pipe(ping) || pipe(pong))
        return 1;
    pthread_t t;
    pthread_create(&t, NULL, echo, NULL);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long rate = argc > 2 ? atol(argv[2]) : 0;
    int burst = rate > 0 ? (int)(rate / 1000 > 0 ? rate / 1000 : 1) : 1000;
    struct timespec tick = t0;
    uint64_t n = 0;
    char c = 1;
    for (;;) {
        for (int k = 0; k < burst; k++, n++)
            if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
                return 1;
        if (rate > 0) {
            tick.tv_nsec += 1000000;
            if (tick.tv_nsec >= 1000000000) {
                tick.tv_sec++;
                tick.tv_nsec -= 1000000000;
            }
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &tick, NULL);
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 >= seconds)
            break;
    }
    c = 0;
    if (write(ping[1], &c, 1) != 1)
        return 1;
    pthread_join(t, NULL);
    printf("%llu\n", (unsigned long long)n);
    return 0;
}
