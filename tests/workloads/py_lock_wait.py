"""A Python thread ("waiter") waiting on a threading.Lock that "holder" keeps 50 ms in hold()."""

import threading
import time

lock = threading.Lock()


def hold() -> None:
    with lock:
        time.sleep(0.05)


def holder() -> None:
    while True:
        hold()
        time.sleep(0.002)


def waiter() -> None:
    while True:
        time.sleep(0.005)
        with lock:
            pass


threading.Thread(target=holder, name="holder", daemon=True).start()
threading.Thread(target=waiter, name="waiter", daemon=True).start()
print("ready", flush=True)
while True:
    time.sleep(1)
