/* Thread renames in a tight loop (bench/tracectx_kernel.py: Flamecam once
 * announced tables by a same-name rename, watched on task:task_rename; now
 * nothing in the kernel watches renames): prctl(PR_SET_NAME) for argv[1]
 * seconds; argv[2] "same" renames the thread to its own name each time,
 * "swap" alternates between two names. Prints renames done. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include "repeat.h"

static const char *names[2] = {"renames-a", "renames-b"};

static int rename_once(uint64_t i)
{
    return prctl(PR_SET_NAME, names[i & 1], 0, 0, 0);
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[2], "same") == 0)
        names[1] = names[0];
    int64_t n = repeat_for(argc > 1 ? atof(argv[1]) : 5.0, 1024, rename_once);
    if (n < 0)
        return 1;
    printf("%lld\n", (long long)n);
    return 0;
}
