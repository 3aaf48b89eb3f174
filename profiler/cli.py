"""The `flamecam` command line: one sub-command per job, like perf and py-spy.

Exit codes: 0 done, 1 failed while working, 2 bad usage, 3 this host lacks a
prerequisite (the message says which and how to fix it).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from . import __version__
from .cmdline import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PREREQ,
    EXIT_USAGE,
    CommandError,
    add_secret_args,
    positive_int,
    require_processes,
    run_command,
    secret,
    setup_logging,
)
from .report import SORT_KEYS
from .server.command import add_listen_args, add_server_args

log = logging.getLogger("flamecam")


def _add_sampler_args(p: argparse.ArgumentParser, default_hz: int) -> None:
    g = p.add_argument_group("what to sample")
    g.add_argument("-p", "--pid", dest="pids", action="append", type=positive_int, default=[],
                   metavar="PID", help="profile this process (repeatable; default: every process)")
    g.add_argument("--comm", metavar="REGEX",
                   help="only processes or threads whose name matches REGEX")
    g.add_argument("-F", "--frequency", dest="hz", type=positive_int, default=default_hz,
                   metavar="HZ", help=f"on-CPU samples per second per CPU (default {default_hz})")
    g.add_argument("--trace-hz", type=int, default=99, metavar="HZ",
                   help="on-CPU samples per second of threads serving a traced request "
                        "(a process with a flamecam_otel thread-context table); the rest of "
                        "the host stays at -F, its samples weighted so totals stay unbiased; "
                        "0: no higher rate (default 99)")
    g.add_argument("--no-trace-links", dest="trace_links", action="store_false",
                   help="do not read thread-context tables: no sample is linked to a trace")
    g.add_argument("--no-off-cpu", dest="off_cpu", action="store_false",
                   help="record on-CPU samples only (off-CPU is on by default)")
    g.add_argument("--off-cpu-threshold-us", type=positive_int, default=1000, metavar="N",
                   help="off-CPU intervals of N us or more are kept one by one with their "
                        "timestamps; shorter ones are summed in the kernel (default 1000)")
    g.add_argument("--no-wait-info", dest="wait_info", action="store_false",
                   help="do not record why kept off-CPU intervals waited (system call, target, "
                        "waker and its stacks); compiled out of the kernel programs")
    g.add_argument("--unwind", choices=("auto", "fp", "dwarf"), default="auto",
                   help="how user stacks are walked: 'fp' follows frame pointers (cheapest); "
                        "'dwarf' copies the top of each user stack and unwinds it with the "
                        "binaries' CFI, for code built without frame pointers; 'auto' copies "
                        "the stacks of processes whose binaries lack frame pointers (judged when "
                        "first seen) and walks the others' frame pointers, with a 1 KiB copy "
                        "that restores the callers of libc functions (default auto)")
    g.add_argument("--stack-copy-kib", type=positive_int, default=16, metavar="KIB",
                   help="user stack copied per sample with --unwind dwarf/auto (default 16)")
    g.add_argument("--python-native", action="store_true",
                   help="keep the CPython interpreter's own native frames "
                        "(_PyEval_EvalFrameDefault, ...) between Python frames; "
                        "by default they are folded away")
    g.add_argument("--ringbuf-pages", type=positive_int, default=256, metavar="N",
                   help="ring buffer size in pages per sampler, a power of two (default 256)")


def _label(text: str) -> tuple[str, str]:
    k, sep, v = text.partition("=")
    if not sep or not k:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE")
    return k, v


def _add_agent_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("shipping")
    g.add_argument("--interval", type=float, default=10.0, metavar="SECONDS",
                   help="upload a batch every SECONDS (default 10)")
    g.add_argument("--spool-dir", default="data/agent-spool", metavar="DIR",
                   help="where batches wait while the server is unreachable")
    g.add_argument("--spool-max-mib", type=positive_int, default=256, metavar="MIB",
                   help="spool bound; older batches beyond it are dropped and counted")
    g.add_argument("--metrics-port", type=int, default=4041, metavar="PORT",
                   help="Prometheus /metrics on 127.0.0.1:PORT (0: off; default 4041)")
    g.add_argument("--label", type=_label, action="append", default=[], metavar="NAME=VALUE",
                   help="add a label to every series (repeatable)")
    g.add_argument("--tenant", metavar="ORG", help="send X-Scope-OrgID: ORG")
    g.add_argument("--cpu-budget", type=float, default=2.0, metavar="PERCENT",
                   help="share of one core the agent aims at; past it, 1 in N off-CPU "
                        "intervals above the threshold are kept one by one and the rest "
                        "summed, totals exact (0: keep all; default 2)")
    add_secret_args(g, "--token", "FLAMECAM_TOKEN",
                    "bearer token, or user:password for basic auth")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="flamecam",
        description="Flamecam: continuous on-CPU and off-CPU profiling with eBPF.",
        epilog="Run 'flamecam COMMAND --help' for a command's options. "
               "Exit status: 0 done, 1 failed, 2 bad usage, 3 missing prerequisite.",
    )
    p.add_argument("-V", "--version", action="version", version=f"flamecam {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log detail")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser(
        "record", help="record stacks for a while and write a profile file",
        description="Record on-CPU and off-CPU stacks of every process (or of -p PIDs, "
                    "or of COMMAND and its children from their first instruction) and write "
                    "them to a file. Ctrl-C stops early and still writes the file. With "
                    "COMMAND, flamecam exits with COMMAND's exit status.",
        epilog="examples:\n"
               "  flamecam record -o app.folded -- python3 app.py --port 8080\n"
               "  flamecam record -d 30 -o host.folded\n"
               "  flamecam record -d 10 -o host.html      # open it in a browser\n"
               "  flamecam record -p 1234 -F 999 -o app.pb.gz\n"
               "  flamecam record --comm '^nginx' --no-off-cpu -o nginx.speedscope.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_sampler_args(r, default_hz=99)
    r.add_argument("-d", "--duration", type=float, default=None, metavar="SECONDS",
                   help="stop after SECONDS (default: until Ctrl-C)")
    r.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="where to write the profile")
    r.add_argument("--format", choices=("folded", "pprof", "speedscope", "html", "svg"),
                   help="output format (default: from FILE's ending: .folded, .pb.gz, "
                        ".speedscope.json, or .html and .svg for an interactive flame graph "
                        "that opens in a browser, no network needed; otherwise folded)")
    r.add_argument("cmd_argv", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]",
                   help="start COMMAND and profile it and its children until it exits")

    tp = sub.add_parser(
        "top", help="live view of the hottest functions on and off the CPU",
        description="Sample every process (or -p PIDs) and redraw, every second, the "
                    "functions with the most self time in the last second (%Own, %Total) "
                    "and since the start (OwnTime, TotalTime), with the off-CPU split by "
                    "reason, like `py-spy top` and `perf top`. Press q or Ctrl-C to quit.",
        epilog="examples:\n  flamecam top -p 1234\n  flamecam top --comm '^python'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_sampler_args(tp, default_hz=99)
    tp.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                    help="redraw every SECONDS (default 1)")
    tp.add_argument("-d", "--duration", type=float, default=None, metavar="SECONDS",
                    help="quit after SECONDS (default: at q or Ctrl-C)")

    dp = sub.add_parser(
        "dump", help="print what every thread of a process is doing right now",
        description="Print each thread of a running (or hung) process with its current "
                    "stack, leaf first, kernel, native and Python frames merged, and for a "
                    "thread off the CPU how long it has been off, why (sleep, lock, io, "
                    "net, poll, gil, ...) and on what (a futex and the thread holding that "
                    "mutex, the GIL, a file, a socket), like `py-spy dump` and `jstack`. "
                    "Each thread is stopped (ptrace) only while its registers, stack and "
                    "Python frames are copied, well under a millisecond; the most is "
                    "printed. What could not be read is said, never guessed.",
        epilog="examples:\n"
               "  flamecam dump -p 1234\n"
               "  flamecam dump -p 1234 --json | jq '.threads[] | {name, reason, target}'\n"
               "  flamecam dump -p 1234 --nonblocking   # stop nothing\n\n"
               "exit status: 0 dumped, 2 no such process, 3 no permission "
               "(run as root or with CAP_SYS_PTRACE), 1 failed",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dp.add_argument("-p", "--pid", required=True, type=positive_int, metavar="PID",
                    help="the process to dump")
    dp.add_argument("--json", action="store_true",
                    help="print one JSON document instead of text")
    dp.add_argument("--nonblocking", action="store_true",
                    help="never stop a thread: user stacks only of threads blocked in a "
                         "system call (unwound from the pc and sp /proc gives), none of "
                         "running ones")
    dp.add_argument("--python-native", action="store_true",
                    help="keep the CPython interpreter's own native frames between "
                         "Python frames; by default they are folded away")

    rep = sub.add_parser(
        "report", help="print where the time went in a profile file",
        description="Read a profile file written by Flamecam (folded, pprof or speedscope) "
                    "and print its functions by self and total time, with the on-CPU and "
                    "off-CPU split by reason, like `perf report --stdio`. Self time off the "
                    "CPU goes to the function that blocked (the last frame outside the "
                    "kernel).",
        epilog="examples:\n"
               "  flamecam report app.folded\n"
               "  flamecam report --sort total --limit 50 app.pb.gz | less\n"
               "  flamecam report --threads app.pb.gz",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rep.add_argument("file", metavar="FILE", help="a .folded, .pb.gz or .speedscope.json file")
    rep.add_argument("--sort", choices=SORT_KEYS, default="self",
                     help="order functions by self time (default), total time, on-CPU self, "
                          "off-CPU self, or name")
    rep.add_argument("--limit", type=int, default=20, metavar="N",
                     help="print the first N rows (0: all; default 20)")
    rep.add_argument("--kind", choices=("all", "cpu", "offcpu"), default="all",
                     help="on-CPU samples, off-CPU intervals or both (default)")
    rep.add_argument("--threads", action="store_true",
                     help="one row per thread instead of per function (pprof files only: "
                          "folded and speedscope do not keep threads)")

    run = sub.add_parser(
        "run", help="the whole platform on this host: server + agent (what `make run` starts)",
        description="Start the server (SQLite under ./data by default) and profile this host "
                    "into it continuously until Ctrl-C; open the printed URL.")
    add_listen_args(run)
    _add_sampler_args(run, default_hz=19)
    _add_agent_args(run)
    run.add_argument("--seconds", type=float, default=None, help="stop after SECONDS")

    srv = sub.add_parser(
        "server", help="serve the API, the UI and ingest (Pyroscope-compatible)",
        description="Serve Flamecam's ingest (own agent protocol, Pyroscope push and /ingest), "
                    "query API, Pyroscope render API and web UI.")
    add_server_args(srv)

    ag = sub.add_parser(
        "agent", help="profile this host continuously and ship to a server",
        description="Profile every process on this host (on-CPU at 19 Hz and off-CPU by "
                    "default), label each by service, and ship batches to --server every 10 s. "
                    "Batches are spooled to disk while the server is unreachable.",
        epilog="example:\n  flamecam agent --server http://profiles.internal:4040 "
               "--label env=prod",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ag.add_argument("--server", required=True, metavar="URL", help="the Flamecam server")
    _add_sampler_args(ag, default_hz=19)
    _add_agent_args(ag)

    sub.add_parser("doctor", help="check that this host can run Flamecam",
                   description="Check root, BPF, tracefs, kernel headers and bcc, "
                               "and say how to fix what is missing.")
    return p


def _prerequisites() -> None:
    """Raises CommandError (missing prerequisite) when this host cannot sample."""
    from .doctor import first_problem

    problem = first_problem()
    if problem:
        raise CommandError(problem, EXIT_PREREQ)


def cmd_record(args) -> int:
    from .formats import infer_format
    from .launch import Command
    from .record_command import record

    fmt = args.format or infer_format(args.output) or "folded"
    argv = args.cmd_argv[1:] if args.cmd_argv[:1] == ["--"] else args.cmd_argv
    if argv and args.pids:
        raise CommandError("give -p PID or a COMMAND, not both", EXIT_USAGE)
    require_processes(args.pids)
    _prerequisites()
    opts = _sampler_opts(args)
    command = None
    if argv:
        command = Command(argv)
        opts.pids, opts.follow_children = [command.pid], True
    try:
        record(opts, args.duration, args.output, fmt, command=command)
    except OSError as e:
        raise CommandError(f"cannot write {args.output}: {e.strerror}", EXIT_FAILED) from e
    finally:
        if command is not None and command.status is None:
            command.abandon()
    return command.status if command is not None else EXIT_OK


def cmd_top(args) -> int:
    from .top_command import top

    require_processes(args.pids)
    if args.interval <= 0:
        raise CommandError("--interval must be above 0", EXIT_USAGE)
    _prerequisites()
    return top(_sampler_opts(args), args.interval, args.duration)


def cmd_report(args) -> int:
    from .formats.read import read_samples
    from .report import format_report, summarize

    try:
        fmt, samples = read_samples(args.file)
    except OSError as e:
        raise CommandError(f"cannot read {args.file}: {e.strerror}", EXIT_FAILED) from e
    except ValueError as e:
        raise CommandError(f"{args.file}: {e}", EXIT_FAILED) from e
    if args.threads and fmt != "pprof":
        raise CommandError(f"{args.file} is {fmt}, which keeps no threads; record with "
                           "-o FILE.pb.gz for --threads", EXIT_USAGE)
    kinds = {"all": ("cpu", "offcpu"), "cpu": ("cpu",), "offcpu": ("offcpu",)}[args.kind]
    text = format_report(summarize(samples, kinds), args.sort, args.limit, args.threads)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


def cmd_dump(args) -> int:
    import json

    from .dump_command import dump, format_dump

    d = dump(args.pid, nonblocking=args.nonblocking, python_native=args.python_native)
    text = json.dumps(d.as_json(), indent=1) + "\n" if args.json else format_dump(d)
    sys.stdout.write(text)
    return EXIT_OK


def _sampler_opts(args):
    from .sampler.options import SamplerOptions

    return SamplerOptions(pids=args.pids, comm=args.comm, hz=args.hz, trace_hz=args.trace_hz,
                          trace_links=args.trace_links, off_cpu=args.off_cpu,
                          off_cpu_threshold_us=args.off_cpu_threshold_us,
                          wait_info=args.wait_info,
                          ringbuf_pages=args.ringbuf_pages, unwind=args.unwind,
                          python_native=args.python_native,
                          stack_copy_bytes=args.stack_copy_kib * 1024,
                          cpu_budget=getattr(args, "cpu_budget", 0.0) / 100)


def _agent_opts(args):
    from .agent.run import AgentOptions

    return AgentOptions(interval_s=args.interval, spool_dir=args.spool_dir,
                        spool_max_bytes=args.spool_max_mib << 20,
                        metrics_port=args.metrics_port or None,
                        extra_labels=dict(args.label), tenant=args.tenant,
                        token=secret(args, "--token"))


def cmd_run(args) -> int:
    from .run_command import run_platform

    _prerequisites()
    return run_platform(args.host, args.port, args.db, args.seconds, _sampler_opts(args),
                        _agent_opts(args))


def cmd_server(args) -> int:
    from .server.command import run

    return run(args, args.verbose)


def cmd_agent(args) -> int:
    import signal
    import threading

    from .agent.run import run_agent
    from .recorder import Recorder

    _prerequisites()
    stop = threading.Event()
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, lambda *_: stop.set())
    with Recorder(_sampler_opts(args)) as rec:
        log.warning("profiling this host, shipping to %s every %.0f s", args.server,
                    args.interval)
        result = run_agent(args.server, rec, _agent_opts(args), stop=stop)
    print(f"flamecam: {result.summary()}", file=sys.stderr)
    return EXIT_OK


def cmd_doctor(_args) -> int:
    from .doctor import checks

    results = checks()
    for c in results:
        print(f"{'ok  ' if c.ok else 'FAIL'} {c.name:8} {c.detail}")
    return EXIT_OK if all(c.ok for c in results) else EXIT_PREREQ


COMMANDS = {"record": cmd_record, "top": cmd_top, "dump": cmd_dump, "report": cmd_report,
            "run": cmd_run, "server": cmd_server, "agent": cmd_agent, "doctor": cmd_doctor}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if getattr(args, "comm", None):
        import re

        try:
            re.compile(args.comm)
        except re.error as e:
            parser.error(f"--comm: invalid regular expression: {e}")
    setup_logging(args.verbose)
    return run_command(COMMANDS[args.command], args)  # every command fails in one shape


if __name__ == "__main__":
    sys.exit(main())
