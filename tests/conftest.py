"""Shared fixtures: run cotrace for real, load traces, keep the suite honest.

Every trace file the suite produces (anywhere under pytest's temporary
directory) is checked against the alternation invariant at the end of the
session; a violation fails the run.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tracer import invariant, traceio

try:
    # property-based tests (tests/test_properties.py): a fixed, derandomized
    # budget by default, so a CI run is bounded and reproducible; more, and
    # fresh, with --hypothesis-profile=long
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("ci", max_examples=int(os.environ.get("COTRACE_EXAMPLES", "12")),
                                          derandomize=True, deadline=None, print_blob=True)
    _hypothesis_settings.register_profile("long", max_examples=300, deadline=None, print_blob=True)
    _hypothesis_settings.load_profile("ci")
except ImportError:  # pragma: no cover
    pass
from tracer.record import backends
from tracer.record import core as cores

# The backend the suite's recordings use: COTRACE_BACKEND (settrace or
# monitoring; CI runs the suite once per backend on 3.12+), else auto.
BACKEND = backends.resolve(os.environ.get("COTRACE_BACKEND", "auto"))
# The core they use: COTRACE_CORE (c or python), else auto (C where built).
CORE = cores.resolve(os.environ.get("COTRACE_CORE", "auto"))

# A suite started in the background (nohup, "cmd &" in a script) inherits
# SIGINT ignored, and so would every program it starts: the Ctrl-C tests
# need Python's usual handling.  A handled signal is reset to the default
# in a child at exec, an ignored one stays ignored.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "tests" / "programs"
SAMPLES = ROOT / "samples"


def load_checked(path) -> traceio.Trace:
    """Load a trace and assert the alternation invariant on it."""
    trace = traceio.load(str(path))
    problems = invariant.violations(trace)
    assert not problems, "\n".join(problems[:20])
    return trace


def record_in_process(tmp_path, body, backend: str = BACKEND, writer_cls=traceio.TraceWriter,
                      core: str = CORE) -> traceio.Trace:
    """Record ``body()`` in this process with ``backend``; the loaded trace
    carries ``stderr`` (the recorder's warnings), ``result`` and ``footer_info``
    (what the recorder's stop() returned)."""
    import io
    from tracer.record.filters import Filters

    path = tmp_path / ("inproc-%s-%s.trace.jsonl" % (backend, core))
    err = io.StringIO()
    rec = None
    w = writer_cls(str(path), {"format": "cotrace", "version": traceio.FORMAT_VERSION},
                   encode_value=lambda v: rec.repr(v), core=core)
    rec = backends.recorder_class(backend)(w, Filters(), stderr=err, core=core)
    rec.start()
    try:
        result = body()
    finally:
        footer = rec.stop()
    w.close(dict(footer, exit=0, error=None))
    trace = traceio.load(str(path))
    trace.stderr = err.getvalue()  # type: ignore[attr-defined]
    trace.result = result          # type: ignore[attr-defined]
    trace.footer_info = footer     # type: ignore[attr-defined]
    trace.threads_seen = len(rec.machine.threads)  # type: ignore[attr-defined]
    # (events the C core did itself, events it handed to the machine)
    trace.core_stats = rec.machine.core.stats() if rec.core == "c" else None  # type: ignore[attr-defined]
    return trace


def simple(trace: traceio.Trace, with_synthetic: bool = False) -> list[tuple]:
    """Events as (object, ev, by, via, value) with labels instead of ids."""
    label = {o["id"]: o["label"] for o in trace.objects.values()}
    out = []
    for e in trace.events:
        row = (label[e["obj"]], e["ev"], label.get(e["by"]), e["via"], e["value"])
        if with_synthetic:
            row += (bool(e.get("synthetic")),)
        out.append(row)
    return out


TRACE = traceio.SUFFIXES[traceio.DEFAULT_CODEC]  # what a recording writes by default


def trace_text(path) -> str:
    import io
    out = io.StringIO()
    traceio.copy_lines(str(path), out)
    return out.getvalue()


@dataclass
class Run:
    proc: subprocess.CompletedProcess
    out_dir: Path

    @property
    def stdout(self) -> str:
        return self.proc.stdout

    @property
    def stderr(self) -> str:
        return self.proc.stderr

    @property
    def returncode(self) -> int:
        return self.proc.returncode

    def trace_path(self, stem: str) -> Path:
        return self.out_dir / (stem + TRACE)

    def trace_text(self, stem: str) -> str:
        """The trace's JSON Lines, decoded from whatever codec it was written with."""
        return trace_text(self.trace_path(stem))

    def trace(self, stem: str) -> traceio.Trace:
        return load_checked(self.trace_path(stem))


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PYTHONWARNINGS", None)
    return env


@pytest.fixture
def cotrace(tmp_path):
    """Run ``python -m tracer -o <tmp>/out ARGS`` in a real process."""
    out_dir = tmp_path / "out"

    def run(*args, cwd=None, timeout=120, quiet=True, out=None, umask=None) -> Run:
        cmd = [sys.executable, "-m", "tracer", "-o", str(out or out_dir)]
        if quiet:
            cmd.append("-q")
        cmd += [str(a) for a in args]
        proc = subprocess.run(cmd, cwd=cwd or tmp_path, capture_output=True, text=True, timeout=timeout,
                              env=_env(), umask=-1 if umask is None else umask)
        return Run(proc, Path(out or out_dir))

    return run


@pytest.fixture
def python(tmp_path):
    """Run the same target with plain ``python`` for comparison."""

    def run(*args, cwd=None, timeout=120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable] + [str(a) for a in args], cwd=cwd or tmp_path,
                              capture_output=True, text=True, timeout=timeout, env=_env())

    return run


@pytest.fixture(autouse=True)
def no_leftover_trace_hook():
    """A test that leaves a trace function installed fails."""
    before = sys.gettrace()
    tools = _monitoring_tools()
    yield
    after = sys.gettrace()
    if after is not before:
        sys.settrace(before)
        pytest.fail("a trace function was left installed: %r" % (after,))
    left = _monitoring_tools()
    if left != tools:
        pytest.fail("sys.monitoring tool ids were left in use: %r (before: %r)" % (left, tools))


def _monitoring_tools() -> dict:
    mon = getattr(sys, "monitoring", None)
    return {} if mon is None else {i: mon.get_tool(i) for i in range(6) if mon.get_tool(i) is not None}


def pytest_sessionfinish(session, exitstatus):
    base = session.config._tmp_path_factory.getbasetemp() if hasattr(session.config, "_tmp_path_factory") else None
    if base is None or not Path(base).exists():
        return
    bad = []
    checked = 0
    for path in sorted(Path(base).rglob("*.trace.jsonl*")):
        if path.name.startswith("bad-"):
            continue  # deliberately malformed inputs of the reader tests
        try:
            trace = traceio.load(str(path))
        except traceio.TraceError:
            continue  # deliberately truncated inputs are checked by their own tests
        checked += 1
        for problem in invariant.violations(trace)[:5]:
            bad.append("%s: %s" % (path, problem))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("cotrace: alternation invariant checked on %d traces written by the suite" % checked)
    if bad:
        if reporter is not None:
            for line in bad:
                reporter.write_line("INVARIANT VIOLATION " + line, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_addoption(parser):
    parser.addoption("--update-gold", action="store_true",
                     help="re-record tests/gold/traces and rewrite tests/gold/expected (review the diff)")


def untimed(agg):
    """An aggregates record with its switch histograms (times: they differ
    from run to run) replaced by their counts (the same for the same
    events)."""
    if not isinstance(agg, dict) or not isinstance(agg.get("switches"), dict):
        return agg
    return dict(agg, switches={k: sum(n for _, n in rows) for k, rows in agg["switches"].items()})


HANDOVER_TIMES = re.compile(r"median \S+ \S+ apart, p99 \S+ \S+$", re.M)


def untimed_text(text: str) -> str:
    """A txt flow list with the hand-overs' times (not their counts) masked."""
    return HANDOVER_TIMES.sub("median … apart, p99 …", text)
