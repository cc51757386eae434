"""The two recorder backends: same traces, chosen in one place, good neighbours.

On 3.12+ every sample and test program is recorded by both ``settrace`` and
``monitoring`` and the traces must be the same event for event (timestamps
aside).  The rest of the suite runs with whichever backend COTRACE_BACKEND
names (CI runs it once per backend).
"""
import re
import sys

import pytest

from conftest import PROGRAMS, SAMPLES, load_checked, record_in_process
from tracer import compat, invariant
from tracer.record import backends

needs_monitoring = pytest.mark.skipif(not compat.HAS_MONITORING, reason="sys.monitoring needs Python 3.12+")

SAMPLE_NAMES = ["fib", "producer_consumer", "throw_close", "pipeline", "async_producer_consumer"]
# every test program but forever.py (it runs until it is killed) and
# introspect.py (it prints whether a trace function is set, which only the
# settrace backend does)
PROGRAM_NAMES = sorted(p.stem for p in PROGRAMS.glob("*.py") if p.stem not in ("forever", "introspect"))
# the classic mistakes (tests/test_anomalies.py): recorded the same way too
BUG_PATHS = sorted((PROGRAMS / "bugs").glob("*.py"))


def _events(trace) -> list:
    """Events without timestamps, ids as labels; per thread in order (threads interleave freely)."""
    label = {o["id"]: o["label"] for o in trace.objects.values()}
    rows = [(e["thread"], label[e["obj"]], e["ev"], label.get(e["by"]), e["via"], e["value"], e["line"],
             e["task"], e.get("on"), bool(e.get("synthetic"))) for e in trace.events]
    return sorted(rows, key=lambda r: r[0]) if len({r[0] for r in rows}) > 1 else rows


def record_variants(cotrace, tmp_path, path, variants: dict, field: str) -> tuple:
    """Record ``path`` once per variant (name -> extra cotrace arguments);
    each trace's header ``field`` must name its variant.  (traces, outputs)."""
    traces, outputs = {}, {}
    for name, args in variants.items():
        run = cotrace("--no-diagrams", *args, path, out=tmp_path / name)
        # (CPython's "Exception ignored in: <generator object g at 0x...>" names an address)
        outputs[name] = (run.returncode, run.stdout, re.sub(r" at 0x[0-9a-f]+>", " at 0x…>", run.stderr))
        trace = load_checked(run.trace_path(path.stem))
        assert trace.header[field] == name
        traces[name] = trace
    return traces, outputs


def assert_same_recordings(traces: dict, outputs: dict, stem: str) -> None:
    """The same events (and program output) from every variant."""
    a, b = traces.values()
    if stem == "threads":
        # the threads' prints interleave, and generator labels are numbered
        # in the order the threads happened to start them
        assert [o[0] for o in outputs.values()] == [0, 0]
        assert sorted(r[:1] + r[2:] for r in _events(a)) == sorted(r[:1] + r[2:] for r in _events(b))
    else:
        first, second = outputs.values()
        assert first == second
        assert _events(a) == _events(b)


@needs_monitoring
@pytest.mark.parametrize("path", [SAMPLES / (n + ".py") for n in SAMPLE_NAMES]
                         + [PROGRAMS / (n + ".py") for n in PROGRAM_NAMES] + BUG_PATHS, ids=lambda p: p.stem)
def test_both_backends_record_the_same_trace(cotrace, tmp_path, path):
    traces, outputs = record_variants(cotrace, tmp_path, path, {"settrace": ["--backend", "settrace"],
                                                                 "monitoring": ["--backend", "monitoring"]},
                                      "backend")
    assert_same_recordings(traces, outputs, path.stem)
    a, b = traces["monitoring"].footer, traces["settrace"].footer
    assert (a["events"], a["objects"], len(a["suspended"])) == (b["events"], b["objects"], len(b["suspended"]))


def test_auto_and_unavailable_backends(cotrace):
    assert backends.resolve("auto") == ("monitoring" if compat.HAS_MONITORING else "settrace")
    run = cotrace("--no-diagrams", SAMPLES / "fib.py")
    assert run.trace("fib").header["backend"] in ("settrace", "monitoring")
    if not compat.HAS_MONITORING:
        run = cotrace("--backend", "monitoring", SAMPLES / "fib.py")
        assert run.returncode == 2
        assert run.stderr.strip() == ("cotrace: error: the monitoring backend needs Python 3.12 or later "
                                      "(sys.monitoring); this is Python %s: use --backend settrace" % compat.PY_VERSION)
    run = cotrace("--backend", "nope", SAMPLES / "fib.py")
    assert run.returncode == 2 and "Traceback" not in run.stderr


def _record(tmp_path, body, backend):
    trace = record_in_process(tmp_path, body, backend)
    problems = invariant.violations(trace)
    assert not problems, problems
    return trace, trace.footer_info


def _pingpong():
    def echo():
        got = yield
        while True:
            got = yield got * 2

    e = echo()
    next(e)
    return [e.send(i) for i in range(3)]


@needs_monitoring
def test_monitoring_coexists_with_other_tools(tmp_path):
    """A debugger (settrace, or tool id 0) and a coverage tool (id 1) keep
    working during a recording; cotrace's id is free again afterwards."""
    mon = sys.monitoring
    seen = {"debugger": 0, "coverage": 0, "settrace": 0}
    mon.use_tool_id(mon.DEBUGGER_ID, "test-debugger")
    mon.use_tool_id(mon.COVERAGE_ID, "test-coverage")

    def on_start(code, offset):
        seen["debugger"] += 1

    def on_line(code, line):
        seen["coverage"] += 1

    def tracer(frame, event, arg):
        seen["settrace"] += 1
        return None

    mon.register_callback(mon.DEBUGGER_ID, mon.events.PY_START, on_start)
    mon.register_callback(mon.COVERAGE_ID, mon.events.LINE, on_line)
    mon.set_events(mon.DEBUGGER_ID, mon.events.PY_START)
    mon.set_events(mon.COVERAGE_ID, mon.events.LINE)
    sys.settrace(tracer)
    try:
        trace, footer = _record(tmp_path, _pingpong, "monitoring")
    finally:
        sys.settrace(None)
        for tool in (mon.DEBUGGER_ID, mon.COVERAGE_ID):
            mon.set_events(tool, 0)
            mon.free_tool_id(tool)
    assert footer["recorder_error"] is None
    assert [e["value"] for e in trace.events if e["ev"] == "yield"] == ["None", "0", "2", "4"]
    assert all(seen.values()), seen
    assert all(mon.get_tool(i) is None for i in (3, 4))


@needs_monitoring
def test_monitoring_with_both_free_ids_taken_says_so(tmp_path):
    mon = sys.monitoring
    for tool in (3, 4):
        mon.use_tool_id(tool, "someone else")
    try:
        with pytest.raises(backends.BackendError, match="no free sys.monitoring tool id"):
            _record(tmp_path, _pingpong, "monitoring")
        assert backends.resolve("auto") == "settrace"   # auto falls back
    finally:
        for tool in (3, 4):
            mon.free_tool_id(tool)


@needs_monitoring
def test_monitoring_leaves_ordinary_code_alone(tmp_path):
    """Code that is not a generator is switched off after its first call:
    a million calls of a plain function reach cotrace's callbacks once."""
    calls = {"n": 0}
    from tracer.record.machine import Machine
    original = Machine.handle

    def counting(self, *args):
        calls["n"] += 1
        return original(self, *args)

    def body():
        def plain(x):
            return x + 1
        total = 0
        for i in range(100000):
            total = plain(total)
        _pingpong()

    Machine.handle = counting  # type: ignore[method-assign]
    try:
        trace, _ = _record(tmp_path, body, "monitoring")
    finally:
        Machine.handle = original  # type: ignore[method-assign]
    # only generator events were handled (3.13 closes the echo generator
    # without an event: cotrace adds that close as synthetic events); the C
    # core handles most of them itself and hands the rest to the machine
    handled = calls["n"] + (trace.core_stats[0] if trace.core_stats else 0)
    assert handled == sum(1 for e in trace.events if not e.get("synthetic"))
