"""cotrace's recording overhead and memory, measured against viztracer: ``python bench/run.py``.

Run it once with each interpreter (``python3.11 bench/run.py``,
``python3.12 bench/run.py``, ...); each run prints its results and rewrites
its own Python version's section of bench/RESULTS.md.  Three parts, all run
by default, each alone with ``--only PART`` (repeatable) or left out with
``--skip PART``:

overhead
    Four workloads (bench/workloads/; the sizes are in ``WORKLOADS`` below,
    chosen so that the untraced run takes about 0.5 s or more and start-up
    does not dominate): a send/yield ping-pong, a 5-stage pipeline with
    ``yield from`` and a ``send()`` sink, asyncio with 200 tasks and a queue,
    and a program of mostly ordinary function calls with a few generators.
    Each is run untraced, under cotrace with every backend this Python has
    (``python -m tracer -q --no-diagrams --backend B``: settrace everywhere,
    monitoring on 3.12+), and under viztracer (``viztracer --quiet -o
    FILE.json``), interleaved in the same session, round after round
    (A B C D A B C D ...), ``--runs`` rounds (default 5).  Reported: medians
    (min-max) of wall time, the ratio variant / untraced (medians of this
    same session), that ratio net of start-up (each variant's median on an
    empty script subtracted from both sides, for reading only), peak RSS
    (``os.wait4``), and for cotrace the events (trace footer), trace bytes and
    bytes/event.  Then the target check of the performance issue, row by row
    "met" / "not met" with the numbers: cotrace's ratio / viztracer's ratio
    (generator-dense and asyncio; calls on 3.11) or cotrace's ratio itself
    (calls, monitoring backend).
marginal
    The ping-pong loop at N=1M and N=10M (2M and 20M events), every variant
    interleaved per size (``--marginal-runs``, default 3): each variant's
    cost per extra event, (median at 10M - median at 1M) / events added, so
    that no fixed cost (start-up, viztracer's ~3 s save of its ring buffer)
    hides in it, and the ratios to untraced at 20M events.  About 3 x 170 s
    per cotrace backend on the 2-core machine.
floor
    bench/floor.py: the ping-pong loop with the cheapest possible Python
    hook, with a hook that only captures and appends, and with that plus
    JSON formatting; per event, set against the time the generator-dense
    targets leave cotrace in the overhead part's session, and against what
    cotrace took (a few seconds).
memory
    pingpong with N=8,000,000 (16M events) recorded once per backend (and
    run untraced once, for reference): peak RSS (target < 150 MiB) and
    bytes/event (target <= 100 B).  It costs 16M x the per-event cost per
    backend: 1.6 min on 3.11 (one backend), 5.2 and 3.9 min on 3.12 and
    3.13 (two backends) on the idle 2-core machine when this was written,
    so it is part of the default run; ``--skip memory`` leaves it out, ``--only
    memory`` runs only it (``--memory-runs`` for more than one run).
render
    bench/render.py: every diagram format drawn from a 1M-event trace, time
    and peak RSS (``--render-runs``, default 3).

A whole default run takes roughly 15-25 min per Python on the 2-core
machine (more on 3.12/3.13, which have two backends); the largest parts are
viztracer and settrace on the calls workload and the 16M-event memory runs.

viztracer is not a dependency of the project: the benchmark installs it in a
virtual environment of its own, ``bench/.venv-X.Y.Z`` (one per Python version,
created with this interpreter's ``-m venv`` and ``pip install viztracer`` on
the first run, reused afterwards, git-ignored).  If that fails (no network, no
wheel for this Python) the viztracer rows say "viztracer unavailable" and
everything else is still measured.

Nothing here asserts a threshold: numbers are reported and judged by people.
A variant that fails is reported as failed (with its stderr) and the exit
status is 1.  ``--only WORKLOAD`` or ``--scale F`` runs are printed but not
written to RESULTS.md.  Peak RSS caveat: Linux counts the launching process's
resident set in a child's ``ru_maxrss``, so children are started by a small
launcher process whose size (about 10 MiB, printed in RESULTS.md as the floor)
is a floor under every figure.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
from tracer import traceio  # noqa: E402  (this tree's: the footer of a trace, whatever its codec)
from tracer.record import core as _cores  # noqa: E402  (this tree's cotrace, as the children run it)

DEFAULT_CORE = "C" if _cores.c_available()[0] else "Python"
# name -> (description, size argument, kind for the targets).  Sizes: about
# 1M recorded events for the generator-dense two (cotrace's start-up is then
# a few per cent of its run; the untraced runs are short, ~0.1-0.2 s, so the
# ratios are per-event costs), and a calls run of 1.5-2.5 s untraced (its
# target is 1.10x untraced, and cotrace's own start-up is ~0.15 s more than
# python's, which alone would be +25% of a 0.6 s run).
WORKLOADS = {
    "pingpong": ("send/yield ping-pong", "500000", "generator"),
    "pipeline": ("5-stage pipeline, yield from, send() sink", "150000", "generator"),
    "asyncio_tasks": ("asyncio, 200 tasks and a queue", "200", "asyncio"),
    "calls": ("mostly ordinary calls, a few generators", "10000000", "calls"),
}
EMPTY = "empty"  # bench/workloads/empty.py: start-up of each variant
MEMORY = ("pingpong", "8000000")  # 2 events per iteration: 16M events
MEMORY_TARGET_MIB = 150.0
BYTES_TARGET = 100.0
BACKENDS = ("settrace", "monitoring")
PARTS = ("overhead", "marginal", "floor", "memory", "render")
# marginal: the ping-pong loop at two sizes (2 events per iteration: 2M and
# 20M events); each variant's cost per extra event is the difference of its
# medians over the difference in events, so that a fixed start-up or save
# cost (viztracer spends ~3 s writing its 1M-entry ring buffer) cannot hide
# in it, and the ratios at the big size are the issue's >= 20M-event ones
MARGINAL = ("pingpong", ("1000000", "10000000"))
# Targets of the performance issue.  kind -> backend -> (compared with, bound):
# ("viztracer", b): cotrace's ratio / viztracer's ratio <= b;
# ("untraced", b): cotrace's ratio <= b.  The settrace targets are the 3.11
# column (3.11 has no sys.monitoring); on 3.12+ the targets are monitoring's.
TARGETS = {
    "generator": {"monitoring": ("viztracer", 0.6), "settrace": ("viztracer", 0.8)},
    "asyncio": {"monitoring": ("viztracer", 0.5), "settrace": ("viztracer", 0.7)},
    "calls": {"monitoring": ("untraced", 1.10), "settrace": ("viztracer", 0.6)},
}
OVERHEAD_HEADING = "### Recording overhead"
MEMORY_HEADING = "### Recording memory, 16M events"
MARGINAL_HEADING = "### Cost per event at the margin (ping-pong, 2M and 20M events)"
RENDER_HEADING = "### Rendering a 1M-event trace"  # bench/render.py's
FLOOR_HEADING = "### The pure-Python floor (ping-pong loop)"  # bench/floor.py's
ORDER = (OVERHEAD_HEADING, MARGINAL_HEADING, FLOOR_HEADING, MEMORY_HEADING, RENDER_HEADING)
VIZ_FILE = "viz.json"


# -- running children ------------------------------------------------------

# Children are started by a small launcher process (python -I -S, only os,
# sys and time imported) rather than by this one: Linux counts the resident
# set of whoever spawns a child in the child's ru_maxrss, and this process is
# bigger than an untraced workload.  The launcher's own set (about 10 MiB) is
# the floor under every peak RSS reported; RESULTS.md states it.
_LAUNCHER_CODE = r"""
import os, sys, time
null = os.open(os.devnull, os.O_RDWR)
for line in sys.stdin.buffer:
    err, *argv = line.rstrip(b"\n").split(b"\0")
    fd = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    start = time.perf_counter()
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, fd, 2)])
    except OSError as e:
        os.write(fd, ("cannot start %s: %s" % (argv[0], e)).encode())
        os.close(fd)
        sys.stdout.write("0 0 127\n")
        sys.stdout.flush()
        continue
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - start
    os.close(fd)
    sys.stdout.write("%r %d %d\n" % (elapsed, usage.ru_maxrss, os.waitstatus_to_exitcode(status)))
    sys.stdout.flush()
"""
_launcher = None


def run_child(cmd: list) -> dict:
    """Run one child process (stdin and stdout /dev/null, stderr to a file):
    wall time (s), peak RSS (KiB, ``os.wait4``), exit code, stderr's tail.
    Every child gets PYTHONPATH=<repository root>, so cotrace is this tree's."""
    global _launcher
    if _launcher is None or _launcher.poll() is not None:
        _launcher = subprocess.Popen([sys.executable, "-I", "-S", "-c", _LAUNCHER_CODE], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    fd, err_path = tempfile.mkstemp(prefix="cotrace-bench-", suffix=".stderr")
    os.close(fd)
    try:
        _launcher.stdin.write(b"\0".join(os.fsencode(str(a)) for a in [err_path] + list(cmd)) + b"\n")
        _launcher.stdin.flush()
        reply = _launcher.stdout.readline().split()
        if len(reply) != 3:
            raise SystemExit("the benchmark's launcher process died")
        with open(err_path, "rb") as err:
            err.seek(0, os.SEEK_END)
            err.seek(max(0, err.tell() - 4000))
            tail = err.read().decode(errors="replace")
    finally:
        os.unlink(err_path)
    return {"s": float(reply[0]), "rss": int(reply[1]), "rc": int(reply[2]), "err": tail}


def rss_floor_mib() -> float:
    """The peak RSS reported for a child that does nothing (``true``)."""
    r = run_child(["true"])
    return r["rss"] / 1024


def run_once(cmd: list) -> tuple:
    """Wall time (s) and peak RSS (KiB) of one child that must succeed."""
    r = run_child(cmd)
    if r["rc"] != 0:
        raise SystemExit("benchmark command failed (exit %d): %s\n%s" % (r["rc"], " ".join(cmd), r["err"]))
    return r["s"], r["rss"]


def _footer(path: Path) -> dict:
    """The footer of a trace, read from its end without going through the
    events (a big parent process would inflate the children's peak RSS,
    which Linux carries across fork and exec)."""
    tail = traceio.read_tail(str(path))
    if tail is None:
        raise SystemExit("%s: no footer or aggregates at its end" % path)
    return tail[1]


def _header(path: Path) -> dict:
    stream = traceio.TraceStream(str(path))
    stream.close()
    return stream.trace.header


def _capture(cmd: list, timeout: float = 60) -> str | None:
    """A short command's stdout, stripped, or None if it failed."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


# -- the variants ----------------------------------------------------------

class Variant:
    """One way of running a workload: untraced, cotrace with a backend, viztracer."""

    def __init__(self, key: str, label: str, backend: str | None = None, exe: str | None = None):
        # a cotrace key is a backend ("monitoring": the default core, C where
        # it was built) or "backend:python" (the Python core)
        self.key, self.label, self.exe = key, label, exe
        self.backend = backend.split(":")[0] if backend else None
        self.core = "python" if backend and backend.endswith(":python") else "auto"

    def argv(self, script: str, size: str, out: Path) -> list:
        if self.key == "untraced":
            return [sys.executable, script, size]
        if self.key == "viztracer":
            return [self.exe, "--quiet", "-o", str(out / VIZ_FILE), script, size]
        # --no-diagrams: cotrace SCRIPT also draws after recording; measure recording only
        return [sys.executable, "-m", "tracer", "-q", "--no-diagrams", "--backend", self.backend,
                "--core", self.core, "-o", str(out), script, size]

    def collect(self, out: Path, result: dict) -> None:
        """What the run left in ``out``: a cotrace trace's events, bytes and
        recording backend, or viztracer's file size; then ``out`` is removed
        (traces of millions of events are big)."""
        try:
            if self.backend:
                traces = sorted(out.glob("*.trace.jsonl*"))
                if not traces:
                    result["rc"], result["err"] = -1, "no trace written in %s\n%s" % (out, result["err"])
                    return
                trace = traces[0]
                footer, header = _footer(trace), _header(trace)
                result.update(events=footer.get("events"), dropped=footer.get("dropped") or 0,
                              bytes=trace.stat().st_size, recorded_by=header.get("backend"),
                              core=header.get("core", "python"))
                if header.get("backend") != self.backend:
                    result["rc"] = -1
                    result["err"] = "asked for --backend %s, the header says %r" % (self.backend, header.get("backend"))
            elif self.key == "viztracer":
                f = out / VIZ_FILE
                if not f.exists():
                    result["rc"], result["err"] = -1, "viztracer wrote no %s\n%s" % (f, result["err"])
                    return
                result["bytes"] = f.stat().st_size
        finally:
            shutil.rmtree(out, ignore_errors=True)


def cotrace_backends(tmp: Path) -> tuple:
    """(backends this Python has, {backend: why not}), asked of the CLI
    itself on the empty workload (which also warms up its imports)."""
    have, missing = [], {}
    script = str(HERE / "workloads" / (EMPTY + ".py"))
    for b in BACKENDS:
        out = tmp / ("probe-" + b)
        r = run_child(Variant(b, "cotrace " + b, backend=b).argv(script, "0", out))
        shutil.rmtree(out, ignore_errors=True)
        if r["rc"] == 0:
            have.append(b)
        else:
            lines = [l for l in r["err"].splitlines() if l.strip()]
            missing[b] = (lines[-1] if lines else "exit %d" % r["rc"]).replace("cotrace: error: ", "")
    return have, missing


def viztracer_env(install: bool = True) -> tuple:
    """(path of viztracer, its version) from bench/.venv-X.Y.Z, creating the
    environment and installing viztracer there the first time; or (None,
    why not)."""
    venv = HERE / (".venv-" + platform.python_version())
    py, exe = venv / "bin" / "python", venv / "bin" / "viztracer"
    version_cmd = [str(py), "-c", "import importlib.metadata as m, viztracer; print(m.version('viztracer'))"]
    version = _capture(version_cmd) if py.exists() else None
    if version and exe.exists():
        return str(exe), version
    if not install:
        return None, "not installed in %s (--no-install)" % venv.relative_to(ROOT)
    steps = []
    if not py.exists():
        print("creating %s ..." % venv.relative_to(ROOT), flush=True)
        steps.append([sys.executable, "-m", "venv", str(venv)])
    print("installing viztracer in %s ..." % venv.relative_to(ROOT), flush=True)
    steps.append([str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", "viztracer"])
    for cmd in steps:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
        except (OSError, subprocess.SubprocessError) as e:
            return None, "%s failed: %s" % (" ".join(cmd[1:4]), e)
        if r.returncode != 0:
            lines = [l for l in (r.stderr + r.stdout).splitlines() if l.strip() and "WARNING" not in l]
            print((r.stderr + r.stdout)[-3000:], file=sys.stderr)
            return None, "`%s` failed: %s" % (" ".join(cmd[1:]), lines[-1] if lines else "exit %d" % r.returncode)
    version = _capture(version_cmd)
    if version and exe.exists():
        return str(exe), version
    return None, "viztracer not importable in %s after installing it" % venv.relative_to(ROOT)


# -- measuring -------------------------------------------------------------

def measure(variants: list, name: str, size: str, runs: int, tmp: Path, loads: list) -> dict:
    """variant key -> list of run results, the variants interleaved round
    after round.  A variant that fails is not run again."""
    script = str(HERE / "workloads" / (name + ".py"))
    results: dict = {v.key: [] for v in variants}
    failed: set = set()
    for r in range(runs):
        for v in variants:
            if v.key in failed:
                continue
            out = tmp / ("%s-%s-%d" % (name, v.key, r))
            out.mkdir(parents=True, exist_ok=True)
            loads.append(os.getloadavg()[0])
            res = run_child(v.argv(script, size, out))
            v.collect(out, res)
            results[v.key].append(res)
            if res["rc"] != 0:
                failed.add(v.key)
                print("FAILED %s %s (exit %d): %s\n%s" % (name, v.label, res["rc"], " ".join(v.argv(script, size, out)),
                                                           res["err"]), file=sys.stderr, flush=True)
                continue
            extra = ""
            if res.get("events") is not None:
                extra = "  %9d events  %6.1f MB" % (res["events"], res["bytes"] / 1e6)
            elif res.get("bytes"):
                extra = "  %16s  %6.1f MB" % ("", res["bytes"] / 1e6)
            print("round %d/%d %-13s %-19s %8.3fs %7.1f MiB%s"
                  % (r + 1, runs, name, v.label, res["s"], res["rss"] / 1024, extra), flush=True)
    return results


def summarize(results: dict) -> dict:
    """variant key -> stats (or {"failed": stderr} / {"unavailable": why})."""
    out = {}
    for key, rs in results.items():
        if not rs:
            continue
        bad = [r for r in rs if r["rc"] != 0]
        if bad:
            out[key] = {"failed": bad[0]["err"].strip().splitlines()[-1:] or ["exit %d" % bad[0]["rc"]]}
            continue
        ts = [r["s"] for r in rs]
        s = {"median": statistics.median(ts), "min": min(ts), "max": max(ts),
             "rss_mib": max(r["rss"] for r in rs) / 1024, "runs": len(rs)}
        if rs[0].get("bytes") is not None:
            s["bytes"] = statistics.median(r["bytes"] for r in rs)
        if rs[0].get("events") is not None:
            events = sorted({r["events"] for r in rs})
            s["events"] = events[-1]
            s["events_varied"] = events if len(events) > 1 else None
            s["dropped"] = max(r["dropped"] for r in rs)
            s["bpe"] = s["bytes"] / s["events"] if s["events"] else None
        out[key] = s
    return out


def _variants(backends: list, viz: tuple) -> list:
    vs = [Variant("untraced", "untraced")]
    vs += [Variant(b, "cotrace " + b, backend=b) for b in backends]
    if viz[0]:
        vs.append(Variant("viztracer", "viztracer", exe=viz[0]))
    return vs


def overhead(names: list, backends: list, viz: tuple, runs: int, scale: float, tmp: Path) -> dict:
    variants = _variants(backends, viz)
    loads: list = []
    start, date = time.time(), _now()
    print("warm-up: one unrecorded round on an empty script", flush=True)
    measure(variants, EMPTY, "0", 1, tmp, [])
    print("start-up: every variant on an empty script, %d rounds" % runs, flush=True)
    startup = summarize(measure(variants, EMPTY, "0", runs, tmp, loads))
    rows = {}
    for name in names:
        what, size, kind = WORKLOADS[name]
        size = str(max(1, int(int(size) * scale)))
        print("%s (%s), N=%s, %d rounds" % (name, what, size, runs), flush=True)
        stats = summarize(measure(variants, name, size, runs, tmp, loads))
        rows[name] = {"what": what, "size": size, "kind": kind, "stats": stats}
        _print_workload(name, rows[name], startup)
    return {"rows": rows, "startup": startup, "runs": runs, "backends": backends, "viz": viz, "date": date,
            "load": (min(loads), max(loads)), "minutes": (time.time() - start) / 60}


def marginal(backends: list, viz: tuple, runs: int, scale: float, tmp: Path) -> dict:
    """Every variant on the ping-pong loop at both MARGINAL sizes,
    interleaved per size; see marginal_rows for what is derived."""
    name, sizes = MARGINAL
    variants = _variants(backends, viz)
    loads: list = []
    start, date = time.time(), _now()
    by_size = {}
    for size in sizes:
        size = str(max(1, int(int(size) * scale)))
        print("marginal: %s N=%s, %d round(s)" % (name, size, runs), flush=True)
        by_size[size] = summarize(measure(variants, name, size, runs, tmp, loads))
    return {"name": name, "sizes": list(by_size), "stats": by_size, "runs": runs, "backends": backends, "viz": viz,
            "date": date, "load": (min(loads), max(loads)), "minutes": (time.time() - start) / 60}


def marginal_rows(result: dict) -> list:
    """Per variant: (label, small s, big s, events added, us per added event,
    ratio to untraced at the big size).  A variant without an event count
    (untraced, viztracer) is charged the events cotrace recorded for the same
    N: two per iteration, the workload's own count."""
    small, big = result["sizes"]
    st_small, st_big = result["stats"][small], result["stats"][big]
    events = {}
    for key in result["backends"]:
        if "events" in st_small.get(key, {}) and "events" in st_big.get(key, {}):
            events = {"small": st_small[key]["events"], "big": st_big[key]["events"]}
            break
    if not events:
        events = {"small": 2 * int(small), "big": 2 * int(big)}
    rows = []
    keys = ["untraced"] + result["backends"] + (["viztracer"] if result["viz"][0] else [])
    base = st_big.get("untraced", {}).get("median")
    for key in keys:
        a, b = st_small.get(key, {}), st_big.get(key, {})
        if "median" not in a or "median" not in b:
            rows.append((_label(key), None, None, None, None, None))
            continue
        ev_small, ev_big = a.get("events", events["small"]), b.get("events", events["big"])
        added = ev_big - ev_small
        per = (b["median"] - a["median"]) / added * 1e6 if added > 0 else None
        rows.append((_label(key), a["median"], b["median"], added, per, b["median"] / base if base else None))
    return rows


def marginal_section(result: dict, env: dict) -> list:
    small, big = result["sizes"]
    lines = [
        MARGINAL_HEADING,
        "",
        "- Date: %s; %s N=%s and N=%s, %d interleaved round(s) per size; section took %.1f min"
        % (result["date"], result["name"], small, big, result["runs"], result["minutes"]),
        "- cotrace %s; viztracer %s" % (env["git"], result["viz"][1] if result["viz"][0] else "unavailable"),
        "- Machine load (1-minute load average before each run): %.1f to %.1f" % result["load"],
        "- µs/event: (median at N=%s − median at N=%s) / (events added); fixed start-up and save costs cancel out;"
        " the marginal cost of the untraced loop itself is the first row" % (big, small),
        "",
        "| variant | s at N=%s | s at N=%s | events added | µs/event at the margin | net of untraced |"
        " ratio at N=%s |" % (small, big, big),
        "|---|---|---|---|---|---|---|",
    ]
    rows = marginal_rows(result)
    base = rows[0][4] if rows and rows[0][4] is not None else 0.0
    for label, a, b, added, per, ratio in rows:
        if a is None:
            lines.append("| %s | failed or unavailable | | | | | |" % label)
            continue
        lines.append("| %s | %.2f | %.2f | %d | %.3f | %.3f | %s |" % (
            label, a, b, added, per or 0.0, (per or 0.0) - base, _x(ratio)))
    return lines


def memory(backends: list, runs: int, scale: float, tmp: Path) -> dict:
    name, size = MEMORY
    size = str(max(1, int(int(size) * scale)))
    variants = _variants(backends, (None, None))
    loads: list = []
    start, date = time.time(), _now()
    print("memory: %s N=%s, %d round(s)" % (name, size, runs), flush=True)
    stats = summarize(measure(variants, name, size, runs, tmp, loads))
    return {"name": name, "size": size, "stats": stats, "runs": runs, "backends": backends, "date": date,
            "load": (min(loads), max(loads)), "minutes": (time.time() - start) / 60}


def _budgets(result: dict | None) -> dict:
    """Per generator-dense workload of ``result``'s session, in µs per
    recorded event: what the target leaves the best cotrace backend (the
    target's bound times viztracer's median, less the untraced run and
    cotrace's extra start-up, over the events) and what that backend took
    (its median less the same).  Workloads without viztracer are left out."""
    out: dict = {}
    if not result:
        return out
    backend = "monitoring" if "monitoring" in result["backends"] else "settrace"
    startup = result["startup"]
    for name, row in result["rows"].items():
        if row["kind"] != "generator":
            continue
        stats = row["stats"]
        try:
            viz, untraced = stats["viztracer"]["median"], stats["untraced"]["median"]
            mine, events = stats[backend]["median"], stats[backend]["events"]
            extra = startup[backend]["median"] - startup["untraced"]["median"]
        except (KeyError, TypeError):
            continue
        if not events:
            continue
        bound = TARGETS["generator"][backend][1]
        out[name] = {"backend": backend, "allowed": (bound * viz - untraced - extra) / events * 1e6,
                     "took": (mine - untraced - extra) / events * 1e6}
    return out


# -- reporting -------------------------------------------------------------

def _ratio(stats: dict, key: str) -> float | None:
    s, u = stats.get(key, {}), stats.get("untraced", {})
    if "median" not in s or "median" not in u:
        return None
    return s["median"] / u["median"]


def _net_ratio(stats: dict, key: str, startup: dict) -> float | None:
    s, u = stats.get(key, {}), stats.get("untraced", {})
    s0, u0 = startup.get(key, {}), startup.get("untraced", {})
    if not all("median" in d for d in (s, u, s0, u0)) or u["median"] - u0["median"] <= 0:
        return None
    return (s["median"] - s0["median"]) / (u["median"] - u0["median"])


def _size(n: float) -> str:
    if n < 10_000:
        return "%d B" % n
    if n < 10_000_000:
        return "%.0f KB" % (n / 1e3)
    return "%.1f MB" % (n / 1e6)


def _x(r: float | None) -> str:
    return "—" if r is None else "%.2fx" % r


def _label(key: str) -> str:
    if key in ("untraced", "viztracer"):
        return key
    backend, _, core = key.partition(":")
    return "cotrace %s, %s core" % (backend, "Python" if core == "python" else DEFAULT_CORE)


def _missing(s: dict, key: str) -> str:
    if "failed" in s:
        return "failed: %s" % " ".join(s["failed"])[:160].replace("|", "\\|")
    return "viztracer unavailable" if key == "viztracer" else "not run"


def target_rows(result: dict) -> list:
    """One dict per (workload, cotrace backend): target, numbers, verdict."""
    rows = []
    viz_ok = bool(result["viz"][0])
    for name, row in result["rows"].items():
        stats = row["stats"]
        viz = _ratio(stats, "viztracer")
        for b in result["backends"]:
            ours = _ratio(stats, b)
            t = TARGETS[row["kind"]][b.split(":")[0]]
            # the targets are the default core's; the Python core's numbers are shown beside them
            applies = (b == "monitoring" or sys.version_info < (3, 12) and b == "settrace")
            what, bound = t
            target = ("≤ %.1f × viztracer's ratio" % bound) if what == "viztracer" else ("≤ %.2fx untraced" % bound)
            rel = ours / viz if ours is not None and viz is not None else None
            if ours is None:
                verdict = "cotrace " + _missing(stats.get(b, {}), b)
            elif what == "viztracer" and viz is None:
                verdict = "viztracer unavailable" if not viz_ok else "viztracer " + _missing(stats.get("viztracer", {}), "viztracer")
            else:
                value = rel if what == "viztracer" else ours
                ok = value <= bound
                digits = 2 if round(value, 2) != round(bound, 2) else 3  # 1.104 vs 1.10: say 1.104
                shown = "%.*f%s" % (digits, value, "" if what == "viztracer" else "x")
                shown_bound = ("%.1f" % bound) if what == "viztracer" else ("%.2fx" % bound)
                verdict = "%s (%s %s %s)" % ("met" if ok else "**not met**", shown, "≤" if ok else ">", shown_bound)
            if not applies:
                target = "none: on 3.12+ the targets are monitoring's (3.11 settrace: %s)" % target
                verdict = "—"
            rows.append({"workload": name, "backend": b, "target": target, "ours": ours, "viz": viz,
                         "rel": rel, "verdict": verdict})
    return rows


def _print_workload(name: str, row: dict, startup: dict) -> None:
    stats = row["stats"]
    for key, s in stats.items():
        if "median" not in s:
            print("  %-19s %s" % (_label(key), _missing(s, key)), flush=True)
            continue
        extra = ""
        if s.get("events") is not None:
            extra = "  %d events  %s  %s B/event" % (s["events"], _size(s["bytes"]),
                                                    "%.0f" % s["bpe"] if s["bpe"] else "—")
        print("  %-19s median %8.3fs (%.3f-%.3f)  ratio %8s  net %8s  %6.1f MiB%s"
              % (_label(key), s["median"], s["min"], s["max"], _x(_ratio(stats, key)),
                 _x(_net_ratio(stats, key, startup)), s["rss_mib"], extra), flush=True)


def _git() -> str:
    head = _capture(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    if not head:
        return "unknown"
    dirty = _capture(["git", "-C", str(ROOT), "status", "--porcelain", "--", "tracer"])
    return head + (" + uncommitted changes in tracer/" if dirty else "")


def tracer_fingerprint() -> str:
    """A hash of tracer/'s sources, to notice edits made while the benchmark runs."""
    h = hashlib.sha1()
    for p in sorted((ROOT / "tracer").rglob("*.py")):
        h.update(str(p.relative_to(ROOT)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _encoders() -> str:
    """The fast JSON encoders importable by this Python (cotrace may use them)."""
    code = ("import importlib.metadata as m\n"
            "for n in ('orjson', 'msgspec'):\n"
            "    try: print(n, m.version(n))\n"
            "    except Exception: pass\n")
    out = _capture([sys.executable, "-c", code])
    return ", ".join(out.splitlines()) if out else "none"


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def _sizes_line() -> str:
    return "; ".join("%s N=%s" % (n, s) for n, (_, s, _) in WORKLOADS.items())


def overhead_section(result: dict, env: dict) -> list:
    backends = result["backends"]
    viz_exe, viz_info = result["viz"]
    order = ["untraced"] + backends + ["viztracer"]
    lines = [
        OVERHEAD_HEADING,
        "",
        "- Date: %s; %d interleaved rounds (%s in turn), medians (min-max); section took %.0f min"
        % (result["date"], result["runs"], ", ".join(_label(k) for k in order if k != "viztracer" or viz_exe),
           result["minutes"]),
        "- cotrace %s; `python -m tracer -q --no-diagrams --backend B -o DIR SCRIPT N`; backends on this Python: %s%s"
        % (env["git"], ", ".join(backends), "".join("; %s unavailable (%s)" % (b, why)
                                                     for b, why in env["missing"].items())),
        "- Fast JSON encoders importable here: %s" % env["encoders"],
        ("- viztracer %s from `bench/.venv-%s`: `viztracer --quiet -o FILE.json SCRIPT N`; it keeps the newest"
         " 1,000,000 entries in a ring buffer (its default `--tracer_entries`) and writes only those, while"
         " cotrace writes every event" % (viz_info, platform.python_version())) if viz_exe
        else "- viztracer unavailable: %s" % viz_info,
        "- Sizes: %s; start-up (an empty script, medians): %s"
        % (", ".join("%s N=%s" % (n, r["size"]) for n, r in result["rows"].items()),
           ", ".join("%s %.3f s" % (_label(k), result["startup"][k]["median"])
                     for k in order if "median" in result["startup"].get(k, {}))),
        "- Machine load (1-minute load average before each run): %.1f to %.1f" % result["load"],
        "- ratio = median / untraced median, same session; net = the same with each variant's start-up median"
        " subtracted from both (for reading only; the targets use ratio)",
        "",
        "| workload | variant | median s | min-max s | ratio | net | peak RSS MiB | events | trace bytes | B/event |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for name, row in result["rows"].items():
        stats = row["stats"]
        first = True
        for key in order:
            s = stats.get(key)
            if s is None and key == "viztracer" and viz_exe:
                continue
            cell = ("%s (N=%s)" % (name, row["size"])) if first else ""
            first = False
            if s is None or "median" not in s:
                lines.append("| %s | %s | %s | | | | | | | |" % (cell, _label(key), _missing(s or {}, key)))
                continue
            events = "%d" % s["events"] if s.get("events") is not None else ""
            bpe = "%.0f" % s["bpe"] if s.get("bpe") else ""
            lines.append("| %s | %s | %.3f | %.3f-%.3f | %s | %s | %.1f | %s | %s | %s |" % (
                cell, _label(key), s["median"], s["min"], s["max"], _x(_ratio(stats, key)),
                _x(_net_ratio(stats, key, result["startup"])), s["rss_mib"], events,
                _size(s["bytes"]) if s.get("bytes") is not None else "", bpe))
            if s.get("events_varied"):
                notes.append("%s, %s: the event count varied between runs: %s" % (name, _label(key), s["events_varied"]))
            if s.get("dropped"):
                notes.append("%s, %s: %d events dropped" % (name, _label(key), s["dropped"]))
        counts = {b: stats[b]["events"] for b in backends if stats.get(b, {}).get("events") is not None}
        if len(set(counts.values())) > 1:
            notes.append("%s: the backends recorded different numbers of events: %s"
                         % (name, ", ".join("%s %d" % kv for kv in counts.items())))
    lines += [""] + ["- Note: " + n for n in notes] + ([""] if notes else [])
    lines += [
        "#### Targets (performance issue; same-session medians)",
        "",
        "| workload | backend | target | cotrace ratio | viztracer ratio | cotrace / viztracer | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in target_rows(result):
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            t["workload"], t["backend"], t["target"], _x(t["ours"]), _x(t["viz"]),
            "—" if t["rel"] is None else "%.2f" % t["rel"], t["verdict"]))
    return lines


def memory_section(result: dict, env: dict) -> list:
    lines = [
        MEMORY_HEADING,
        "",
        "- Date: %s; %s N=%s, %d run(s) per variant; section took %.1f min"
        % (result["date"], result["name"], result["size"], result["runs"], result["minutes"]),
        "- cotrace %s; `python -m tracer -q --no-diagrams --backend B -o DIR bench/workloads/%s.py %s`"
        % (env["git"], result["name"], result["size"]),
        "- Machine load (1-minute load average before each run): %.1f to %.1f" % result["load"],
        "- Targets (performance issue): peak RSS < %.0f MiB for 16M events; ≤ %.0f B/event on ping-pong"
        % (MEMORY_TARGET_MIB, BYTES_TARGET),
        "",
        "| variant | s | peak RSS MiB | events | trace bytes | B/event | RSS < %.0f MiB | ≤ %.0f B/event |"
        % (MEMORY_TARGET_MIB, BYTES_TARGET),
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in ["untraced"] + result["backends"]:
        s = result["stats"].get(key, {})
        if "median" not in s:
            lines.append("| %s | %s | | | | | | |" % (_label(key), _missing(s, key)))
            continue
        if key == "untraced":
            lines.append("| untraced | %.1f | %.1f | | | | | |" % (s["median"], s["rss_mib"]))
            continue
        rss_ok = s["rss_mib"] < MEMORY_TARGET_MIB
        bpe_ok = s["bpe"] is not None and s["bpe"] <= BYTES_TARGET
        lines.append("| %s | %.1f | %.1f | %d | %s | %.0f | %s | %s |" % (
            _label(key), s["median"], s["rss_mib"], s["events"], _size(s["bytes"]), s["bpe"] or 0,
            "met (%.1f)" % s["rss_mib"] if rss_ok else "**not met** (%.1f)" % s["rss_mib"],
            "met (%.0f)" % s["bpe"] if bpe_ok else "**not met** (%.0f)" % (s["bpe"] or 0)))
    return lines


def write_results(parts: dict) -> None:
    """Replace, in this Python version's section of bench/RESULTS.md, the
    subsections given (heading -> lines, heading first); the others are kept
    as they were.  The lines before a version's first subsection are written
    anew."""
    import fcntl

    # runs with several Pythons at once each rewrite the file: one at a time
    with open(HERE / ".results.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _write_results(parts)


def _write_results(parts: dict) -> None:
    version = platform.python_version()
    path = HERE / "RESULTS.md"
    sections: dict = {}
    preamble: list = []  # the lines before the first version section (notes people added are kept)
    if path.exists():
        current = sub = None
        for line in path.read_text().splitlines():
            if current is None and not line.startswith("## Python "):
                preamble.append(line)
            if line.startswith("## Python "):
                current = line[len("## Python "):].strip()
                sections[current] = {}
                sub = None
            elif current is not None and line.startswith("### "):
                sub = line.strip()
                sections[current][sub] = [line]
            elif current is not None:
                sections[current].setdefault(sub or "__preamble__", []).append(line)
    mine = sections.setdefault(version, {})
    mine.update(parts)
    standard = (
        "Written by `python bench/run.py`, run once with each interpreter (each run rewrites its own Python's"
        " section); what it measures is described in the docstring of bench/run.py.  Ratios are variant /"
        " untraced, both measured in the same session with interleaved runs, so that machine load affects both"
        " alike.  Peak RSS is the child process's own maximum resident set (`os.wait4`).  Workload sizes: %s"
        " (pingpong and pipeline are generator-dense, asyncio_tasks has 200 tasks, calls is mostly ordinary"
        " function calls); the 16M-event memory check is pingpong N=%s.  `--only memory` / `--skip memory`,"
        " `--only render`, `--only overhead` run or leave out one part." % (_sizes_line(), MEMORY[1]))
    # keep the file's preamble (title, notes) and rewrite only the standard paragraph in it
    head = [standard if line.startswith("Written by `python bench/run.py`") else line for line in preamble]
    if standard not in head:
        head = ["# cotrace benchmark results", "", standard, ""] + [
            line for line in head if line != "# cotrace benchmark results"]
    while head and head[-1] == "":
        head.pop()
    head.append("")
    body = []
    for v in sorted(sections, key=lambda x: tuple(int(p) for p in x.split(".") if p.isdigit())):
        subs = sections[v]
        body += ["## Python %s" % v, ""]
        if v == version:
            body += [
                "- Machine: %s, %d CPUs, %s" % (platform.machine(), os.cpu_count() or 0, platform.platform()),
                "- Interpreter: %s (Python %s)" % (sys.executable, version),
                "- Peak RSS floor: %.1f MiB is reported for a child that does nothing (`true`), Linux counting"
                " the launching process's resident set in the child's (see bench/run.py)" % rss_floor_mib(),
                "",
            ]
        else:
            preamble = list(subs.get("__preamble__", []))
            while preamble and preamble[0] == "":
                preamble.pop(0)
            while preamble and preamble[-1] == "":
                preamble.pop()
            body += preamble + ([""] if preamble else [])
        for heading in list(ORDER) + [h for h in subs if h not in ORDER and not h.startswith("__")]:
            if heading in subs:
                lines = list(subs[heading])
                while lines and lines[-1] == "":
                    lines.pop()
                body += lines + [""]
    path.write_text("\n".join(head + body).rstrip("\n") + "\n")


# -- main ------------------------------------------------------------------

def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="parts: %s (see the module docstring)" % ", ".join(PARTS))
    parser.add_argument("-n", "--runs", type=int, default=5, help="interleaved rounds per overhead workload (default 5)")
    parser.add_argument("--memory-runs", type=int, default=1, help="runs per variant of the memory check (default 1)")
    parser.add_argument("--marginal-runs", type=int, default=3,
                        help="interleaved rounds per size of the marginal part (default 3)")
    parser.add_argument("--render-runs", type=int, default=3, help="runs per render case (default 3)")
    parser.add_argument("--only", action="append", choices=list(PARTS) + list(WORKLOADS),
                        help="run only this part or overhead workload (repeatable)")
    parser.add_argument("--skip", action="append", choices=list(PARTS), help="leave this part out (repeatable)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply the workload sizes (a quick try of the command; not written to RESULTS.md)")
    parser.add_argument("--no-install", action="store_true",
                        help="do not create bench/.venv-X.Y.Z or install viztracer (use it if it is there)")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite bench/RESULTS.md")
    parser.add_argument("--python-core", action="store_true",
                        help="also measure the Python core (the reference) beside the default one (C where built)")
    args = parser.parse_args(argv)
    only = set(args.only or PARTS) - set(args.skip or ())
    names = [n for n in WORKLOADS if n in only or "overhead" in only]
    write = not args.no_write and args.scale == 1.0
    env = {"git": _git(), "encoders": _encoders()}
    fingerprint = tracer_fingerprint()
    parts: dict = {}
    failed = False
    overhead_result = None
    print("Python %s (%s); cotrace %s" % (platform.python_version(), sys.executable, env["git"]), flush=True)
    # byte-compile cotrace as pip does when it installs a package: an
    # editable install under PYTHONDONTWRITEBYTECODE=1 would otherwise
    # compile every module in every run and charge that to its start-up
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "tracer")], check=False)
    with tempfile.TemporaryDirectory(prefix="cotrace-bench-") as t:
        tmp = Path(t)
        backends, env["missing"] = cotrace_backends(tmp)
        if args.python_core and DEFAULT_CORE == "C":
            backends = backends + [b + ":python" for b in backends]
        print("cotrace backends: %s%s" % (", ".join(backends) or "none",
                                          "".join("; %s unavailable: %s" % kv for kv in env["missing"].items())),
              flush=True)
        if names:
            viz = viztracer_env(install=not args.no_install)
            print("viztracer: %s" % (("%s (%s)" % (viz[1], viz[0])) if viz[0] else "unavailable: " + viz[1]),
                  flush=True)
            result = overhead_result = overhead(names, backends, viz, args.runs, args.scale, tmp)
            failed |= any("failed" in s for r in result["rows"].values() for s in r["stats"].values())
            lines = overhead_section(result, env)
            print("\n".join(lines[2:]) + "\n", flush=True)
            if set(names) == set(WORKLOADS):
                parts[OVERHEAD_HEADING] = lines
        if "marginal" in only:
            viz = viztracer_env(install=not args.no_install)
            result = marginal(backends, viz, args.marginal_runs, args.scale, tmp)
            failed |= any("failed" in s for st in result["stats"].values() for s in st.values())
            lines = marginal_section(result, env)
            print("\n".join(lines[2:]) + "\n", flush=True)
            parts[MARGINAL_HEADING] = lines
        if "floor" in only:
            sys.path.insert(0, str(HERE))
            import floor

            print("floor: bench/floor.py, %d rounds" % args.runs, flush=True)
            fl = floor.bench(args.runs)
            parts[floor.HEADING] = floor.section(fl, budgets=_budgets(overhead_result))
            print("\n".join(parts[floor.HEADING][2:]) + "\n", flush=True)
        if "memory" in only:
            result = memory(backends, args.memory_runs, args.scale, tmp)
            failed |= any("failed" in s for s in result["stats"].values())
            lines = memory_section(result, env)
            print("\n".join(lines[2:]) + "\n", flush=True)
            parts[MEMORY_HEADING] = lines
    if "render" in only:
        sys.path.insert(0, str(HERE))
        import render

        parts[render.HEADING] = render.section(render.bench(args.render_runs))
        print("\n".join(parts[render.HEADING][2:]) + "\n", flush=True)
    if tracer_fingerprint() != fingerprint:
        print("WARNING: tracer/ changed while the benchmark ran: the numbers may mix two versions of cotrace",
              file=sys.stderr)
        for heading in (OVERHEAD_HEADING, MARGINAL_HEADING, MEMORY_HEADING):
            if heading in parts:
                parts[heading].insert(2, "- **tracer/ changed while this ran**: the numbers may mix two versions")
    if write and parts:
        write_results(parts)
        print("wrote %s (Python %s: %s)" % (HERE / "RESULTS.md", platform.python_version(),
                                           ", ".join(h[4:] for h in parts)), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
