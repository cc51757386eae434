"""Unit tests of the pieces the recorder is made of, per Python version."""
import dis
import io
import sys
import threading

import pytest

from conftest import BACKEND, record_in_process
from tracer import compat, traceio
from tracer.record import backends, codeinfo, framepeek
from tracer.record.filters import Filters
from tracer.record.saferepr import SafeRepr


# ---------------------------------------------------------------- framepeek
def test_layout_calibrates_and_verifies_on_this_python():
    layout = framepeek.calibrate()
    assert layout is not None, framepeek.FAILURE
    assert set(layout.gen_iframe_off) == {"generator", "coroutine", "async_generator"}


def _sent_values(fn, sends):
    """Values read at every resumption of generators made by ``fn``."""
    seen, got = [], []
    views: dict = {}

    def probe(frame, event, arg):
        if event == "call" and frame.f_code.co_name.startswith("g_"):
            if any(f is frame for f in seen):
                # the view made once per object (the recorder's fast path)
                # reads what the reference reader reads
                view = views.setdefault(id(frame), framepeek.stack_view(frame))
                value = framepeek.read_sent_value(frame)
                assert view.top() is value
                got.append(value)
            else:
                seen.append(frame)
        return None

    gen = fn()
    sys.settrace(probe)
    try:
        next(gen)
        for v in sends:
            try:
                gen.send(v)
            except StopIteration:
                break
    finally:
        sys.settrace(None)
    return got


@pytest.mark.parametrize("source", [
    "def g_a():\n    x = yield\n    yield x\n",
    "def g_a():\n    t = 0\n    while True:\n        t += yield t\n",
    "def g_a():\n    return dict(a=(yield 1), b=(yield 2))\n",
    "def g_a():\n    yield\n    yield\n",
    "def g_a():\n    with open(__file__) as fh:\n        yield [(yield fh.name), (yield 2)]\n",
])
def test_sent_value_read_back_from_the_stack(source):
    ns = {"__file__": __file__}
    exec(compile(source, "<test>", "exec"), ns)
    sends = [10 ** 20 + i for i in range(2)]
    got = _sent_values(ns["g_a"], sends)
    assert len(got) == 2 and all(a is b for a, b in zip(got, sends))


def test_owner_of_a_frame_is_its_generator():
    found = []

    def g_owner():
        yield

    def probe(frame, event, arg):
        if event == "call" and frame.f_code is g_owner.__code__:
            found.append(framepeek.owner_of(frame, "generator"))
        return None

    gen = g_owner()
    sys.settrace(probe)
    try:
        next(gen)
    finally:
        sys.settrace(None)
    assert found == [gen]


def test_unverified_layout_means_null_values_and_one_warning(monkeypatch, tmp_path):
    monkeypatch.setattr(framepeek, "LAYOUT", None)
    monkeypatch.setattr(framepeek, "FAILURE", "simulated")
    trace = _record_in_process(tmp_path, lambda: _drive())
    resumes = [e for e in trace.events if e["ev"] == "resume"]
    assert resumes and all(e["value"] is None for e in resumes)
    assert trace.stderr.count("cannot read sent values") == 1


# ------------------------------------------------------------- in process
def _drive():
    def g_in():
        x = yield 1
        yield x

    g = g_in()
    next(g)
    return g.send("sent")


def _record_in_process(tmp_path, body, writer_cls=traceio.TraceWriter):
    return record_in_process(tmp_path, body, writer_cls=writer_cls)


def test_previous_trace_functions_are_restored(tmp_path):
    def outer_trace(frame, event, arg):
        return None

    def thread_trace(frame, event, arg):
        return None

    sys.settrace(outer_trace)
    threading.settrace(thread_trace)
    try:
        trace = _record_in_process(tmp_path, _drive)
        assert sys.gettrace() is outer_trace
        assert threading.gettrace() is thread_trace
    finally:
        sys.settrace(None)
        threading.settrace(None)
    assert trace.result == "sent"
    assert [e["ev"] for e in trace.events] == ["start", "yield", "resume", "yield", "close", "return"]


def test_internal_error_disables_recording_and_the_program_runs_on(tmp_path):
    class Failing(traceio.TraceWriter):
        n = 0

        def __init__(self, *args, **kwargs):
            super().__init__(*args, batch=1, **kwargs)  # flush after every record

        def flush(self):
            Failing.n += 1
            if Failing.n == 3:
                raise RuntimeError("disk on fire")
            super().flush()

    def body():
        out = []
        for _ in range(3):
            out.append(_drive())
        return out

    import gc
    import signal

    getsignal, callbacks = signal.getsignal, list(gc.callbacks)
    trace = _record_in_process(tmp_path, body, Failing)
    # stop() put every hook back, although the error had stopped recording
    assert signal.getsignal is getsignal and gc.callbacks == callbacks
    assert threading.gettrace() is None
    assert trace.result == ["sent"] * 3
    assert "internal error, recording stopped: RuntimeError: disk on fire" in trace.stderr
    assert trace.footer["recorder_error"] == "RuntimeError: disk on fire"
    assert sys.gettrace() is None


# ---------------------------------------------------------------- codeinfo
def _calls(fn):
    return [codeinfo.resumer_via(fn.__code__, x.offset) for x in dis.get_instructions(fn)
            if x.opname in ("CALL", "CALL_FUNCTION_EX", "CALL_KW")]


def test_resumer_via_names_the_call():
    def f(g, h, v):
        g.send(v)
        next(g)
        list(g)
        g.send(h.send(v))
        g.throw(ValueError("x"))
        g.close()
        g.__next__()

    assert _calls(f) == ["send", "next", "other", "send", "send", "other", "throw", "close", "next"]


def test_resumer_via_sees_through_branches_loops_and_star_args():
    def f(g, h, v, c):
        g.send(1 if c else 2)
        g.send(h.x if c else [y for y in v])
        g.send(*v)
        g.send(v=3)
        h.g.send(v)
        next(g, None)

    # 3.11 runs the comprehension as a function: its creation and call
    # are extra CALLs (of <listcomp>, hence "other")
    calls = [c for c in _calls(f) if c != "other"]
    assert calls == ["send", "send", "send", "send", "send", "next"]


def test_resumer_via_for_loops_and_delegation():
    def loop(g):
        for _ in g:
            pass

    def deleg(g):
        yield from g

    async def aw(c):
        await c

    assert [codeinfo.resumer_via(loop.__code__, x.offset) for x in dis.get_instructions(loop)
            if x.opname == "FOR_ITER"] == ["for"]
    assert [codeinfo.resumer_via(deleg.__code__, x.offset) for x in dis.get_instructions(deleg)
            if x.opname == "SEND"] == ["yield from"]
    assert [codeinfo.resumer_via(aw.__code__, x.offset) for x in dis.get_instructions(aw)
            if x.opname == "SEND"] == ["await"]


def test_start_and_yield_sites():
    def g():
        yield 1
        try:
            yield 2
        finally:
            pass
        yield from ()

    code = g.__code__
    ins = list(dis.get_instructions(g))
    resume0 = next(x.offset for x in ins if x.opname == "RESUME")
    assert codeinfo.is_start(code, resume0) and codeinfo.is_start(code, 0)
    yields = [x.offset for x in ins if x.opname == "YIELD_VALUE"]
    sites = yields if compat.LASTI_IS_YIELD else [
        next(y.offset for y in ins if y.offset > off and y.opname == "RESUME") for off in yields]
    assert all(codeinfo.is_yield_site(code, s) for s in sites)
    assert [codeinfo.is_delegating_site(code, s) for s in sites] == [False, False, True]
    # only 3.13 closes without re-entering, and only outside try blocks
    assert [codeinfo.closes_without_reentry(code, s) for s in sites] == (
        [True, False, False] if compat.CLOSE_MAY_SKIP_FRAME else [False, False, False])


# ---------------------------------------------------------------- saferepr
class _Boom:
    def __repr__(self):
        raise ValueError("boom")


class _Slow:
    def __repr__(self):
        while True:
            pass


@pytest.mark.parametrize("value,expected", [
    (None, "None"), (5, "5"), (True, "True"), ("s", "'s'"), (b"b", "b'b'"), ((1, "a"), "(1, 'a')"),
    (_Boom(), "<_Boom object: repr raised ValueError>"),
])
def test_safe_repr(value, expected):
    assert SafeRepr(50)(value) == expected


def test_safe_repr_bounds_size_and_time():
    r = SafeRepr(40, timeout=0.2)
    assert len(r("x" * 10_000)) <= 40
    assert len(r(list(range(10_000)))) <= 40
    assert r(_Slow()) == "<_Slow object: repr timed out>"
    nested = []
    nested.append(nested)
    assert r(nested) == "[[...]]" or len(r(nested)) <= 40


def test_safe_repr_watchdog_thread_is_invisible():
    before = threading.active_count()
    SafeRepr(40, timeout=0.1)(_Boom())
    assert threading.active_count() == before


def test_safe_repr_watchdog_thread_ends_with_the_reprs():
    # a raw thread is still counted by _thread._count(), which test.support's
    # threading_cleanup() waits on (at most 1 s) after every test_asyncio test
    import time
    import _thread
    before = _thread._count()
    r = SafeRepr(40, timeout=1.0)
    r(_Boom())
    # not a loop until the count drops: right after the repr the new thread
    # may not have run (nor been counted) yet, and the loop would end at once
    time.sleep(0.25)  # many of the watchdog's checks, a quarter of threading_cleanup()'s patience
    assert not r._watchdog._running
    assert _thread._count() <= before  # threading_cleanup()'s test; other threads may have ended


# ----------------------------------------------------------------- filters
def test_filters():
    import os
    f = Filters()
    assert f.wants("/home/me/project/app.py")
    assert not f.wants(os.__file__)
    assert not f.wants("<frozen os>")
    assert f.wants("<string>")
    assert not f.wants(framepeek.__file__)           # cotrace itself, always
    assert Filters(record_all=True).wants(os.__file__)
    assert not Filters(record_all=True).wants(framepeek.__file__)
    assert Filters(include=["*/os.py"]).wants("<frozen os>")
    assert not Filters(include=["*/os.py"]).wants("/home/me/project/app.py")
    assert not Filters(exclude=["*/project/*"]).wants("/home/me/project/app.py")


def test_filters_match_a_path_tail_and_say_why_not():
    # before: --include networkx/* or --include bug.py matched nothing (a
    # glob had to match the whole absolute path), silently
    f = Filters(include=["networkx/*", "bug.py", "nothing/*"], record_all=True)
    assert f.wants("/usr/lib/python3/site-packages/networkx/algorithms/dag.py")
    assert f.wants("/home/me/bug.py") and f.wants("bug.py")
    assert not f.wants("/home/me/notbug.py")            # a tail from a directory on, not any suffix
    assert not f.wants("/home/me/networkx.py")
    # component by component: a pattern's * does not reach into the
    # directories above the tail (nor does a project under test_env/ match test_*)
    m = Filters._matches
    for path, pat, want in [("/home/u/test_env/proj/app.py", "test_*", False), ("/home/u/proj/test_x.py", "test_*", True),
                            ("/home/me/app/.venv/lib/site-packages/x.py", "app/*.py", False),
                            ("/home/me/app/main.py", "app/*.py", True), ("/x/tests/a.py", "tests/*", True),
                            ("/a/b/c.py", "b/c.py", True), ("/a/b/c.py", "a/c.py", False),
                            ("/a/networkx/x/y.py", "networkx/**", True)]:
        assert m(path, path, pat) is want, (path, pat)
    assert f.reason("/home/me/notbug.py") == "not included"
    assert f.unmatched() == ["nothing/*"]
    assert Filters().reason(framepeek.__file__) == "own"
    import os
    assert Filters().reason(os.__file__) == "library" and Filters().reason("/home/me/app.py") is None
    assert Filters(exclude=["app.py"]).reason("/home/me/app.py") == "excluded"


def test_frame_state_byte_tells_suspension():
    framepeek.calibrate()

    async def ag():
        yield 1

    def g():
        yield 1

    gen, agen = g(), ag()
    assert framepeek.is_suspended(gen) is False
    next(gen)
    assert framepeek.is_suspended(gen) is True
    try:
        agen.__anext__().send(None)
    except StopIteration:
        pass
    assert framepeek.is_suspended(agen) is True


def test_caches_forget_code_objects_that_die(tmp_path):
    import gc
    from tracer.record import codecache

    def body():
        for i in range(300):
            ns: dict = {}
            exec(compile("def g():\n    yield %d\nlist(g())\n" % i, "<churn>", "exec"), ns)
        gc.collect()

    before = len(codecache._WATCHED)
    path = tmp_path / "churn.trace.jsonl"
    w = traceio.TraceWriter(str(path), {"format": "cotrace", "version": 1}, encode_value=repr)
    rec = backends.recorder_class(BACKEND)(w, Filters(), stderr=io.StringIO())
    rec.start()
    try:
        body()
    finally:
        footer = rec.stop()
    w.close(dict(footer, exit=0, error=None))
    assert footer["objects"] == 300                    # every generator was recorded
    assert len(codecache._WATCHED) - before < 30       # but their code is not kept
    decisions, resumers, actors = rec.machine.tables()
    assert len(decisions) < 60 and len(resumers) < 30 and len(actors) < 30
