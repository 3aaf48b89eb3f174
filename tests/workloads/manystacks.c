/* Blocks at many distinct user stacks: main -> rec(d) -> ... -> rec(0) ->
 * nap -> nanosleep(1 ms), with the depth d cycling through 0..DEPTHS-1, so
 * every depth is a different stack. With more distinct stacks than the
 * off-CPU stack map has buckets, some must collide (issue 14 item 9). */
#include <stdio.h>
#include <time.h>

#define DEPTHS 100

__attribute__((noinline)) void nap(void)
{
    struct timespec ts = {0, 1000 * 1000};
    nanosleep(&ts, NULL);
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

int main(void)
{
    printf("ready\n");
    fflush(stdout);
    for (unsigned i = 0;; i++)
        rec(i % DEPTHS);
}
