/* Unix-socket round trips in a tight loop, the system calls of Flamecam's
 * table announcement (docs/TRACE_CONTEXT.md, "Discovery") made by a process
 * that talks to no agent: for argv[1] seconds, connect to its own abstract
 * stream socket, send 32 bytes, accept, read them, answer one byte, read it,
 * close both ends. Prints round trips done. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "repeat.h"

static int listener;
static struct sockaddr_un addr;
static socklen_t addr_len;

static int round_trip(uint64_t i)
{
    char msg[32] = {0}, got[32], ack = 1;
    (void)i;
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&addr, addr_len) != 0)
        return 1;
    if (send(c, msg, sizeof(msg), 0) != sizeof(msg))
        return 1;
    int s = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (s < 0 || recv(s, got, sizeof(got), 0) != sizeof(got) || send(s, &ack, 1, 0) != 1)
        return 1;
    if (recv(c, &ack, 1, 0) != 1)
        return 1;
    close(s);
    close(c);
    return 0;
}

int main(int argc, char **argv)
{
    addr.sun_family = AF_UNIX;
    /* Abstract: a NUL, then the name (unique per process). */
    int n = snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "flamecam-bench-%d",
                     (int)getpid());
    addr_len = offsetof(struct sockaddr_un, sun_path) + 1 + n;
    listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, addr_len) != 0 ||
        listen(listener, 8) != 0)
        return 1;
    int64_t done = repeat_for(argc > 1 ? atof(argv[1]) : 5.0, 256, round_trip);
    if (done < 0)
        return 1;
    printf("%lld\n", (long long)done);
    return 0;
}
