"""cotrace's recording cost, measured against viztracer: ``python bench/run.py``.

Run it once with each interpreter (``python3.11 bench/run.py``,
``python3.12 bench/run.py``, ...); each run prints its results and rewrites
its own Python version's section of bench/RESULTS.md, with each target of
the issue "Real programs at full size" checked ("met" / "not met", with the
numbers).  Five parts, all run by default, each alone with ``--only PART``
(repeatable) or left out with ``--skip PART``:

dense
    The generator-dense workloads (bench/workloads/: a send/yield ping-pong,
    a 5-stage pipeline with ``yield from`` and a ``send()`` sink), each at 2M
    and 20M recorded events (``DENSE``), run untraced, under cotrace with
    every backend this Python has (``python -m tracer -q --no-diagrams
    --backend B``: settrace everywhere, monitoring on 3.12+) and under
    viztracer (``viztracer --quiet -o FILE.json``), interleaved round after
    round (``--dense-runs``, default 2).  Reported per variant: medians at
    both sizes, the cost per added event ((median at 20M - median at 2M) /
    events added, so that no fixed cost such as viztracer's ~3 s save of its
    ring buffer hides in it), the ratio to untraced at 20M events (the
    targets' size), and from the 20M-event runs the peak RSS (``os.wait4``;
    the target is at 16M events) and bytes per event on disk.  About 25
    minutes per round on 3.12/3.13 (two backends) on the 2-core machine.
overhead
    asyncio with 200 tasks and a queue, a program of mostly ordinary calls,
    the ping-pong loop's 1M iterations with ``--max-events 10`` (recording
    switches itself off at the limit), and an empty script (start-up), in
    interleaved rounds (``--runs``, default 3); medians (min-max), ratios,
    ratios net of start-up (for reading only), peak RSS, events, bytes.
suite
    more-itertools' own test suite (its sdist, downloaded once into
    bench/.cache/; pytest from this environment, the same pytest version in
    viztracer's), untraced, under cotrace's default backend, and under
    viztracer, ``--suite-runs`` rounds (default 1).  With every event written
    this is the longest part: about 20 minutes per cotrace run.
floor
    bench/floor.py: the ping-pong loop with the cheapest possible hook, in
    Python and in C (bench/cfloor.c, built on first use), with a hook that
    only captures and appends, and with that plus JSON formatting; per event,
    set against the time the generator-dense targets leave cotrace in the
    dense part's session, and against what cotrace took.
render
    bench/render.py: the default diagrams and every format drawn from traces
    of 1M and 100M events (``--render-runs``, default 2); recording the
    100M-event trace takes about 8 minutes.

viztracer is not a dependency of the project: the benchmark installs it in a
virtual environment of its own, ``bench/.venv-X.Y.Z`` (one per Python version,
created with this interpreter's ``-m venv`` and ``pip install viztracer
pytest==<this pytest>`` on the first run, reused afterwards, git-ignored).
If that fails (no network, no wheel for this Python) the viztracer rows say
"viztracer unavailable" and everything else is still measured.

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
# The targets of the issue "Real programs at full size" (cotrace's ratio /
# viztracer's ratio, or cotrace's ratio to untraced).  kind -> backend ->
# (compared with, bound); the settrace bounds are the 3.11 column (3.11 has
# no sys.monitoring), on 3.12+ the targets are monitoring's.
TARGETS = {
    "generator": {"monitoring": ("viztracer", 1.0), "settrace": ("viztracer", 1.2)},
    "suite": {"monitoring": ("viztracer", 1.5), "settrace": ("viztracer", 2.0)},
    "asyncio": {"monitoring": ("viztracer", 0.5), "settrace": ("viztracer", 0.7)},
    "calls": {"monitoring": ("untraced", 1.05), "settrace": ("viztracer", 0.5)},
    "limit": {"monitoring": ("untraced", 1.3), "settrace": ("untraced", 1.3)},
}
MARGINAL_BOUND = 1.0            # monitoring: cotrace's marginal cost per event <= viztracer's
STARTUP_TARGET_S = 0.060        # an empty script: <= python's start-up + 60 ms
MEMORY_TARGET_MIB = 150.0       # peak RSS recording >= 16M events
BYTES_TARGET = 25.0             # bytes per event on disk, generator-dense
MEMORY_MIN_EVENTS = 16_000_000
# overhead: name -> (description, script, size argument, kind, extra cotrace
# arguments, run viztracer).  Sizes: the untraced runs take 0.3-1.5 s so
# that start-up does not dominate; "limit" is the ping-pong loop's 1M
# iterations recorded with --max-events 10 (after the limit, recording
# switches itself off).
WORKLOADS = {
    "asyncio_tasks": ("asyncio, 200 tasks and a queue", "asyncio_tasks", "200", "asyncio", (), True),
    "calls": ("mostly ordinary calls, a few generators", "calls", "10000000", "calls", (), True),
    "limit": ("ping-pong, 1M iterations, --max-events 10", "pingpong", "1000000", "limit",
              ("--max-events", "10"), False),
}
# dense: the generator-dense workloads at two sizes each, 2M and 20M events
# (ping-pong records 2 events per iteration, the pipeline 7 per item): the
# ratios at 20M events are the targets' (viztracer's fixed ~3 s save of its
# 1M-entry ring buffer is then under 10% of its run), and the difference of
# the two sizes over the events added is each variant's marginal cost per
# event, which no fixed cost can hide in.  The 20M-event runs also give the
# peak RSS (target: at 16M events) and bytes per event.
DENSE = {
    "pingpong": ("send/yield ping-pong", ("1000000", "10000000")),
    "pipeline": ("5-stage pipeline, yield from, send() sink", ("286000", "2860000")),
}
# suite: more-itertools' own test suite, from its sdist (downloaded once into
# bench/.cache/), run by pytest from this Python's environment (viztracer's
# virtual environment gets the same pytest version)
SUITE = ("more-itertools", "11.2.1")
EMPTY = "empty"  # bench/workloads/empty.py: start-up of each variant
BACKENDS = ("settrace", "monitoring")
PARTS = ("dense", "overhead", "suite", "floor", "render")
DENSE_HEADING = "### Generator-dense workloads at 2M and 20M events"
OVERHEAD_HEADING = "### Recording overhead"
SUITE_HEADING = "### more-itertools' test suite"
RENDER_HEADING = "### Drawing a 100M-event trace"  # bench/render.py's
FLOOR_HEADING = "### The floor: what any hook costs (ping-pong loop)"  # bench/floor.py's
ORDER = (DENSE_HEADING, OVERHEAD_HEADING, SUITE_HEADING, FLOOR_HEADING, RENDER_HEADING)
# subsections of earlier versions of this benchmark, dropped when a Python's section is rewritten
OBSOLETE = ("### Recording memory, 16M events", "### Cost per event at the margin (ping-pong, 2M and 20M events)",
            "### The pure-Python floor (ping-pong loop)", "### Rendering a 1M-event trace")
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

    def argv(self, script: str, args: str, out: Path, extra: tuple = ()) -> list:
        """The command line; ``extra`` are cotrace options (only cotrace gets them)."""
        if self.key == "untraced":
            return [sys.executable, script, args]
        if self.key == "viztracer":
            return [self.exe, "--quiet", "-o", str(out / VIZ_FILE), script, args]
        # --no-diagrams: cotrace SCRIPT also draws after recording; measure recording only
        return [sys.executable, "-m", "tracer", "-q", "--no-diagrams", "--backend", self.backend,
                "--core", self.core, *extra, "-o", str(out), script, args]

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
                try:
                    footer, header = _footer(trace), _header(trace)
                except (SystemExit, OSError, ValueError) as e:  # a killed or broken run: this variant failed
                    result["rc"], result["err"] = -1, "%s\n%s" % (e, result["err"])
                    return
                result.update(events=footer.get("events"), dropped=footer.get("dropped") or 0,
                              limit_reached=bool(footer.get("limit_reached")),
                              bytes=trace.stat().st_size, recorded_by=header.get("backend"),
                              core=header.get("core", "python"))
                if header.get("backend") != self.backend:
                    result["rc"] = -1
                    result["err"] = "asked for --backend %s, the header says %r" % (self.backend, header.get("backend"))
                want = "python" if self.core == "python" else DEFAULT_CORE.lower()
                if header.get("core", "python") != want:
                    result["rc"] = -1
                    result["err"] = "expected the %s core, the header says %r" % (want, header.get("core"))
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


def _pytest_version() -> str | None:
    return _capture([sys.executable, "-c", "import importlib.metadata as m; print(m.version('pytest'))"])


def viztracer_env(install: bool = True) -> tuple:
    """(path of viztracer, its version) from bench/.venv-X.Y.Z, creating the
    environment and installing viztracer (and this Python's pytest version,
    for the suite part) there the first time; or (None, why not)."""
    venv = HERE / (".venv-" + platform.python_version())
    py, exe = venv / "bin" / "python", venv / "bin" / "viztracer"
    pytest_version = _pytest_version()
    version_cmd = [str(py), "-c", "import importlib.metadata as m, viztracer; print(m.version('viztracer'))"]
    pytest_cmd = [str(py), "-c", "import importlib.metadata as m; print(m.version('pytest'))"]
    version = _capture(version_cmd) if py.exists() else None
    if version and exe.exists() and (pytest_version is None or _capture(pytest_cmd) == pytest_version):
        return str(exe), version
    if not install:
        return None, "not installed in %s (--no-install)" % venv.relative_to(ROOT)
    steps = []
    if not py.exists():
        print("creating %s ..." % venv.relative_to(ROOT), flush=True)
        steps.append([sys.executable, "-m", "venv", str(venv)])
    print("installing viztracer in %s ..." % venv.relative_to(ROOT), flush=True)
    wanted = ["viztracer"] + (["pytest==" + pytest_version] if pytest_version else [])
    steps.append([str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", *wanted])
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


def suite_dir(install: bool = True) -> tuple:
    """(the unpacked sdist of SUITE under bench/.cache/, None) downloaded
    from PyPI the first time, or (None, why not)."""
    name, version = SUITE
    cache = HERE / ".cache"
    d = cache / ("%s-%s" % (name.replace("-", "_"), version))
    if (d / "tests").is_dir():
        return d, None
    if not install:
        return None, "%s not downloaded (--no-install)" % d.relative_to(ROOT)
    cache.mkdir(exist_ok=True)
    print("downloading the %s %s sdist into %s ..." % (name, version, cache.relative_to(ROOT)), flush=True)
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q", "--no-deps",
           "--no-binary", ":all:", "-d", str(cache), "%s==%s" % (name, version)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as e:
        return None, "pip download failed: %s" % e
    archives = sorted(cache.glob("%s-%s.tar.gz" % (name.replace("-", "_"), version)))
    if r.returncode != 0 or not archives:
        return None, "pip download failed: %s" % ((r.stderr or r.stdout).strip().splitlines() or ["?"])[-1]
    import tarfile

    with tarfile.open(archives[0]) as tar:
        tar.extractall(cache, filter="data") if sys.version_info >= (3, 12) else tar.extractall(cache)
    return (d, None) if (d / "tests").is_dir() else (None, "no tests/ in %s" % archives[0].name)


# -- measuring -------------------------------------------------------------

def _script(name: str) -> str:
    return str(HERE / "workloads" / (name + ".py"))


def measure(variants: list, name: str, script: str, args: str, runs: int, tmp: Path, loads: list,
            extra: tuple = ()) -> dict:
    """variant key -> list of run results, the variants interleaved round
    after round.  A variant that fails is not run again."""
    results: dict = {v.key: [] for v in variants}
    failed: set = set()
    for r in range(runs):
        for v in variants:
            if v.key in failed:
                continue
            out = tmp / ("%s-%s-%d" % (name, v.key.replace(":", "-"), r))
            out.mkdir(parents=True, exist_ok=True)
            loads.append(os.getloadavg()[0])
            cmd = v.argv(script, args, out, extra)
            res = run_child(cmd)
            v.collect(out, res)
            results[v.key].append(res)
            if res["rc"] != 0:
                failed.add(v.key)
                print("FAILED %s %s (exit %d): %s\n%s" % (name, v.label, res["rc"], " ".join(cmd), res["err"]),
                      file=sys.stderr, flush=True)
                continue
            more = ""
            if res.get("events") is not None:
                more = "  %9d events  %6.1f MB" % (res["events"], res["bytes"] / 1e6)
            elif res.get("bytes"):
                more = "  %16s  %6.1f MB" % ("", res["bytes"] / 1e6)
            print("round %d/%d %-13s %-28s %8.3fs %7.1f MiB%s"
                  % (r + 1, runs, name, v.label, res["s"], res["rss"] / 1024, more), flush=True)
    return results


def summarize(results: dict) -> dict:
    """variant key -> stats (or {"failed": stderr})."""
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
            s["limit_reached"] = any(r.get("limit_reached") for r in rs)
            s["bpe"] = s["bytes"] / s["events"] if s["events"] else None
        out[key] = s
    return out


def _variants(backends: list, viz: tuple, with_viz: bool = True) -> list:
    vs = [Variant("untraced", "untraced")]
    vs += [Variant(b, _label(b), backend=b) for b in backends]
    if viz[0] and with_viz:
        vs.append(Variant("viztracer", "viztracer", exe=viz[0]))
    return vs


def _session(runs: int, backends: list, viz: tuple) -> dict:
    return {"runs": runs, "backends": backends, "viz": viz, "date": _now(), "start": time.time(), "loads": []}


def _done(result: dict) -> dict:
    loads = result.pop("loads")
    result["load"] = (min(loads), max(loads)) if loads else (0.0, 0.0)
    result["minutes"] = (time.time() - result.pop("start")) / 60
    return result


def overhead(names: list, backends: list, viz: tuple, runs: int, scale: float, tmp: Path) -> dict:
    result = _session(runs, backends, viz)
    variants = _variants(backends, viz)
    print("warm-up: one unrecorded round on an empty script", flush=True)
    measure(variants, EMPTY, _script(EMPTY), "0", 1, tmp, [])
    print("start-up: every variant on an empty script, %d rounds" % runs, flush=True)
    result["startup"] = summarize(measure(variants, EMPTY, _script(EMPTY), "0", runs, tmp, result["loads"]))
    rows = {}
    for name in names:
        what, script, size, kind, extra, with_viz = WORKLOADS[name]
        size = str(max(1, int(int(size) * scale)))
        print("%s (%s), N=%s, %d rounds" % (name, what, size, runs), flush=True)
        stats = summarize(measure(_variants(backends, viz, with_viz), name, _script(script), size, runs, tmp,
                                  result["loads"], extra))
        rows[name] = {"what": what, "size": size, "kind": kind, "stats": stats, "extra": extra, "viz": with_viz}
        _print_workload(name, rows[name], result["startup"])
    result["rows"] = rows
    return _done(result)


def dense(backends: list, viz: tuple, runs: int, scale: float, tmp: Path) -> dict:
    """Every variant on each DENSE workload at both sizes, interleaved per
    size; see dense_rows for what is derived."""
    result = _session(runs, backends, viz)
    variants = _variants(backends, viz)
    result["rows"] = {}
    for name, (what, sizes) in DENSE.items():
        by_size = {}
        for size in sizes:
            size = str(max(1, int(int(size) * scale)))
            print("dense: %s N=%s, %d round(s)" % (name, size, runs), flush=True)
            by_size[size] = summarize(measure(variants, name, _script(name), size, runs, tmp, result["loads"]))
        result["rows"][name] = {"what": what, "sizes": list(by_size), "stats": by_size}
    return _done(result)


def suite(backends: list, viz: tuple, runs: int, tmp: Path, install: bool) -> dict:
    """more-itertools' test suite, untraced, under the default backend
    (the targets' one) and under viztracer, interleaved."""
    result = _session(runs, backends[:1], viz)
    d, why = suite_dir(install)
    result["dir"], result["why"] = d, why
    if d is None:
        result["stats"] = {}
        return _done(result)
    print("suite: %s %s's tests, %d round(s)" % (SUITE + (runs,)), flush=True)
    result["stats"] = summarize(measure(_variants(backends[:1], viz), "suite", _script("suite"), str(d), runs, tmp,
                                        result["loads"]))
    return _done(result)


def dense_rows(row: dict, backends: list, viz: bool) -> list:
    """Per variant: (key, small s, big s, events at the big size, events
    added, µs per added event, ratio to untraced at the big size, stats at
    the big size).  A variant without an event count (untraced, viztracer)
    is charged the events cotrace recorded for the same N."""
    small, big = row["sizes"]
    st_small, st_big = row["stats"][small], row["stats"][big]
    events = None
    for key in backends:
        if "events" in st_small.get(key, {}) and "events" in st_big.get(key, {}):
            events = {"small": st_small[key]["events"], "big": st_big[key]["events"]}
            break
    rows = []
    keys = ["untraced"] + backends + (["viztracer"] if viz else [])
    base = st_big.get("untraced", {}).get("median")
    for key in keys:
        a, b = st_small.get(key, {}), st_big.get(key, {})
        if "median" not in a or "median" not in b or (events is None and "events" not in b):
            rows.append((key, None, None, None, None, None, None, b))
            continue
        ev_small = a.get("events", events["small"] if events else None)
        ev_big = b.get("events", events["big"] if events else None)
        added = ev_big - ev_small
        per = (b["median"] - a["median"]) / added * 1e6 if added > 0 else None
        rows.append((key, a["median"], b["median"], ev_big, added, per, b["median"] / base if base else None, b))
    return rows


def _budgets(result: dict | None) -> dict:
    """Per dense workload, in µs per recorded event at its big size: what the
    ratio target leaves the default backend (bound × viztracer's median,
    less the untraced run, over the events; on monitoring, also viztracer's
    marginal cost) and what that backend took (its median less the untraced
    run, over the events)."""
    out: dict = {}
    if not result:
        return out
    backend = "monitoring" if "monitoring" in result["backends"] else "settrace"
    for name, row in result["rows"].items():
        rows = {r[0]: r for r in dense_rows(row, result["backends"], bool(result["viz"][0]))}
        try:
            viz, untraced, mine = rows["viztracer"][2], rows["untraced"][2], rows[backend][2]
            events = rows[backend][3]
        except (KeyError, TypeError):
            continue
        if not events or viz is None or mine is None:
            continue
        bound = TARGETS["generator"][backend][1]
        out[name] = {"backend": backend, "allowed": (bound * viz - untraced) / events * 1e6,
                     "took": (mine - untraced) / events * 1e6}
        if backend == "monitoring" and rows["viztracer"][5] is not None:
            out[name + ", marginal"] = {"backend": backend, "allowed": rows["viztracer"][5] * MARGINAL_BOUND,
                                        "took": rows[backend][5]}
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
    if n < 10_000_000_000:
        return "%.1f MB" % (n / 1e6)
    return "%.2f GB" % (n / 1e9)


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


def _applies(backend: str) -> bool:
    """The targets are the default core's, on this Python's default backend."""
    return backend == "monitoring" or (sys.version_info < (3, 12) and backend == "settrace")


def verdict(value: float | None, bound: float, unit: str = "", le: bool = True, digits: int = 2) -> str:
    """"met (0.75 ≤ 0.8)" / "**not met** (1.10 > 0.8)"."""
    if value is None:
        return "not measured"
    ok = value <= bound if le else value < bound
    d = digits if round(value, digits) != round(bound, digits) else digits + 1
    return "%s (%.*f%s %s %s%s)" % ("met" if ok else "**not met**", d, value, unit,
                                    ("≤" if le else "<") if ok else (">" if le else "≥"), ("%g" % bound), unit)


def ratio_target(kind: str, backend: str, ours: float | None, viz: float | None, viz_state: str) -> dict:
    """The target row of one workload kind for one cotrace variant."""
    what, bound = TARGETS[kind][backend.split(":")[0]]
    target = ("≤ %g × viztracer's ratio" % bound) if what == "viztracer" else ("≤ %.2fx untraced" % bound)
    rel = ours / viz if ours is not None and viz is not None else None
    if ours is None:
        v = "cotrace not measured"
    elif what == "viztracer" and viz is None:
        v = viz_state
    else:
        v = verdict(rel, bound) if what == "viztracer" else verdict(ours, bound, "x")
    if not _applies(backend):
        target, v = "none here (3.11's settrace target: %s)" % target, "—"
    return {"target": target, "ours": ours, "viz": viz, "rel": rel, "verdict": v}


def _print_workload(name: str, row: dict, startup: dict) -> None:
    stats = row["stats"]
    for key, s in stats.items():
        if "median" not in s:
            print("  %-28s %s" % (_label(key), _missing(s, key)), flush=True)
            continue
        more = ""
        if s.get("events") is not None:
            more = "  %d events  %s  %s B/event" % (s["events"], _size(s["bytes"]),
                                                   "%.0f" % s["bpe"] if s["bpe"] else "—")
        print("  %-28s median %8.3fs (%.3f-%.3f)  ratio %8s  net %8s  %6.1f MiB%s"
              % (_label(key), s["median"], s["min"], s["max"], _x(_ratio(stats, key)),
                 _x(_net_ratio(stats, key, startup)), s["rss_mib"], more), flush=True)


def _git() -> str:
    head = _capture(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    if not head:
        return "unknown"
    dirty = _capture(["git", "-C", str(ROOT), "status", "--porcelain", "--", "tracer"])
    return head + (" + uncommitted changes in tracer/" if dirty else "")


def tracer_fingerprint() -> str:
    """A hash of tracer/'s sources (the C core's too), to notice edits made while the benchmark runs."""
    h = hashlib.sha1()
    for p in sorted(list((ROOT / "tracer").rglob("*.py")) + list((ROOT / "tracer").rglob("*.c"))):
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


def _viz_line(viz: tuple) -> str:
    exe, info = viz
    if not exe:
        return "- viztracer unavailable: %s" % info
    return ("- viztracer %s from `bench/.venv-%s`: `viztracer --quiet -o FILE.json SCRIPT ARGS`; it keeps the newest"
            " 1,000,000 entries in a ring buffer (its default `--tracer_entries`) and writes only those, while"
            " cotrace writes every event" % (info, platform.python_version()))


def _session_lines(result: dict, env: dict, what: str) -> list:
    return [
        "- Date: %s; %s; %d interleaved round(s) (every variant in turn), medians; section took %.0f min"
        % (result["date"], what, result["runs"], result["minutes"]),
        "- cotrace %s; `python -m tracer -q --no-diagrams --backend B --core C -o DIR SCRIPT ARGS`; backends on"
        " this Python: %s%s" % (env["git"], ", ".join(b for b in result["backends"] if ":" not in b),
                                "".join("; %s unavailable (%s)" % kv for kv in env["missing"].items())),
        _viz_line(result["viz"]),
        "- Machine load (1-minute load average before each run): %.1f to %.1f" % result["load"],
    ]


def dense_section(result: dict, env: dict) -> list:
    backends, viz = result["backends"], bool(result["viz"][0])
    lines = [DENSE_HEADING, ""] + _session_lines(result, env, "each workload at two sizes") + [
        "- Sizes: %s" % "; ".join("%s N=%s and N=%s" % ((n,) + tuple(r["sizes"])) for n, r in result["rows"].items()),
        "- µs/event at the margin: (median at the big size − median at the small one) / events added, so that no"
        " fixed cost (start-up, viztracer's save of its ring buffer) hides in it; untraced and viztracer are"
        " charged the events cotrace recorded; ratio: median / untraced median at the big size",
        "- Peak RSS, trace bytes and B/event are the big size's (≥ 16M events: the memory target's size)",
        "",
        "| workload | variant | s, small | s, big | events, big | µs/event at the margin | ratio at the big size |"
        " peak RSS MiB | trace bytes | B/event |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    targets = []
    for name, row in result["rows"].items():
        rows = dense_rows(row, backends, viz)
        by_key = {r[0]: r for r in rows}
        first = True
        for key, a, b, events, added, per, ratio, st in rows:
            cell = name if first else ""
            first = False
            if a is None:
                lines.append("| %s | %s | %s | | | | | | | |" % (cell, _label(key), _missing(st, key)))
                continue
            cot = key not in ("untraced", "viztracer")
            lines.append("| %s | %s | %.2f | %.2f | %s | %.3f | %s | %.1f | %s | %s |" % (
                cell, _label(key), a, b, "%d" % events if cot else "", per or 0.0, _x(ratio), st["rss_mib"],
                _size(st["bytes"]) if st.get("bytes") is not None else "",
                "%.1f" % st["bpe"] if cot and st.get("bpe") else ""))
        viz_row = by_key.get("viztracer")
        viz_state = "viztracer unavailable" if not viz else "viztracer " + _missing(viz_row[7] if viz_row else {}, "viztracer")
        for b in backends:
            r = by_key[b]
            t = ratio_target("generator", b, r[6], viz_row[6] if viz_row else None, viz_state)
            targets.append((name, b, "ratio at %s events" % ("%.0fM" % (r[3] / 1e6) if r[3] else "?"), t["target"],
                            _x(t["ours"]), _x(t["viz"]), t["verdict"]))
            if b.split(":")[0] == "monitoring":
                vm = viz_row[5] if viz_row else None
                v = verdict(r[5] / vm if r[5] is not None and vm else None, MARGINAL_BOUND) if _applies(b) else "—"
                targets.append((name, b, "µs/event at the margin", "≤ viztracer's",
                                "%.3f" % r[5] if r[5] is not None else "—", "%.3f" % vm if vm else "—", v))
            st = r[7]
            if "median" in st and _applies(b):
                ok_events = (r[3] or 0) >= MEMORY_MIN_EVENTS
                targets.append((name, b, "peak RSS at %.0fM events" % ((r[3] or 0) / 1e6), "< %.0f MiB" % MEMORY_TARGET_MIB,
                                "%.1f MiB" % st["rss_mib"], "", verdict(st["rss_mib"], MEMORY_TARGET_MIB, " MiB", le=False, digits=1)
                                if ok_events else "not measured (fewer than 16M events)"))
                targets.append((name, b, "bytes per event", "≤ %.0f" % BYTES_TARGET, "%.1f" % (st.get("bpe") or 0), "",
                                verdict(st.get("bpe"), BYTES_TARGET, digits=1)))
    lines += ["", "#### Targets (same-session medians)", "",
              "| workload | variant | measure | target | cotrace | viztracer | result |",
              "|---|---|---|---|---|---|---|"]
    lines += ["| %s | %s | %s | %s | %s | %s | %s |" % (n, _label(b), m, t, o, v, res) for n, b, m, t, o, v, res in targets]
    return lines


def overhead_section(result: dict, env: dict) -> list:
    backends = result["backends"]
    viz_exe = result["viz"][0]
    order = ["untraced"] + backends + ["viztracer"]
    startup = result["startup"]
    lines = [OVERHEAD_HEADING, ""] + _session_lines(result, env, "asyncio, calls, a --max-events 10 run, start-up") + [
        "- Fast JSON encoders importable here: %s" % env["encoders"],
        "- Sizes: %s" % ", ".join("%s N=%s" % (n, r["size"]) for n, r in result["rows"].items()),
        "- ratio = median / untraced median, same session; net = the same with each variant's start-up median"
        " subtracted from both (for reading only; the targets use ratio)",
        "",
        "| workload | variant | median s | min-max s | ratio | net | peak RSS MiB | events | trace bytes | B/event |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    first = True
    for key in order:
        s = startup.get(key)
        if s is None or "median" not in s:
            continue
        lines.append("| %s | %s | %.3f | %.3f-%.3f | | | %.1f | | | |" % (
            "start-up (empty script)" if first else "", _label(key), s["median"], s["min"], s["max"], s["rss_mib"]))
        first = False
    notes = []
    for name, row in result["rows"].items():
        stats = row["stats"]
        first = True
        for key in order:
            s = stats.get(key)
            if s is None and key == "viztracer" and (viz_exe or not row["viz"]):
                continue
            cell = ("%s (N=%s%s)" % (name, row["size"], "".join(" " + a for a in row["extra"]))) if first else ""
            first = False
            if s is None or "median" not in s:
                lines.append("| %s | %s | %s | | | | | | | |" % (cell, _label(key), _missing(s or {}, key)))
                continue
            events = "%d" % s["events"] if s.get("events") is not None else ""
            bpe = "%.0f" % s["bpe"] if s.get("bpe") else ""
            lines.append("| %s | %s | %.3f | %.3f-%.3f | %s | %s | %.1f | %s | %s | %s |" % (
                cell, _label(key), s["median"], s["min"], s["max"], _x(_ratio(stats, key)),
                _x(_net_ratio(stats, key, startup)), s["rss_mib"], events,
                _size(s["bytes"]) if s.get("bytes") is not None else "", bpe))
            if s.get("events_varied"):
                notes.append("%s, %s: the event count varied between runs: %s" % (name, _label(key), s["events_varied"]))
            if s.get("dropped") and row["kind"] != "limit":
                notes.append("%s, %s: %d events dropped" % (name, _label(key), s["dropped"]))
            if row["kind"] == "limit" and key not in ("untraced", "viztracer") and not s.get("limit_reached"):
                notes.append("%s, %s: the footer does not say the limit was reached" % (name, _label(key)))
    lines += [""] + ["- Note: " + n for n in notes] + ([""] if notes else [])
    lines += ["#### Targets (same-session medians)", "",
              "| workload | variant | target | cotrace | viztracer | cotrace / viztracer | result |",
              "|---|---|---|---|---|---|---|"]
    for name, row in result["rows"].items():
        stats = row["stats"]
        for b in backends:
            viz = _ratio(stats, "viztracer")
            state = "viztracer unavailable" if not viz_exe else "viztracer " + _missing(stats.get("viztracer", {}), "viztracer")
            t = ratio_target(row["kind"], b, _ratio(stats, b), viz, state)
            lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                name, _label(b), t["target"], _x(t["ours"]), _x(t["viz"]),
                "—" if t["rel"] is None else "%.2f" % t["rel"], t["verdict"]))
    base = startup.get("untraced", {}).get("median")
    for b in backends:
        s = startup.get(b, {})
        extra = s["median"] - base if "median" in s and base is not None else None
        lines.append("| start-up | %s | ≤ python's + %.0f ms | +%s | | | %s |" % (
            _label(b), STARTUP_TARGET_S * 1e3, "%.0f ms" % (extra * 1e3) if extra is not None else "—",
            verdict(extra * 1e3 if extra is not None else None, STARTUP_TARGET_S * 1e3, " ms", digits=0)
            if _applies(b) else "—"))
    return lines


def suite_section(result: dict, env: dict) -> list:
    name, version = SUITE
    lines = [SUITE_HEADING, ""]
    if result["dir"] is None:
        return lines + ["- not measured: %s" % result["why"]]
    stats = result["stats"]
    lines += _session_lines(result, env, "%s %s's own tests (its sdist, `pytest -q -p no:cacheprovider tests` from"
                                         " its directory: bench/workloads/suite.py), every event written" % (name, version))
    lines += ["", "| variant | median s | min-max s | ratio | peak RSS MiB | events | trace bytes | B/event |",
              "|---|---|---|---|---|---|---|---|"]
    for key in ["untraced"] + result["backends"] + ["viztracer"]:
        s = stats.get(key)
        if s is None:
            continue
        if "median" not in s:
            lines.append("| %s | %s | | | | | | |" % (_label(key), _missing(s, key)))
            continue
        lines.append("| %s | %.1f | %.1f-%.1f | %s | %.1f | %s | %s | %s |" % (
            _label(key), s["median"], s["min"], s["max"], _x(_ratio(stats, key)), s["rss_mib"],
            "%d" % s["events"] if s.get("events") is not None else "",
            _size(s["bytes"]) if s.get("bytes") is not None else "", "%.1f" % s["bpe"] if s.get("bpe") else ""))
    lines += ["", "| target | cotrace / viztracer | result |", "|---|---|---|"]
    for b in result["backends"]:
        viz = _ratio(stats, "viztracer")
        t = ratio_target("suite", b, _ratio(stats, b), viz,
                         "viztracer " + _missing(stats.get("viztracer", {}), "viztracer"))
        lines.append("| %s, %s | %s | %s |" % (_label(b), t["target"], "—" if t["rel"] is None else "%.2f" % t["rel"],
                                               t["verdict"]))
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
    for heading in OBSOLETE:
        mine.pop(heading, None)
    mine.update(parts)
    standard = (
        "Written by `python bench/run.py`, run once with each interpreter (each run rewrites its own Python's"
        " section); what it measures is described in the docstring of bench/run.py.  Ratios are variant /"
        " untraced, both measured in the same session with interleaved runs, so that machine load affects both"
        " alike.  Peak RSS is the child process's own maximum resident set (`os.wait4`).  The targets are those"
        " of the issue \"Real programs at full size\", for the default (C) core on the Python's default backend"
        " (settrace on 3.11, sys.monitoring on 3.12+).  Parts: %s (`--only PART`, `--skip PART`)." % ", ".join(PARTS))
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
    parser.add_argument("-n", "--runs", type=int, default=3, help="interleaved rounds per overhead workload (default 3)")
    parser.add_argument("--dense-runs", type=int, default=2,
                        help="interleaved rounds per size of the dense part (default 2)")
    parser.add_argument("--suite-runs", type=int, default=1, help="rounds of the suite part (default 1)")
    parser.add_argument("--render-runs", type=int, default=2, help="runs per render case (default 2)")
    parser.add_argument("--only", action="append", choices=list(PARTS) + list(WORKLOADS),
                        help="run only this part or overhead workload (repeatable)")
    parser.add_argument("--skip", action="append", choices=list(PARTS), help="leave this part out (repeatable)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply the workload sizes (a quick try of the command; not written to RESULTS.md)")
    parser.add_argument("--no-install", action="store_true",
                        help="do not create bench/.venv-X.Y.Z, install viztracer or download the suite's sdist")
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
    dense_result = None
    print("Python %s (%s); cotrace %s" % (platform.python_version(), sys.executable, env["git"]), flush=True)
    # byte-compile cotrace as pip does when it installs a package: an
    # editable install under PYTHONDONTWRITEBYTECODE=1 would otherwise
    # compile every module in every run and charge that to its start-up
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "tracer")], check=False)
    with tempfile.TemporaryDirectory(prefix="cotrace-bench-") as t:
        tmp = Path(t)
        backends, env["missing"] = cotrace_backends(tmp)
        # the default backend first (the suite part runs only it)
        default = "monitoring" if "monitoring" in backends else "settrace"
        backends.sort(key=lambda b: b != default)  # (the key must not read the list: sort empties it meanwhile)
        if args.python_core and DEFAULT_CORE == "C":
            backends = backends + [b + ":python" for b in backends]
        print("cotrace backends: %s%s" % (", ".join(backends) or "none",
                                          "".join("; %s unavailable: %s" % kv for kv in env["missing"].items())),
              flush=True)
        viz = viztracer_env(install=not args.no_install) if only & {"dense", "suite"} or names else (None, "not run")
        print("viztracer: %s" % (("%s (%s)" % (viz[1], viz[0])) if viz[0] else "unavailable: " + viz[1]), flush=True)
        if "dense" in only:
            result = dense_result = dense(backends, viz, args.dense_runs, args.scale, tmp)
            failed |= any("failed" in s for r in result["rows"].values() for st in r["stats"].values()
                          for s in st.values())
            lines = dense_section(result, env)
            print("\n".join(lines[2:]) + "\n", flush=True)
            parts[DENSE_HEADING] = lines
        if names:
            result = overhead(names, backends, viz, args.runs, args.scale, tmp)
            failed |= any("failed" in s for r in result["rows"].values() for s in r["stats"].values())
            lines = overhead_section(result, env)
            print("\n".join(lines[2:]) + "\n", flush=True)
            if set(names) == set(WORKLOADS):
                parts[OVERHEAD_HEADING] = lines
        if "suite" in only:
            result = suite(backends, viz, args.suite_runs, tmp, install=not args.no_install)
            failed |= any("failed" in s for s in result["stats"].values())
            lines = suite_section(result, env)
            print("\n".join(lines[2:]) + "\n", flush=True)
            parts[SUITE_HEADING] = lines
        if "floor" in only:
            sys.path.insert(0, str(HERE))
            import floor

            print("floor: bench/floor.py, %d rounds" % args.runs, flush=True)
            fl = floor.bench(args.runs)
            parts[floor.HEADING] = floor.section(fl, budgets=_budgets(dense_result))
            print("\n".join(parts[floor.HEADING][2:]) + "\n", flush=True)
    if "render" in only:
        sys.path.insert(0, str(HERE))
        import render

        parts[render.HEADING] = render.section(render.bench(args.render_runs, scale=args.scale))
        print("\n".join(parts[render.HEADING][2:]) + "\n", flush=True)
    if tracer_fingerprint() != fingerprint:
        print("WARNING: tracer/ changed while the benchmark ran: the numbers may mix two versions of cotrace",
              file=sys.stderr)
        for heading in parts:
            parts[heading].insert(2, "- **tracer/ changed while this ran**: the numbers may mix two versions")
    if write and parts:
        write_results(parts)
        print("wrote %s (Python %s: %s)" % (HERE / "RESULTS.md", platform.python_version(),
                                           ", ".join(h[4:] for h in parts)), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
