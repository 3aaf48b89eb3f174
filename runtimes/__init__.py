"""Language runtimes: one package each, with its BPF side and its user side.

`python/` walks CPython frames in the kernel (python.h) and names them from
/proc/PID/mem; `jvm/` keeps HotSpot's perf maps current over the attach
protocol and names Java frames and threads (its Java agent in `jvm/agent/`).
"""
