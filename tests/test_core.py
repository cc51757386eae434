"""The C core against the Python core, its reference.

Every sample and test program is recorded with both cores on the suite's
backend (COTRACE_BACKEND) and the traces must be the same event for event,
timestamps aside; the program's output too.  The C core must really do the
hot events itself, keep no references it should not, and refuse what it
was not built for.
"""
import gc
import sys
import threading

import pytest

from conftest import BACKEND, PROGRAMS, SAMPLES, record_in_process, simple, untimed
from test_backends import BUG_PATHS, PROGRAM_NAMES, SAMPLE_NAMES, assert_same_recordings, record_variants
from tracer import compat
from tracer.record import core as cores

C_OK, C_WHY = cores.c_available()
needs_c = pytest.mark.skipif(not C_OK, reason="the C core is not available here: %s" % C_WHY)


@needs_c
@pytest.mark.parametrize("path", [SAMPLES / (n + ".py") for n in SAMPLE_NAMES]
                         + [PROGRAMS / (n + ".py") for n in PROGRAM_NAMES] + BUG_PATHS, ids=lambda p: p.stem)
def test_both_cores_record_the_same_trace(cotrace, tmp_path, path):
    traces, outputs = record_variants(cotrace, tmp_path, path, {"python": ["--backend", BACKEND, "--core", "python"],
                                                                 "c": ["--backend", BACKEND, "--core", "c"]},
                                      "core")
    assert all(t.header["backend"] == BACKEND for t in traces.values())
    assert_same_recordings(traces, outputs, path.stem)
    a, b = traces["c"].footer, traces["python"].footer
    for key in ("events", "objects", "suspended", "running", "dropped", "limit_reached", "lost"):
        assert a.get(key) == b.get(key), key
    if path.stem != "threads":
        assert untimed(traces["c"].aggregates) == untimed(traces["python"].aggregates)


@needs_c
@pytest.mark.parametrize("body", ["send", "for", "yield from", "tuple values", "objects"])
def test_the_c_core_does_the_hot_events_itself(tmp_path, body):
    class Thing:
        def __repr__(self):
            return "<thing>"

    def run():
        def echo():
            got = None
            while True:
                got = yield got

        def inner():
            while True:
                yield (yield 1)

        def outer():
            yield from inner()

        if body == "send":
            e = echo(); next(e)
            return [e.send(i) for i in range(500)]
        if body == "for":
            return sum(x for x in (i for i in range(500)))
        if body == "yield from":
            o = outer(); next(o)
            return [o.send(i) for i in range(500)]
        if body == "tuple values":
            e = echo(); next(e)
            return [e.send((i, "x", None, 1.5)) for i in range(500)]
        e = echo(); next(e)
        return [repr(e.send(Thing())) for _ in range(500)]

    traces = {core: record_in_process(tmp_path, run, core=core) for core in ("python", "c")}
    assert simple(traces["c"], True) == simple(traces["python"], True)
    assert traces["c"].result == traces["python"].result
    fast, slow = traces["c"].core_stats
    # all but the first few events of each object and call site
    assert fast > 0.9 * (fast + slow), (fast, slow)


@needs_c
def test_no_references_are_kept(tmp_path):
    """Values passed through the fast path are released; the records of ended
    objects go; nothing of the types the core touches accumulates."""
    big = 10 ** 30            # an int stored raw (repr'd by the writer)

    class Thing:
        def __repr__(self):
            return "<thing>"

    thing = Thing()           # repr'd at once, never stored
    key = (big, "k")          # a tuple of scalars, stored raw

    def body():
        def echo():
            while True:
                yield (yield)

        for _ in range(3):
            e = echo()
            next(e)
            for _ in range(3000):
                e.send(big); e.send(thing); e.send(key); next(e)
            e.close()

    counts = {}
    for round_ in range(3):  # the first warms up lazily made tables
        gc.collect()
        before = (sys.getrefcount(big), sys.getrefcount(thing), sys.getrefcount(key))
        (tmp_path / str(round_)).mkdir()
        record_in_process(tmp_path / str(round_), body, core="c")
        gc.collect()
        after = (sys.getrefcount(big), sys.getrefcount(thing), sys.getrefcount(key))
        assert after == before
        counts[round_] = {t: sum(1 for o in gc.get_objects() if type(o).__name__ == t)
                          for t in ("Obj", "ThreadState", "Tracer", "Core", "tuple", "list", "dict")}
    # a third recording leaves exactly as many objects of each kind as the second
    assert {t: counts[2][t] - counts[1][t] for t in counts[1]} == {t: 0 for t in counts[1]}


@needs_c
def test_threads_gc_storms_and_finalization_in_the_callback(tmp_path):
    def body():
        def echo():
            try:
                while True:
                    yield (yield)
            finally:
                pass

        def worker(n):
            for _ in range(n):
                e = echo(); next(e)
                for i in range(50):
                    e.send(i)
                    if i % 10 == 0:
                        gc.collect()
                del e  # finalized (closed) by the refcount drop, inside a recorded event's aftermath

        ts = [threading.Thread(target=worker, args=(20,)) for _ in range(3)]
        for t in ts:
            t.start()
        worker(10)
        for t in ts:
            t.join()
        return "ok"

    traces = {core: record_in_process(tmp_path, body, core=core) for core in ("python", "c")}
    for trace in traces.values():
        assert trace.result == "ok" and not trace.stderr
    # each thread's events in order (threading numbers its threads on across the two runs)
    per_thread = {}
    for core, t in traces.items():
        threads: dict = {}
        for e in t.events:
            threads.setdefault(e["thread"], []).append((e["ev"], e["via"], e["value"]))
        per_thread[core] = sorted(threads.values())
    assert per_thread["c"] == per_thread["python"]
    assert traces["c"].footer_info["events"] == traces["python"].footer_info["events"] > 70 * 100


def test_core_choice_and_refusal(cotrace, monkeypatch):
    assert cores.resolve("python") == "python"
    assert cores.resolve("auto") == ("c" if C_OK else "python")
    with pytest.raises(cores.CoreError, match="unknown core"):
        cores.resolve("rust")
    monkeypatch.setattr(cores, "_ccore", None)
    monkeypatch.setattr(cores, "_REASON", "not verified for cpython 3.14")
    assert cores.resolve("auto") == "python"
    with pytest.raises(cores.CoreError) as err:
        cores.resolve("c")
    assert str(err.value) == "the C core cannot be used: not verified for cpython 3.14; use --core python"
    assert cores.describe() == "cores: python (the C core is not verified for cpython 3.14)"
    run = cotrace("--core", "nope", SAMPLES / "fib.py")
    assert run.returncode == 2 and "Traceback" not in run.stderr


def test_version_names_the_cores(cotrace):
    run = cotrace("--version")
    assert run.returncode == 0
    line = run.stdout.strip()
    assert line.startswith("cotrace ") and "Python %s" % compat.PY_VERSION in line
    assert ("cores: c, python (default: c)" in line) == C_OK, line


@needs_c
def test_the_module_refuses_other_interpreters():
    from tracer.record import _ccore
    assert tuple(_ccore.BUILT_FOR) == sys.version_info[:2]
