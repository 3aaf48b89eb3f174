"""A Python process whose named threads each stay in one known state, for `flamecam dump`.

    napper   nap() sleeps in time.sleep
    holder   hold() takes `lock` and sleeps holding it
    waiter   wait_for_lock() blocks on `lock` for good
    burner   burn() spins on the CPU (holding the GIL while it runs)
    main     joins the napper

Prints "ready" once the holder holds the lock and the waiter is asleep on it
(seen in /proc), so a dump finds every thread in its state whatever the load.
"""

import os
import threading
import time

lock = threading.Lock()
held = threading.Event()
waiter_tid = 0


def nap():
    while True:
        time.sleep(3600)


def hold():
    with lock:
        held.set()
        while True:
            time.sleep(3600)


def wait_for_lock():
    global waiter_tid
    waiter_tid = threading.get_native_id()
    with lock:
        pass


def burn():
    x = 0
    while True:
        x += 1


def state(tid):
    with open(f"/proc/self/task/{tid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


if __name__ == "__main__":
    holder = threading.Thread(target=hold, name="holder", daemon=True)
    holder.start()
    held.wait()
    napper = threading.Thread(target=nap, name="napper", daemon=True)
    napper.start()
    threading.Thread(target=burn, name="burner", daemon=True).start()
    threading.Thread(target=wait_for_lock, name="waiter", daemon=True).start()
    while not waiter_tid or state(waiter_tid) != "S":
        time.sleep(0.001)
    print("ready", os.getpid(), flush=True)
    napper.join()
