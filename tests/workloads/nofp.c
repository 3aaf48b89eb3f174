/* Built without frame pointers (-O2 -fomit-frame-pointer) for the CFI
 * unwinding tests. argv[1] "cpu": main -> work -> burn_a/burn_b forever;
 * "sleep": main -> outer -> nap -> nanosleep(20 ms) forever; "deep": work
 * under 400 frames of `deep` (over 16 KiB of stack: every stack copy is whole). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile uint64_t sink;
static volatile int sink_stop;  /* never set: "deep" runs until killed */

__attribute__((noinline)) void burn_a(long n) { for (long i = 0; i < n; i++) sink += i * i; }
__attribute__((noinline)) void burn_b(long n) { for (long i = 0; i < n; i++) sink += i * i; }

__attribute__((noinline)) void work(unsigned *seed)
{
    long n = 20000 + rand_r(seed) % 60000;
    burn_a(7 * n);
    burn_b(3 * n);
    __asm__ volatile("" ::: "memory");  /* no tail call: work stays on the stack */
}

__attribute__((noinline)) void nap(void)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void outer(void)
{
    nap();
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) long deep(int n)
{
    volatile char pad[48];
    pad[0] = (char)n;
    if (n == 0) {
        unsigned seed = 7;
        printf("ready\n");
        fflush(stdout);
        while (!sink_stop)
            work(&seed);
        return 0;
    }
    return deep(n - 1) + pad[0];  /* not a tail call: each level keeps its frame */
}

int main(int argc, char **argv)
{
    unsigned seed = 7;
    int sleep_mode = argc > 1 && strcmp(argv[1], "sleep") == 0;
    if (argc > 1 && strcmp(argv[1], "deep") == 0)
        return (int)deep(400);
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        if (sleep_mode)
            outer();
        else
            work(&seed);
    }
}
