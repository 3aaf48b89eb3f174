/* Built WITH frame pointers, calling libc functions built without them
 * (issue 14 item 1). Every thread's hot or blocking point is a libc function
 * called directly by one of ours, so a frame-pointer walk skips exactly the
 * caller the tests look for:
 *   sleeper thread:  start_thread -> sleeper -> nap -> nanosleep (off-CPU)
 *   worker threads:  start_thread -> worker -> handle_request -> memcpy (on-CPU;
 *                                             handle_request's frame is 8 KiB)
 *                                             handle_request -> locker
 *                                               -> pthread_mutex_lock (lock waits)
 *                                               -> memset while holding it (on-CPU)
 * Prints "ready" once the threads run. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char src[1 << 16], dst[1 << 16], held[1 << 15];
static volatile size_t copy_len = sizeof(src), held_len = sizeof(held), frame_len = 8192;

__attribute__((noinline)) void nap(void)
{
    struct timespec ts = {0, 2 * 1000 * 1000};
    nanosleep(&ts, NULL);
    __asm__ volatile("" ::: "memory");  /* no tail call: nap stays on the stack */
}

__attribute__((noinline)) void *sleeper(void *arg)
{
    (void)arg;
    for (;;)
        nap();
    return NULL;
}

__attribute__((noinline)) void locker(void)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < 8; i++)
        memset(held, i, held_len);
    pthread_mutex_unlock(&lock);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void handle_request(void)
{
    /* A frame larger than the leaf copy: its return address is out of the
     * copy, so only its frame pointer links it to the frame-pointer walk. */
    char frame[8192];
    for (int i = 0; i < 4; i++) {
        memcpy(dst, src, copy_len);
        memcpy(frame, src, frame_len);
    }
    locker();
    __asm__ volatile("" : : "r"(frame) : "memory");
}

__attribute__((noinline)) void *worker(void *arg)
{
    (void)arg;
    for (;;)
        handle_request();
    return NULL;
}

int main(int argc, char **argv)
{
    int workers = argc > 1 ? atoi(argv[1]) : 3;
    pthread_t t;
    pthread_create(&t, NULL, sleeper, NULL);
    pthread_setname_np(t, "sleeper");
    for (int i = 0; i < workers; i++) {
        pthread_create(&t, NULL, worker, NULL);
        pthread_setname_np(t, "worker");
    }
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
