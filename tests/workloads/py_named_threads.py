"""A many-threaded Python app, as a service is: WORKERS threads named by
threading.Thread(name=...) (worker-00, worker-01, ...), each alternating a
little CPU work with a short sleep, for as long as the process lives.

The kernel names every one of them `python3` (or the interpreter's file
name); only the runtime knows `worker-07`. Prints "ready PID" once every
worker has started.
"""

import os
import sys
import threading
import time

WORKERS = int(sys.argv[1]) if len(sys.argv) > 1 else 16


def crunch(n: int) -> int:
    x = 0
    for i in range(n):
        x += i * i
    return x


def work() -> None:
    while True:
        crunch(20000)
        time.sleep(0.01)


if __name__ == "__main__":
    threads = [threading.Thread(target=work, name=f"worker-{i:02d}", daemon=True)
               for i in range(WORKERS)]
    for t in threads:
        t.start()
    print("ready", os.getpid(), flush=True)
    threads[0].join()
