"""Workload scripts the runtime tests run under each interpreter."""

ALPHA_BETA = r'''
import random, threading, time, sys

def alpha(until):
    x = 0
    while time.perf_counter() < until:
        x += 1

def beta(until):
    x = 0
    while time.perf_counter() < until:
        x += 1

def work():
    rnd = random.Random(7)
    while True:
        cycle = rnd.uniform(0.004, 0.012)
        now = time.perf_counter()
        alpha(now + 0.7 * cycle)
        beta(now + cycle)

def nap():
    while True:
        time.sleep(0.2)

w = threading.Thread(target=work, name="worker-3", daemon=True)
w.start()
print("ready", threading.get_native_id(), w.native_id, flush=True)
nap()
'''

GIL_AND_LOCK = r'''
import threading, time

lock = threading.Lock()
lock.acquire()

def spin():
    x = 0
    while True:
        x += 1

def waiter():
    lock.acquire()

a = threading.Thread(target=spin, name="spin-a", daemon=True)
b = threading.Thread(target=spin, name="spin-b", daemon=True)
c = threading.Thread(target=waiter, name="waiter", daemon=True)
for t in (a, b, c):
    t.start()
time.sleep(0.3)
print("ready", a.native_id, b.native_id, c.native_id, flush=True)
time.sleep(600)
'''
