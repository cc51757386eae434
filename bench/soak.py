"""Soak: a generator-heavy program recorded for a long time (not in CI).

    python bench/soak.py                  # 10 minutes, the default backend and core
    python bench/soak.py --minutes 2 --backend settrace --core python

The traced program runs a mix that never settles into one shape: a
pipeline of generators (``yield from``, ``send()``), short-lived generators
created and dropped by the thousand, coroutines driven by ``send()``,
generators abandoned suspended (finalized by refcount and by the cycle
collector) and a second thread doing the same, until the time is up.  Every
``--every`` seconds this script samples the traced process's resident set
(``/proc/PID/status`` VmRSS) and the trace file's size, then reports:

* RSS: the first and last minute's median and their difference (flat
  means the recorder keeps no per-event state);
* trace growth: bytes per second over each interval, and how far the
  growth is from a straight line (the R^2 of a least-squares fit);
* events and bytes per event, from the footer.

Nothing is asserted: the numbers are printed for a person to judge.  Only
public tools are used (the running interpreter, ``/proc``).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

PROGRAM = """
    import gc, sys, threading, time

    END = time.monotonic() + float(sys.argv[1])

    def source(n):
        yield from range(n)

    def double(it):
        for x in it:
            yield 2 * x

    def delegate(it):
        return (yield from double(it))

    def averager():
        total, count = 0.0, 0
        while True:
            x = yield (total / count if count else None)
            total, count = total + x, count + 1

    def leak(i):
        try:
            yield i
            yield [i]
        finally:
            pass

    def work(tag):
        rounds = 0
        avg = averager()
        next(avg)
        while time.monotonic() < END:
            for v in delegate(source(200)):
                avg.send(v)
            held = [leak(i) for i in range(50)]
            for g in held[::2]:
                next(g)                      # suspended, then dropped
            cycle = [leak(-1)]
            cycle.append(cycle)
            next(cycle[0])
            del held, cycle
            rounds += 1
            if rounds % 50 == 0:
                gc.collect()
        print(tag, rounds)

    t = threading.Thread(target=work, args=("thread",))
    t.start()
    work("main")
    t.join()
"""


def rss_kib(pid: int) -> int | None:
    """VmRSS of ``pid`` (the traced program: python -m tracer runs it in-process)."""
    try:
        with open("/proc/%d/status" % pid) as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def r_squared(xs: list, ys: list) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return 1.0
    return (sxy * sxy) / (sxx * syy)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--core", default="auto")
    args = ap.parse_args()
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="cotrace-soak-") as tmp:
        script = os.path.join(tmp, "soak.py")
        with open(script, "w") as fh:
            fh.write(textwrap.dedent(PROGRAM))
        out = os.path.join(tmp, "out")
        trace = os.path.join(out, "soak.trace.jsonl.zst")
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        cmd = [sys.executable, "-m", "tracer", "-q", "--no-diagrams", "-o", out, "--backend", args.backend,
               "--core", args.core, script, str(seconds)]
        start = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        samples = []   # (seconds, rss KiB, trace bytes)
        while proc.poll() is None:
            time.sleep(args.every)
            rss = rss_kib(proc.pid)
            size = os.path.getsize(trace) if os.path.exists(trace) else 0
            if rss is not None:
                samples.append((time.monotonic() - start, rss, size))
                print("%7.0f s  RSS %7.1f MiB  trace %9.1f MB" % (samples[-1][0], rss / 1024, size / 1e6), flush=True)
        stdout, stderr = proc.communicate()
        print(stdout.strip())
        if proc.returncode != 0:
            print("the traced program failed (%d):\n%s" % (proc.returncode, stderr), file=sys.stderr)
            return 1
        sys.path.insert(0, ROOT)
        from tracer import traceio
        tail = traceio.read_tail(trace)
        footer = tail[1] if tail else {}
    if len(samples) < 4:
        print("too few samples: run longer (--minutes) or sample more often (--every)")
        return 1
    minute = max(1, int(60 / args.every))
    first = statistics.median(s[1] for s in samples[:minute]) / 1024
    last = statistics.median(s[1] for s in samples[-minute:]) / 1024
    ts, sizes = [s[0] for s in samples], [s[2] for s in samples]
    rates = [(b2 - b1) / (t2 - t1) for (t1, _, b1), (t2, _, b2) in zip(samples, samples[1:]) if t2 > t1]
    print()
    print("RSS, median of the first minute  %.1f MiB" % first)
    print("RSS, median of the last minute   %.1f MiB  (%+.1f MiB)" % (last, last - first))
    print("trace growth                     %.0f kB/s median (min %.0f, max %.0f); R^2 of a straight line %.4f"
          % (statistics.median(rates) / 1e3, min(rates) / 1e3, max(rates) / 1e3, r_squared(ts, sizes)))
    events = footer.get("events")
    if events:
        print("events                           %d (%.1f bytes per event, %.0f events/s)"
              % (events, sizes[-1] / events, events / ts[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
