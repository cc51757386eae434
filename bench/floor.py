"""What a pure-Python recorder cannot go below, measured on the ping-pong loop.

``python bench/floor.py`` (also the ``floor`` part of ``bench/run.py``).

The ping-pong workload (bench/workloads/pingpong.py) resumes a generator
with ``send()`` and lets it yield, two recorded events per iteration.  This
measures, in fresh processes, interleaved round after round, the loop's time
per iteration (no start-up: the loop alone, timed inside the child):

untraced
    the loop as it is.
hook
    with a Python callback for every event that does nothing at all
    (``sys.monitoring`` PY_START/PY_RESUME/PY_YIELD/PY_RETURN on 3.12+, a
    ``sys.settrace`` function on 3.11): what the interpreter charges for
    calling Python code per event.
capture
    the callback reads the least a recorder of this kind needs (the
    generator's frame, its line, the resumer's instruction, the value) and
    appends a tuple to a list: no state machine, no sent value, no file.
capture+json
    capture, plus turning each tuple into one JSON line of the trace's
    shape with the cheapest formatting there is (an f-string with a
    constant tail), timed in the same child.
C hook, C capture, C capture+json
    the same three in C (bench/cfloor.c, built here on first use with the
    interpreter's own compiler settings into ``bench/.cfloor-X.Y.Z/``):
    C callables for the same ``sys.monitoring`` events on 3.12+, a C
    trace-function object for ``sys.settrace`` on 3.11 (coverage.py's
    CTracer's shape); capture reads the frame's instruction and line, the
    resumer's instruction and a small-int value into a fixed-size record in
    a C array; +json formats those records with hand-made digits and a
    constant tail.  This is the floor under any recorder whose per-event
    path is C, cotrace's C core included.  Without a compiler these rows
    say so.

cotrace does all of that and more per event (who resumed whom and how,
the sent value, delegation, threads, tasks, writing the file), so
capture+json is a floor under any pure-Python recorder.  bench/run.py sets
it, per event, against the time the generator-dense targets leave cotrace.
"""
from __future__ import annotations

import os
import statistics
import sysconfig
import subprocess
import sys
import time

HEADING = "### The floor: what any hook costs (ping-pong loop)"
OLD_HEADINGS = ("### The pure-Python floor (ping-pong loop)",)
PY_MODES = ("untraced", "hook", "capture", "capture+json")
C_MODES = ("C hook", "C capture", "C capture+json")
MODES = PY_MODES + C_MODES
HERE = os.path.dirname(os.path.abspath(__file__))
N = 500_000


def build_c(quiet: bool = True) -> str | None:
    """The directory holding bench/cfloor.c built for this Python (built the
    first time), or None with the reason printed: no compiler here."""
    out = os.path.join(HERE, ".cfloor-" + sys.version.split()[0])
    target = os.path.join(out, "cfloor" + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
    src = os.path.join(HERE, "cfloor.c")
    if os.path.exists(target) and os.path.getmtime(target) >= os.path.getmtime(src):
        return out
    os.makedirs(out, exist_ok=True)
    cc = (sysconfig.get_config_var("CC") or "cc").split()
    cmd = cc + ["-O2", "-fPIC", "-shared", "-I", sysconfig.get_paths()["include"], src, "-o", target]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as e:
        print("C floor unavailable: %s" % e, file=sys.stderr)
        return None
    if r.returncode != 0:
        print("C floor unavailable: %s failed:\n%s" % (" ".join(cmd), r.stderr[-2000:]), file=sys.stderr)
        return None
    return out


def _child(mode: str, n: int) -> None:
    def consumer():
        total = 0
        while True:
            total += yield total

    if mode.startswith("C "):
        sys.path.insert(0, sys.argv[4])
        import cfloor

        backend = "monitoring" if hasattr(sys, "monitoring") else "settrace"
        c = consumer()
        next(c)
        cfloor.start(backend, "hook" if mode == "C hook" else "capture", consumer.__code__)
        t = time.perf_counter()
        for i in range(n):
            c.send(i)
        loop = time.perf_counter() - t
        events = cfloor.stop()
        if events < 2 * n:
            raise SystemExit("the C hook saw %d events, expected %d" % (events, 2 * n))
        fmt = 0.0
        if mode == "C capture+json":
            t = time.perf_counter()
            cfloor.format()
            fmt = time.perf_counter() - t
        print(repr(loop + fmt))
        return

    buf: list = []
    app = buf.append
    getframe = sys._getframe
    monitoring = getattr(sys, "monitoring", None)
    if mode != "untraced":
        capture = mode != "hook"
        if monitoring is not None:
            ev = monitoring.events
            tool = next(t for t in (4, 3, 2) if monitoring.get_tool(t) is None)
            monitoring.use_tool_id(tool, "floor")
            if capture:
                def entered(code, offset):
                    f = getframe(1)
                    app((0, id(f), f.f_back.f_lasti, f.f_lineno))

                def left(code, offset, value):
                    f = getframe(1)
                    app((1, id(f), f.f_lineno, value))
            else:
                def entered(code, offset):
                    return None

                def left(code, offset, value):
                    return None
            for e in (ev.PY_START, ev.PY_RESUME):
                monitoring.register_callback(tool, e, entered)
            for e in (ev.PY_YIELD, ev.PY_RETURN):
                monitoring.register_callback(tool, e, left)
            monitoring.set_events(tool, ev.PY_START | ev.PY_RESUME | ev.PY_YIELD | ev.PY_RETURN)
        else:
            gen_code = consumer.__code__

            def trace(frame, event, arg):
                if frame.f_code is not gen_code:
                    return None
                frame.f_trace_lines = False
                if capture:
                    app((event, id(frame), frame.f_lineno, arg))
                return trace

            sys.settrace(trace)
    c = consumer()
    next(c)
    t = time.perf_counter()
    for i in range(n):
        c.send(i)
    loop = time.perf_counter() - t
    sys.settrace(None)
    if monitoring is not None and mode != "untraced":
        monitoring.set_events(tool, 0)
    fmt = 0.0
    if mode == "capture+json":
        t = time.perf_counter()
        tail = ',"ev":"yield","obj":1,"by":2,"line":7}'
        out = [f'{{"seq":{i},"t":{i * 1000},"value":{r[-1]!r}{tail}' for i, r in enumerate(buf)]
        "\n".join(out).encode("utf-8")
        fmt = time.perf_counter() - t
    print(repr(loop + fmt))


def bench(runs: int = 5, n: int = N) -> dict:
    """Median seconds per iteration of each mode, interleaved rounds."""
    built = build_c()
    modes = MODES if built else PY_MODES
    times: dict = {m: [] for m in modes}
    for _ in range(runs):
        for mode in modes:
            out = subprocess.run([sys.executable, "-I", __file__, "--child", mode, str(n), built or ""],
                                 check=True, capture_output=True, text=True).stdout
            times[mode].append(float(out) / n)
    return {"runs": runs, "n": n, "per_iter": {m: statistics.median(v) for m, v in times.items()},
            "backend": "monitoring" if hasattr(sys, "monitoring") else "settrace",
            "c": "built with %s" % (sysconfig.get_config_var("CC") or "cc") if built else "no C compiler here"}


def section(result: dict, budgets: dict | None = None, note: str = "") -> list:
    """RESULTS.md lines.  ``budgets``: workload -> {"backend", "allowed",
    "took"}, µs per recorded event that the target leaves cotrace and that
    it took, computed by bench/run.py from the same session's runs."""
    per = result["per_iter"]
    base = per["untraced"]
    hook = "sys.monitoring" if result["backend"] == "monitoring" else "sys.settrace"
    lines = [HEADING, "",
             "- Date: %s; ping-pong loop, N=%d, %d interleaved rounds, medians; the loop alone, timed inside a fresh"
             " process (no start-up); bench/floor.py says what each row does"
             % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), result["n"], result["runs"]),
             "- Hooks: %s, Python %s; C rows: bench/cfloor.c, %s" % (hook, sys.version.split()[0], result.get("c", "not run")),
             "",
             "| mode | µs per iteration (2 events) | µs per event over the untraced loop | ratio to untraced loop |",
             "|---|---|---|---|"]
    for m in MODES:
        if m in per:
            lines.append("| %s | %.3f | %.3f | %.1fx |" % (m, per[m] * 1e6, (per[m] - base) * 1e6 / 2, per[m] / base))
        else:
            lines.append("| %s | not run: %s | | |" % (m, result.get("c", "")))
    if budgets:
        floors = [(m, (per[m] - base) * 1e6 / 2) for m in ("capture+json", "C capture+json") if m in per]
        lines += ["", "Per recorded event, against the generator-dense targets: the budget is what the target leaves"
                  " cotrace per event in the dense section's session at its large size (bound × viztracer's median"
                  " less the untraced run, over the events; for the marginal target, viztracer's marginal cost);"
                  " \"took\" is cotrace's median less the untraced run, over the same events; the floors are the"
                  " capture+json rows above:", "",
                  "| workload | backend | budget µs/event | cotrace took µs/event | %s |"
                  % " | ".join("%s floor µs/event" % (m.replace("capture+json", "").strip() or "Python") for m, _ in floors),
                  "|---|---|---|---|" + "---|" * len(floors)]
        for name, b in budgets.items():
            lines.append("| %s | %s | %.2f | %.2f | %s |" % (name, b["backend"], b["allowed"], b["took"],
                                                             " | ".join("%.2f" % f for _, f in floors)))
    if note:
        lines += ["", note]
    return lines


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--child":
        _child(sys.argv[2], int(sys.argv[3]))
    else:
        print("\n".join(section(bench())))
