"""Workload scripts the runtime tests run under each interpreter."""

ALPHA_BETA = r'''
import random, threading, time, sys

def alpha(n):
    x = 0
    for _ in range(n):
        x += 1

def beta(n):
    x = 0
    for _ in range(n):
        x += 1

def work():
    # Split by work, not wall time, so that CPU contention cannot skew it.
    rnd = random.Random(7)
    while True:
        # Cycles far shorter than a sampling period or a time slice, so that
        # samples of a busy machine are not correlated with them.
        n = rnd.randint(2000, 8000)
        alpha(7 * n // 10)
        beta(3 * n // 10)

def nap(worker):
    # "ready" is said from inside nap(), so a reader that looks as soon as it
    # reads the line already finds the main thread here.
    print("ready", threading.get_native_id(), worker.native_id, flush=True)
    while True:
        time.sleep(0.2)

w = threading.Thread(target=work, name="worker-3", daemon=True)
w.start()
nap(w)
'''

# Every function the ALPHA_BETA worker thread runs, down to its calls into random.
WORKER_FUNCTIONS = ("alpha", "beta", "work", "randint", "randrange",
                    "_randbelow_with_getrandbits")

GIL_AND_LOCK = r'''
import threading, time

lock = threading.Lock()
lock.acquire()

def spin():
    x = 0
    while True:
        x += 1

def waiter():
    while True:
        lock.acquire(timeout=0.05)

a = threading.Thread(target=spin, name="spin-a", daemon=True)
b = threading.Thread(target=spin, name="spin-b", daemon=True)
c = threading.Thread(target=waiter, name="waiter", daemon=True)
for t in (a, b, c):
    t.start()
time.sleep(0.3)
print("ready", a.native_id, b.native_id, c.native_id, flush=True)
time.sleep(600)
'''
