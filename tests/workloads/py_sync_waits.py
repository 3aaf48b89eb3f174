"""Python threads each waiting in one kind of standard-library blocking call,
which "feeder" satisfies every 30 ms: an RLock it holds, a queue.Queue it
fills, an Event it sets and a Semaphore it releases."""

import queue
import threading
import time

rlock = threading.RLock()
jobs: queue.Queue = queue.Queue()
ready = threading.Event()
slots = threading.Semaphore(0)


def feeder() -> None:
    while True:
        with rlock:
            time.sleep(0.03)
        jobs.put(1)
        ready.set()
        slots.release()
        time.sleep(0.03)


def rlocker() -> None:
    while True:
        time.sleep(0.005)
        with rlock:
            pass


def getter() -> None:
    while True:
        jobs.get()


def eventer() -> None:
    while True:
        ready.wait()
        ready.clear()


def semmer() -> None:
    while True:
        slots.acquire()


for fn in (feeder, rlocker, getter, eventer, semmer):
    threading.Thread(target=fn, name=fn.__name__, daemon=True).start()
print("ready", flush=True)
while True:
    time.sleep(1)
