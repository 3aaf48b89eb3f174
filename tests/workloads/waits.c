/* Waits whose target and waker are known, one kind per thread, forever:
 *
 *   "piperead"  reads a pipe that "pipewrite" fills every 20 ms (write_pipe)
 *   "locker"    locks a mutex that "holder" keeps 50 ms in hold_lock
 *   "sleeper"   sleeps 30 ms (woken by a timer)
 *   "recver"    recv()s from a local TCP server ("server") that answers after 30 ms
 *   "syncer"    writes 1 MiB to a file in argv[1] (a directory) and fsync()s it
 *
 * Prints "ready", then "port N" and "file PATH", one per line. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int pipefd[2];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int listen_fd;
static char file_path[4096];

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void spin_ms(long ms)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &now);
    while ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

__attribute__((noinline)) static void write_pipe(void)
{
    char c = 'x';
    if (write(pipefd[1], &c, 1) != 1)
        exit(1);
}

static void *pipewrite(void *arg)
{
    for (;;) {
        nap_ms(20);
        write_pipe();
    }
    return arg;
}

static void *piperead(void *arg)
{
    char c;
    while (read(pipefd[0], &c, 1) == 1)
        ;
    return arg;
}

__attribute__((noinline)) static void hold_lock(void)
{
    pthread_mutex_lock(&mu);
    nap_ms(50);
    pthread_mutex_unlock(&mu);
}

static void *holder(void *arg)
{
    for (;;) {
        hold_lock();
        spin_ms(2);  /* gives the locker its turn */
    }
    return arg;
}

static void *locker(void *arg)
{
    for (;;) {
        nap_ms(5);
        pthread_mutex_lock(&mu);
        pthread_mutex_unlock(&mu);
    }
    return arg;
}

static void *sleeper(void *arg)
{
    for (;;)
        nap_ms(30);
    return arg;
}

static void *server(void *arg)
{
    for (;;) {
        int c = accept(listen_fd, NULL, NULL);
        if (c < 0)
            exit(1);
        char buf[64];
        while (recv(c, buf, sizeof(buf), 0) > 0) {
            nap_ms(30);
            if (send(c, "pong", 4, 0) != 4)
                break;
        }
        close(c);
    }
    return arg;
}

static void *recver(void *arg)
{
    struct sockaddr_in a;
    socklen_t n = sizeof(a);
    getsockname(listen_fd, (struct sockaddr *)&a, &n);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) != 0)
        exit(1);
    char buf[64];
    for (;;) {
        if (send(s, "ping", 4, 0) != 4 || recv(s, buf, sizeof(buf), 0) <= 0)
            exit(1);
    }
    return arg;
}

static void *syncer(void *arg)
{
    int fd = open(file_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        exit(1);
    static char block[1 << 20];  /* enough that writing it back takes the disk a while */
    memset(block, 'y', sizeof(block));
    for (unsigned i = 0;; i++) {
        block[0] = (char)i;
        if (pwrite(fd, block, sizeof(block), 0) != sizeof(block))
            exit(1);
        fsync(fd);
        nap_ms(10);
    }
    return arg;
}

static void start(void *(*fn)(void *), const char *name)
{
    pthread_t t;
    pthread_create(&t, NULL, fn, NULL);
    pthread_setname_np(t, name);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    snprintf(file_path, sizeof(file_path), "%s/synced.dat", dir);
    if (pipe(pipefd))
        return 1;
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t n = sizeof(a);
    if (bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) || listen(listen_fd, 4) ||
        getsockname(listen_fd, (struct sockaddr *)&a, &n))
        return 1;
    start(pipewrite, "pipewrite");
    start(piperead, "piperead");
    start(holder, "holder");
    start(locker, "locker");
    start(sleeper, "sleeper");
    start(server, "server");
    start(recver, "recver");
    start(syncer, "syncer");
    printf("ready\nport %d\nfile %s\n", ntohs(a.sin_port), file_path);
    fflush(stdout);
    for (;;)
        pause();
}
