/* Blocks at many distinct user stacks: main -> rec(d) -> ... -> rec(0) ->
 * nap -> nanosleep(1 ms), with the depth d cycling through 0..DEPTHS-1, so
 * every depth is a different stack. With more distinct stacks than the
 * off-CPU stack map has buckets, some must collide (issue 14 item 9).
 *
 * With argv[1] "wake", rec(0) also wakes a thread ("reader", blocked in
 * read() on a pipe) after its nap: the reader's every wait has a waker whose
 * stacks are as many and as distinct as the sleeper's. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEPTHS 100

static int wake = 0;
static int fds[2];

__attribute__((noinline)) void nap(void)
{
    struct timespec ts = {0, 1000 * 1000};
    nanosleep(&ts, NULL);
    if (wake && write(fds[1], "x", 1) != 1)
        _exit(1);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void rec(int d)
{
    if (d == 0)
        nap();
    else
        rec(d - 1);
    __asm__ volatile("" ::: "memory");  /* no tail call: every level stays on the stack */
}

static void *reader(void *arg)
{
    char c;
    while (read(fds[0], &c, 1) == 1)
        ;
    return arg;
}

int main(int argc, char **argv)
{
    wake = argc > 1 && strcmp(argv[1], "wake") == 0;
    if (wake) {
        pthread_t t;
        if (pipe(fds) || pthread_create(&t, NULL, reader, NULL))
            return 1;
        pthread_setname_np(t, "reader");
    }
    printf("ready\n");
    fflush(stdout);
    for (unsigned i = 0;; i++)
        rec(i % DEPTHS);
}
