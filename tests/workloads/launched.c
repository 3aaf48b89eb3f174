/* A command for `flamecam record -- COMMAND`, whose answers are known.
 *
 *   launched SECONDS STATUS
 * From its first instruction, main burns the CPU for SECONDS: ~70% in burn_a,
 * ~30% in burn_b (equal-cost loops, 7:3 units, cycle lengths jittered so
 * sampling does not alias). Halfway, it forks a child that runs `child_burn`
 * for a quarter of SECONDS and exits 0. Then main exits with STATUS.
 * Nothing is printed: a profiler must see it from the start, unannounced. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "burn.h"


BURN(burn_a)
BURN(burn_b)
BURN(child_burn)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void work(unsigned *seed)
{
    long n = 20000 + rand_r(seed) % 60000;
    burn_a(7 * n);
    burn_b(3 * n);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    int status = argc > 2 ? atoi(argv[2]) : 0;
    unsigned seed = 1;
    double t0 = now();
    pid_t child = -1;
    while (now() - t0 < seconds) {
        work(&seed);
        if (child < 0 && now() - t0 >= seconds / 2) {
            child = fork();
            if (child == 0) {
                double c0 = now();
                while (now() - c0 < seconds / 4)
                    child_burn(100000);
                _exit(0);
            }
        }
    }
    if (child > 0)
        waitpid(child, NULL, 0);
    return status;
}
