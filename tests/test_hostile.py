"""A hostile traced program cannot crash, hang or fool cotrace: each test is
a defect a hostile tester found (issue "Nothing the traced program does can
crash ..."), run untraced and traced with both cores on this run's backend
(COTRACE_BACKEND; CI runs every backend), and the traced run must behave as
the untraced one and leave a readable trace."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import BACKEND, TRACE, _env, load_checked, record_in_process
from tracer.record import core as cores

CORES = ["python"] + (["c"] if cores.c_available()[0] else [])


def _same(cotrace, python, tmp_path, name: str, source: str, core: str, *options):
    """Run ``source`` untraced and traced; they must agree; the trace."""
    script = tmp_path / (name + ".py")
    script.write_text(textwrap.dedent(source))
    plain = python(script)
    run = cotrace("--core", core, "--no-diagrams", *options, script)
    assert (run.returncode, run.stdout, run.stderr) == (plain.returncode, plain.stdout, plain.stderr), run.stderr
    trace = load_checked(run.trace_path(name))
    assert trace.footer is not None and trace.footer.get("recorder_error") is None
    return trace


# the generator whose yielded value is being repr'd is resumed by that repr:
# untraced the repr never runs; traced it must get "generator already
# executing" (the generator is still in the middle of its yield), not
# re-enter a frame that is on the stack (SIGSEGV before the fix)
RESUMES_ITSELF = """
    class Evil:
        def __repr__(self):
            try:
                next(TARGET[0])
            except BaseException as e:
                return "Evil(%s)" % type(e).__name__
            return "Evil(stepped)"

    TARGET = []

    def gen():
        for i in range(40):
            yield Evil()
        yield "end"

    def outer():
        yield from gen()

    for g in (gen(), outer()):
        TARGET[:] = [g]
        print(sum(1 for v in g if type(v) is Evil))
"""


@pytest.mark.parametrize("core", CORES)
def test_a_repr_that_resumes_the_yielding_generator_gets_already_executing(cotrace, python, tmp_path, core):
    trace = _same(cotrace, python, tmp_path, "resumes", RESUMES_ITSELF, core)
    values = [e["value"] for e in trace.events if e["ev"] == "yield" and "Evil" in (e["value"] or "")]
    # 40 from gen() alone, then 40 from gen() inside outer() and the 40 outer() passes on
    assert len(values) == 120
    assert set(values) == {"Evil(ValueError)"}


RESUMES_COROUTINE = """
    import types

    class Evil:
        def __repr__(self):
            for target in TARGETS:
                try:
                    target.send(None)
                except BaseException as e:
                    return "Evil(%s)" % type(e).__name__
            return "Evil(none)"

    @types.coroutine
    def step():
        return (yield Evil())

    async def co():
        for i in range(30):
            await step()
        return "done"

    async def agen():
        for i in range(5):
            yield Evil()

    c = co()
    TARGETS = [c]
    n = 0
    try:
        while True:
            c.send(None)
            n += 1
    except StopIteration as stop:
        print(n, stop.value)

    async def consume():
        return [type(v).__name__ async for v in agen()]

    c2 = consume()
    TARGETS[:] = [c2]
    try:
        c2.send(None)
    except StopIteration as stop:
        print(stop.value)
"""


@pytest.mark.parametrize("core", CORES)
def test_a_repr_that_resumes_a_coroutine_mid_yield_gets_already_executing(cotrace, python, tmp_path, core):
    trace = _same(cotrace, python, tmp_path, "coro", RESUMES_COROUTINE, core)
    values = {e["value"] for e in trace.events if e["ev"] == "yield" and e["value"] and "Evil" in e["value"]}
    assert values == {"Evil(ValueError)"}


BASE_EXCEPTIONS = """
    class Boom(BaseException):
        pass

    class V:
        def __init__(self, exc):
            self.exc = exc

        def __repr__(self):
            raise self.exc

    def gen():
        for e in (KeyboardInterrupt, SystemExit(3), GeneratorExit, Boom("x"), ValueError) * 10:
            yield V(e)

    print(len(list(gen())), "done")
"""


@pytest.mark.parametrize("core", CORES)
def test_base_exceptions_raised_by_a_repr_become_placeholders(cotrace, python, tmp_path, core):
    trace = _same(cotrace, python, tmp_path, "base", BASE_EXCEPTIONS, core)
    values = [e["value"] for e in trace.events if e["ev"] == "yield"]
    assert values[:5] == ["<V object: repr raised %s>" % n
                          for n in ("KeyboardInterrupt", "SystemExit", "GeneratorExit", "Boom", "ValueError")]
    assert len(values) == 50 and len(set(values)) == 5


@pytest.mark.skipif(not hasattr(sys, "monitoring"), reason="sys.monitoring is 3.12+")
@pytest.mark.parametrize("core", CORES)
def test_the_program_freeing_cotraces_tool_id_leaves_a_whole_trace(cotrace, python, tmp_path, core):
    script = tmp_path / "freeid.py"
    script.write_text(textwrap.dedent("""
        import sys
        def gen():
            yield from range(5)
        print(sum(gen()))
        m = sys.monitoring
        for t in range(6):
            if m.get_tool(t) == "cotrace":
                m.free_tool_id(t)
                m.use_tool_id(t, "mine")   # and takes it: cotrace must leave it alone
        print(sum(gen()), [m.get_tool(t) for t in range(6)].count("mine"))
    """))
    # 3.13's close() hook needs an id with either backend; 3.12's settrace uses none
    uses_id = BACKEND == "monitoring" or sys.version_info >= (3, 13)
    run = cotrace("--core", core, "--no-diagrams", script)
    # (untraced there is no cotrace tool to free: the program only counts differently)
    assert (python(script).stdout, run.returncode, run.stdout, run.stderr) == \
        ("10\n10 0\n", 0, "10\n10 %d\n" % uses_id, "")
    trace = load_checked(run.trace_path("freeid"))
    assert trace.footer is not None and len(trace.events) >= 12  # the first gen() at least
    if uses_id:
        assert "freed cotrace's sys.monitoring tool id" in trace.footer["recorder_error"]
        # the summary (not quiet) says so
        run = cotrace("--core", core, "--no-diagrams", script, quiet=False)
        assert "incomplete: the program freed cotrace's sys.monitoring tool id" in run.stderr


# the program patches module attributes cotrace used to look up at run time
PATCHES = {
    "realpath": """
        from unittest import mock
        def gen():
            yield 1
            yield 2
        with mock.patch("os.path.realpath", side_effect=OSError("patched")):
            def fresh():      # a code object cotrace first sees under the patch
                yield from gen()
                yield 3
            print(list(fresh()))
    """,
    "getpid": """
        import os
        os.getpid = lambda: 1
        def gen():
            yield from range(3)
        print(list(gen()))
    """,
    "dumps": """
        import json
        json.dumps = lambda *a, **k: "not json"
        def gen():
            yield {"a": 1}
            yield [1, 2]
        print(list(gen()))
    """,
    "clock": """
        import time
        time.perf_counter_ns = lambda: 1.5
        time.perf_counter = lambda: "late"
        def gen():
            yield 1
            yield 2
        print(list(gen()))
    """,
    "weakref": """
        import weakref, functools
        weakref.ref = None
        functools.partial = None
        def gen():
            yield 1
            yield 2
        print(list(gen()))
    """,
}


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("patch", sorted(PATCHES))
def test_patched_library_functions_do_not_reach_cotrace(cotrace, python, tmp_path, patch, core):
    trace = _same(cotrace, python, tmp_path, "patched_" + patch, PATCHES[patch], core)
    evs = [e["ev"] for e in trace.events]
    assert evs[0] == "start" and evs.count("yield") >= 2 and evs[-1] == "return"
    assert all(type(e["t"]) is int for e in trace.events)


DEADLOCK = """
    import os, signal, threading
    lock = threading.Lock()

    class V:
        def __repr__(self):
            with lock:      # held by the suspended generator: blocks forever
                return "V"

    def gen():
        with lock:
            for i in range(5):
                yield V()

    print(sum(1 for v in gen()))
    try:                    # a real Ctrl-C afterwards still reaches the program
        os.kill(os.getpid(), signal.SIGINT)
        signal.pause() if False else [None for _ in range(10**6)]
    except KeyboardInterrupt:
        print("caught")
"""


@pytest.mark.parametrize("core", CORES)
def test_a_repr_blocked_on_a_lock_the_generator_holds_times_out(cotrace, python, tmp_path, core):
    # the watchdog's async exception cannot reach a thread blocked in C: in
    # the main thread a real SIGINT breaks the wait (turned into ReprTimeout
    # by the guard); after two timeouts the type is not repr'd again
    trace = _same(cotrace, python, tmp_path, "deadlock", DEADLOCK, core)
    values = [e["value"] for e in trace.events if e["ev"] == "yield" and "V object" in (e["value"] or "")]
    assert values == ["<V object: repr timed out>"] * 2 + ["<V object: repr timed out before>"] * 3


DEADLOCK_ELSEWHERE = """
    import contextvars, signal, sys, threading
    lock = threading.Lock()
    where = contextvars.ContextVar("where", default="?")

    class V:
        def __repr__(self):
            with lock:      # held by the suspended generator: blocks forever
                return "V"

    class W:                # a repr that may run: it sees the caller's context
        def __repr__(self):
            return "W(%s)" % where.get()

    def gen():
        yield W()
        with lock:
            for i in range(3):
                yield V()
        yield W()

    def work():
        where.set("in work")
        print(sum(1 for v in gen()))

    if sys.argv[1:] == ["thread"]:
        t = threading.Thread(target=work)
        t.start()
        t.join()
    else:               # the main thread, with the program's own SIGINT handler
        signal.signal(signal.SIGINT, lambda *a: print("handler"))
        work()
    print(threading.active_count())
"""


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("where", ["thread"])
def test_a_repr_blocked_where_no_signal_can_break_it_is_abandoned(cotrace, python, tmp_path, core, where):
    # before: in a thread other than main (and in the main thread while the
    # program handles SIGINT itself) the wait could not be broken: the
    # program hung forever (on 3.11 the watchdog's async exception for the
    # blocked thread also stalled every other traced thread)
    script = tmp_path / "elsewhere.py"
    script.write_text(textwrap.dedent(DEADLOCK_ELSEWHERE))
    args = ["thread"] if where == "thread" else []
    plain = python(script, *args)
    run = cotrace("--core", core, "--no-diagrams", script, *args)
    assert (run.returncode, run.stdout, run.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    trace = load_checked(run.trace_path("elsewhere"))
    values = [e["value"] for e in trace.events if e["ev"] == "yield" and trace.objects[e["obj"]]["name"] == "gen"]
    # the helper thread ran W's repr in the caller's context; V's timed out twice
    assert values == (["W(in work)"] + ["<V object: repr timed out>"] * 2 + ["<V object: repr timed out before>"]
                      + ["W(in work)"]), values
    assert {e["thread"] for e in trace.events} == ({"Thread-1 (work)"} if args else {"MainThread"})


def test_safe_path_leaves_sys_path_as_python_does(cotrace, python, tmp_path, monkeypatch):
    # python -P / PYTHONSAFEPATH=1 prepends nothing to sys.path; cotrace put
    # the script's directory there (and dropped its own first entry)
    script = tmp_path / "show.py"
    script.write_text("import sys\nprint(sys.path[:3])\n")
    monkeypatch.setenv("PYTHONSAFEPATH", "1")
    plain = python(script)
    run = cotrace("--no-diagrams", script)
    assert (run.returncode, run.stdout) == (plain.returncode, plain.stdout)
    assert str(tmp_path) not in run.stdout
    # -m: no current directory either, so the module is not found, as by python
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text("print('found')\n")
    plain = subprocess.run([sys.executable, "-m", "pkg.mod"], cwd=tmp_path, capture_output=True, text=True,
                           env=dict(os.environ, PYTHONSAFEPATH="1"))
    run = cotrace("--no-diagrams", "-m", "pkg.mod")
    assert plain.returncode == run.returncode == 1 and "No module named 'pkg'" in run.stderr


def test_a_symlink_at_the_trace_path_is_replaced_not_followed(cotrace, tmp_path):
    script = tmp_path / "prog.py"
    script.write_text("def g():\n    yield 1\n\nprint(list(g()))\n")
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("secret")
    trace = out / ("prog" + TRACE)
    trace.symlink_to(victim)
    run = cotrace("--no-diagrams", script)
    assert run.returncode == 0, run.stderr
    assert victim.read_text() == "secret"
    assert not trace.is_symlink() and load_checked(trace).footer is not None
    # a dangling link does not create its target
    trace.unlink()
    trace.symlink_to(tmp_path / "created")
    assert cotrace("--no-diagrams", script).returncode == 0
    assert not (tmp_path / "created").exists() and not trace.is_symlink()
    # a FIFO there would block the program: refused with one line
    trace.unlink()
    os.mkfifo(trace)
    try:
        run = cotrace("--no-diagrams", script, timeout=30)
        assert run.returncode != 0 and "not a regular file" in run.stderr and "Traceback" not in run.stderr
        # and as a trace to read, one line too (it blocked on open)
        run = cotrace("--events", trace, timeout=30)
        assert run.returncode != 0 and "not a regular file" in run.stderr and "Traceback" not in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1
    finally:
        trace.unlink()


def test_diagrams_honour_the_umask(cotrace, tmp_path):
    script = tmp_path / "prog.py"
    script.write_text("def g():\n    yield 'secret'\n\nprint(list(g()))\n")
    run = cotrace(script, umask=0o077)
    assert run.returncode == 0, run.stderr
    made = sorted(p for p in (tmp_path / "out").iterdir())
    assert any(p.name.endswith(".svg") for p in made)
    assert {oct(p.stat().st_mode & 0o777) for p in made} == {oct(0o600)}


def test_the_summary_line_spells_out_control_characters(cotrace, tmp_path):
    script = tmp_path / "evil\x1b[2Jname\x07.py"
    script.write_text("def g():\n    yield 1\n\nprint(list(g()))\n")
    run = cotrace("--no-diagrams", script, quiet=False)
    assert run.returncode == 0, run.stderr
    assert "\x1b" not in run.stderr and "\x07" not in run.stderr
    assert "evil\\u001b[2Jname\\u0007" in run.stderr


TERM_SELF = """
    import os, signal
    def gen():
        i = 0
        while True:
            yield i
            i += 1
    print("handler", signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, flush=True)
    for v in gen():
        if v == 3000:
            os.kill(os.getpid(), signal.SIGTERM)
    print("not reached")
"""


@pytest.mark.parametrize("core", CORES)
def test_sigterm_finishes_the_trace_and_the_process_dies_by_it(cotrace, python, tmp_path, core):
    script = tmp_path / "term.py"
    script.write_text(textwrap.dedent(TERM_SELF))
    plain = python(script)
    assert plain.returncode == -15
    run = cotrace("--core", core, "-f", "txt", script)
    assert (run.returncode, run.stdout, run.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    trace = load_checked(run.trace_path("term"))
    assert trace.footer["exit"] == -15 and trace.footer["error"] == "terminated by SIGTERM"
    assert len(trace.events) >= 6000
    assert (run.out_dir / "term.sequence.txt").exists()  # and the diagrams are drawn


def test_sigterm_from_outside_lands_anywhere_and_still_finishes_the_trace(tmp_path):
    from conftest import _env

    script = tmp_path / "busy.py"
    script.write_text(textwrap.dedent("""
        def gen():
            while True:
                yield [1, 2]
        print("running", flush=True)
        for v in gen():
            pass
    """))
    for attempt in range(3):
        out = tmp_path / ("out%d" % attempt)
        proc = subprocess.Popen([sys.executable, "-m", "tracer", "-q", "--no-diagrams", "-o", str(out), str(script)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
        assert proc.stdout.readline() == "running\n"
        import time
        time.sleep(0.2 + 0.3 * attempt)
        proc.terminate()
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == -15, stderr
        trace = load_checked(out / ("busy" + TRACE))
        assert trace.footer["exit"] == -15 and len(trace.events) > 100


@pytest.mark.parametrize("core", CORES)
def test_a_slow_program_killed_hard_loses_at_most_a_second_of_events(cotrace, tmp_path, core):
    # the batch is written when full or a second (by the events' clock) after
    # its first event: a kill -9 of a slow program used to lose every event
    script = tmp_path / "slow.py"
    script.write_text(textwrap.dedent("""
        import os, signal, time
        def gen():
            for i in range(4):
                yield i
        for v in gen():
            time.sleep(0.7)
        time.sleep(1.5)
        os.kill(os.getpid(), signal.SIGKILL)
    """))
    run = cotrace("--core", core, "--no-diagrams", script)
    assert run.returncode == -9
    trace = load_checked(run.trace_path("slow"))
    assert trace.footer is None
    assert len(trace.events) >= 8   # all but (at most) the events of its last second


@pytest.mark.parametrize("core", CORES)
def test_threads_of_thread_start_new_thread_are_recorded(cotrace, python, tmp_path, core):
    # threading.settrace does not reach them: the settrace backend missed them
    trace = _same(cotrace, python, tmp_path, "rawthr", """
        import _thread, time
        done = []
        def gen(n):
            for i in range(n):
                yield i
        def work(n, tag="x"):
            done.append((tag, sum(gen(n))))
        _thread.start_new_thread(work, (3,))
        _thread.start_new_thread(work, (4,), {"tag": "y"})
        while len(done) < 2:
            time.sleep(0.01)
        print(sorted(done), _thread.start_new_thread.__name__)
    """, core)
    gens = {e["obj"] for e in trace.events if trace.objects[e["obj"]]["name"] == "gen"}
    assert len(gens) == 2 and len(trace.events) == 18
    assert all(e["thread"].startswith("Thread-") for e in trace.events)  # no threading.Thread: named by ident


@pytest.mark.parametrize("core", CORES)
def test_the_repr_watchdog_is_not_recorded_as_a_thread_of_the_program(tmp_path, core):
    # the watchdog that interrupts a slow repr is started anew after each
    # pause in the reprs; it went through the settrace source's wrapper of
    # _thread.start_new_thread, was recorded as a thread of the program, and
    # one still sleeping kept the ended recording (its core) alive
    import time

    class Thing:
        def __repr__(self):
            return "<thing>"

    def body():
        def echo():
            while True:
                yield (yield)

        e = echo()
        next(e)
        for _ in range(4):
            e.send(Thing())
            time.sleep(0.05)   # longer than the watchdog's poll: it ends, and the next repr starts one

    trace = record_in_process(tmp_path, body, core=core)
    assert trace.threads_seen == 1
    assert {e["thread"] for e in trace.events} == {"MainThread"}


def _header_line() -> bytes:
    from tracer import traceio

    return json.dumps({"type": "header", "format": traceio.FORMAT_NAME, "version": 2, "python": "3.12.1",
                       "argv": ["x.py"], "started": "2026-01-01T00:00:00+00:00", "cotrace": "0.3.0",
                       "target": "x", "repr_limit": 200}).encode() + b"\n"


def test_reading_bad_trace_files_costs_bounded_memory_and_names_the_line(cotrace, tmp_path):
    # a gzip bomb: one line longer than the reader's bound (64 MiB)
    from tracer import traceio

    bomb = tmp_path / "bomb.trace.jsonl.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as fh:
        fh.write(_header_line())
        fh.write(b'{"type":"object","name":"' + b"a" * (traceio.MAX_LINE + 10) + b'"}\n')
    assert bomb.stat().st_size < 1_000_000
    # the same as a zstd bomb (its frame expands far more than the reader's
    # 1 MiB pieces: the decompressor must not hand over all of it at once)
    import zstandard

    zbomb = tmp_path / "zbomb.trace.jsonl.zst"
    with open(zbomb, "wb") as raw, zstandard.ZstdCompressor(level=1).stream_writer(raw) as fh:
        fh.write(_header_line() + b'{"type":"object","name":"')
        block = b"a" * (1 << 20)
        for _ in range(1024):  # one 1 GiB line in one frame
            fh.write(block)
    assert zbomb.stat().st_size < 1_000_000
    proc = subprocess.Popen([sys.executable, "-m", "tracer", "--events", str(zbomb)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=_env())
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 2 and b"longer than 64 MiB" in proc.stderr.read()
    proc.stderr.close()
    assert usage.ru_maxrss < 512 * 1024, "reading the zstd bomb took %d MiB" % (usage.ru_maxrss >> 10)
    for path in (bomb, zbomb):
        for args in (["--events", path], [path, "-f", "txt"]):
            run = cotrace(*args)
            assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr
            assert "%s:2:" % path.name in run.stderr and "longer than 64 MiB" in run.stderr
            assert len(run.stderr.strip().splitlines()) == 1
    # invalid UTF-8 is reported at its own line (a text reader decodes ahead)
    bad = tmp_path / "bad.trace.jsonl"
    obj = b'{"type":"object","id":1,"kind":"generator","name":"g","qualname":"g","file":"x.py","line":1,' \
          b'"label":"g#1"}\n'
    events = [b'{"seq":1,"t":0,"ev":"start","obj":1,"by":null,"line":1}\n']
    events += [b'{"seq":%d,"t":0,"ev":"%s","obj":1,"line":1}\n' % (seq, b"yield" if seq % 2 == 0 else b"resume")
               for seq in range(2, 3001)]
    bad.write_bytes(_header_line() + obj + b"".join(events)
                    + b'{"seq":3001,"t":0,"ev":"yield","obj":1,"value":"\xff","line":2}\n')
    run = cotrace("--events", bad)
    assert run.returncode != 0 and "bad.trace.jsonl:3003: not UTF-8 text" in run.stderr, run.stderr
    # a device is not a trace: refused at once, not read forever
    zero = tmp_path / "zero.trace.jsonl"
    zero.symlink_to("/dev/zero")
    run = cotrace("--events", zero, timeout=30)
    assert run.returncode != 0 and "not a regular file" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("core", CORES)
def test_a_generator_whose_finalization_fails_is_not_reported_suspended(cotrace, python, tmp_path, core):
    # close() at finalization answered by a yield ("generator ignored
    # GeneratorExit"): the object is gone right after, by refcount or by
    # the cycle collector
    script = tmp_path / "fin.py"
    script.write_text(textwrap.dedent("""
        import gc
        def g():
            try:
                yield 1
            finally:
                yield 2
        for i in range(20):
            x = g()
            next(x)
            del x
        y = g()
        next(y)
        cyc = [g()]
        next(cyc[0])
        cyc.append(cyc)
        del cyc, y
        gc.collect()
        print("done")
    """))
    import re

    def norm(text):
        return re.sub(r"0x[0-9a-f]+", "0x?", text)

    plain = python(script)
    run = cotrace("--core", core, "--no-diagrams", script)
    assert (run.returncode, run.stdout, norm(run.stderr)) == (plain.returncode, plain.stdout, norm(plain.stderr))
    assert plain.stderr.count("generator ignored GeneratorExit") == 22
    trace = load_checked(run.trace_path("fin"))
    assert trace.footer["suspended"] == []
    assert sum(1 for e in trace.events if e["ev"] == "yield" and e["value"] == "2") == 22


CHAINING_TRACER = """
    import sys
    lines = []
    old = sys.gettrace()
    def mine(frame, event, arg):
        if old is not None:
            old(frame, event, arg)     # chains to whatever was there (cotrace)
        if frame.f_code.co_name == "gen":
            def local(frame, event, arg):
                if event == "line":
                    lines.append(frame.f_lineno)
                return local
            return local
        return None
    def gen():
        a = 1
        yield a
        b = 2
        yield b
    sys.settrace(mine)
    print(list(gen()))
    sys.settrace(old)
    print(lines)
"""


@pytest.mark.skipif(BACKEND != "settrace", reason="the settrace backend's frames")
@pytest.mark.parametrize("core", CORES)
def test_a_chaining_tracer_keeps_its_line_events_in_generator_frames(cotrace, python, tmp_path, core):
    trace = _same(cotrace, python, tmp_path, "chain", CHAINING_TRACER, core)
    assert [e["ev"] for e in trace.events if trace.objects[e["obj"]]["name"] == "gen"][:2] == ["start", "yield"]


def test_the_event_listing_streams(cotrace, tmp_path):
    # --events held the whole trace in memory (about 1.26 GB per million events)
    import resource

    script = tmp_path / "many.py"
    script.write_text("def g():\n    while True:\n        yield 1\n\nit = g()\nfor i in range(250000):\n    next(it)\n")
    run = cotrace("--no-diagrams", script)
    assert run.returncode == 0, run.stderr
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    from conftest import _env

    with open(tmp_path / "listing.txt", "w") as out:
        proc = subprocess.run([sys.executable, "-m", "tracer", "--events", str(run.trace_path("many"))],
                              stdout=out, stderr=subprocess.PIPE, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    with open(tmp_path / "listing.txt") as fh:
        n = sum(1 for _ in fh)
    assert n == load_checked(run.trace_path("many")).footer["events"] + 2 >= 500000  # header, events, footer
    assert peak_mib < 150 or peak_mib <= before / 1024   # (the largest child so far counts: see bench/run.py)


def test_a_run_owns_its_trace_until_its_drawing_ends(tmp_path):
    # the second run of the same program started while the first one's
    # drawing child still read the trace, truncated it and drew from it
    from conftest import _env

    script = tmp_path / "prog.py"
    script.write_text("import sys\ndef g():\n    yield from range(int(sys.argv[1]))\nprint(sum(g()))\n")
    out = tmp_path / "out"
    # 200k events: drawing them takes seconds, the second run needs a fraction of one to open its trace
    first = subprocess.Popen([sys.executable, "-m", "tracer", "-q", "-f", "svg,txt", "-o", str(out), str(script),
                              "100000"], env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    import fcntl
    import time
    deadline = time.monotonic() + 60
    from tracer import traceio

    # (the footer seen from the file's end: loading 200k events to look took
    # long enough, on a loaded machine, for the drawing to end meanwhile)
    while not (out / ("prog" + TRACE)).exists() or traceio.read_tail(str(out / ("prog" + TRACE))) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # recorded, now drawing: the trace is still locked
    with open(out / ("prog" + TRACE), "rb") as fh:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    second = subprocess.run([sys.executable, "-m", "tracer", "-q", "-f", "txt", "-o", str(out), str(script), "5"],
                            env=_env(), capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert first.wait(timeout=120) == 0, first.stderr.read()
    # the second took another name; the first trace and its drawing are whole
    assert len(load_checked(out / ("prog" + TRACE)).events) == 200002
    assert len(load_checked(out / ("prog-2" + TRACE)).events) == 12
    assert (out / "prog.sequence.svg").exists() and (out / "prog-2.sequence.txt").exists()


def test_source_lines_are_read_only_from_regular_files_of_bounded_size(tmp_path):
    # a crafted trace names the files whose lines label the state graph: a
    # FIFO blocked the drawing, /dev/zero was read until memory ran out
    from tracer import model

    fifo = tmp_path / "fifo.py"
    os.mkfifo(fifo)
    big = tmp_path / "big.py"
    with open(big, "wb") as fh:
        fh.truncate(model.MAX_SOURCE + 1)
    good = tmp_path / "good.py"
    good.write_text("x = 1\ny = (yield x)  # a comment\n")
    assert model.source_line(str(fifo), 1) == ""
    assert model.source_line("/dev/zero", 1) == ""
    assert model.source_line(str(big), 1) == ""
    assert model.source_line(str(good), 2) == "y = (yield x)"
    # only Python source: not a private file, nor a .py link to one
    secret = tmp_path / "secret.txt"
    secret.write_text("password = hunter2\n")
    disguised = tmp_path / "disguised.py"
    disguised.symlink_to(secret)
    assert model.source_line(str(secret), 1) == "" and model.source_line(str(disguised), 1) == ""
    assert model.source_line("/etc/passwd", 1) == ""
    # a relative name is looked up in the recorded working directory
    assert model.source_line("good.py", 2, cwd=str(tmp_path)) == "y = (yield x)"


def test_a_crafted_trace_cannot_put_a_private_file_into_the_state_graph(cotrace, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOKEN_LINE_ONE\nTOKEN_LINE_TWO\n")
    trace = tmp_path / "crafted.trace.jsonl"
    records = [json.loads(_header_line()),
               {"type": "object", "id": 1, "kind": "generator", "name": "g", "qualname": "g", "file": str(secret),
                "line": 1, "label": "g#1"},
               {"seq": 1, "ev": "start", "obj": 1, "line": 1}, {"seq": 2, "ev": "yield", "obj": 1, "line": 2}]
    trace.write_text("".join(json.dumps(r) + "\n" for r in records))
    run = cotrace("-f", "txt,dot", trace)
    assert run.returncode == 0, run.stderr
    drawn = "".join(p.read_text() for p in (tmp_path / "out").iterdir())
    assert "line 2" in drawn and "TOKEN_LINE" not in drawn


def test_a_trace_redrawn_from_another_directory_keeps_its_source_lines(cotrace, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "prog.py").write_text("def g():\n    x = yield 1  # here\n\nfor _ in g():\n    pass\n")
    run = cotrace("--no-diagrams", "prog.py", cwd=project, out=tmp_path / "traces")
    assert run.returncode == 0, run.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = cotrace("-f", "txt", tmp_path / "traces" / ("prog" + TRACE), cwd=elsewhere)
    assert again.returncode == 0, again.stderr
    assert "x = yield 1" in (again.out_dir / "prog.states.txt").read_text()


# The trace's file stops taking data part-way (a full disk; here a file
# size limit, which fails the same way, with EFBIG instead of ENOSPC), then
# takes it again.  Before the fix the footer was appended to the partial
# batch ("line N: not a JSON line") and the summary counted events that
# were never written.
DISK_FULL = """
    import os, resource, signal, sys
    trace = sys.argv[1]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # EFBIG instead of a signal
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

    def gen():
        while True:
            yield

    g = gen()
    next(g)
    for i in range(5000):
        g.send(i)
    while not os.path.exists(trace) or os.path.getsize(trace) < 1000:
        g.send(0)
    resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(trace) + 3000, hard))   # the disk is full
    for i in range(20000):
        g.send(i)
    if sys.argv[2:] != ["stays-full"]:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))   # space again
    else:   # not even the footer fits
        resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(trace), hard))
    for i in range(5000):
        g.send(i)
    print("done")
"""


@pytest.mark.parametrize("core,codec", [(core, "zstd") for core in CORES] + [(CORES[-1], "gzip"), (CORES[-1], "none")])
def test_a_full_disk_leaves_a_readable_prefix_and_the_summary_counts_what_is_on_disk(cotrace, tmp_path, core, codec):
    from tracer import traceio

    script = tmp_path / "full.py"
    script.write_text(textwrap.dedent(DISK_FULL))
    trace_path = tmp_path / "out" / ("full" + traceio.SUFFIXES[codec])
    run = cotrace("--core", core, "--codec", codec, "-f", "txt", script, trace_path, quiet=False)
    assert run.returncode == 0 and run.stdout == "done\n", run.stderr
    assert "cotrace: warning: cannot write the trace %s (File too large); recording stopped, the program runs on" \
        % trace_path in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
    trace = load_checked(str(trace_path))   # readable, and the order holds: a prefix of the run
    assert trace.footer is not None, trace.warnings
    n = len(trace.events)
    assert 5000 < n < 25000 and trace.footer["events"] == n
    error = trace.footer["recorder_error"]
    assert error.startswith("cannot write the trace (File too large): recording stopped after event %d (" % n), error
    assert not trace.footer.get("limit_reached") and trace.footer["dropped"] == 0
    assert trace.footer["suspended"] == [1]   # the generator, still suspended at the end, is in the file
    summary = [line for line in run.stderr.splitlines() if line.startswith("cotrace: %d events" % n)]
    assert summary and "incomplete: cannot write the trace (File too large)" in summary[0], run.stderr
    assert (tmp_path / "out" / "full.sequence.txt").exists()


def test_a_disk_full_to_the_end_leaves_whole_batches_and_no_footer(cotrace, tmp_path):
    from tracer import traceio

    script = tmp_path / "full.py"
    script.write_text(textwrap.dedent(DISK_FULL))
    trace_path = tmp_path / "out" / "full.trace.jsonl.zst"
    run = cotrace("-f", "txt", script, trace_path, "stays-full", quiet=False)
    assert run.returncode == 0 and run.stdout == "done\n", run.stderr
    assert "cotrace: warning: the trace %s has no footer: File too large" % trace_path in run.stderr, run.stderr
    trace = traceio.load(str(trace_path))
    assert trace.footer is None and 5000 < len(trace.events) < 25000
    assert [w for w in trace.warnings if "no footer" in w] and not [w for w in trace.warnings if "truncated" in w]
    assert (tmp_path / "out" / "full.sequence.txt").exists() and "Traceback" not in run.stderr


CHILDREN = """
    import os, subprocess, sys, multiprocessing as mp

    def gen():
        yield 1
        yield 2

    def work(x):
        return sum(gen()) + x

    if __name__ == "__main__":
        print(list(gen()))
        pid = os.fork()
        if pid == 0:
            print("child", list(gen()))
            sys.stdout.flush()
            os._exit(0)
        os.waitpid(pid, 0)
        print(subprocess.run([sys.executable, "-c", "print('sub')"], capture_output=True, text=True).stdout.strip())
        with mp.get_context("fork").Pool(2) as pool:
            print(pool.map(work, [1, 2]))
        os.system("true")
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-c", "print('exec ok')"])
"""


@pytest.mark.parametrize("core", CORES)
def test_child_processes_are_counted_and_exec_finishes_the_trace_first(cotrace, python, tmp_path, core):
    # before: nothing said children ran unrecorded, and os.execv left a
    # trace without its footer (and without its last batch)
    script = tmp_path / "kids.py"
    script.write_text(textwrap.dedent(CHILDREN))
    plain = python(script)
    run = cotrace("--core", core, "-f", "txt", script, quiet=False)
    assert (run.returncode, run.stdout) == (plain.returncode, plain.stdout) and "exec ok" in run.stdout, run.stderr
    trace = load_checked(run.trace_path("kids"))
    assert trace.footer is not None and trace.footer["error"] == "replaced by os.exec*" and trace.footer["exit"] is None
    # os.fork and the Pool's two workers are recorded, each into its own
    # trace; subprocess.run and os.system are counted
    assert trace.footer["children"] == {"subprocess": 1, "shell": 1}
    assert len(trace.events) == 6   # the parent's own list(gen()): the children's events are not in it
    assert "2 child processes not recorded (shell 1, subprocess 1)" in run.stderr
    assert (run.out_dir / "kids.sequence.txt").exists()
    children = trace.footer["child_traces"]
    assert len(children) == 3 and "3 forked child processes recorded in" in run.stderr
    one = ["start", "yield", "resume", "yield", "resume", "return"]   # list(gen())
    total = 0
    for name in children:
        child = load_checked(run.out_dir / name)
        pid = int(name.split(".pid")[1].split(".")[0])
        assert child.header["pid"] == pid and child.header["parent"]["trace"] == "kids" + TRACE
        # (a Pool worker ends by os._exit, or by SIGTERM when the pool's
        # with-block terminates it first)
        assert child.footer is not None and child.footer["exit"] in (0, -15), child.footer
        kinds = [e["ev"] for e in child.events]
        assert kinds == one * (len(kinds) // 6)   # (one worker may have run both tasks)
        total += len(kinds)
        assert (run.out_dir / name.replace(TRACE, ".sequence.txt")).exists()   # drawn too
    assert total == 3 * 6


def test_a_forked_child_is_finished_with_sigterm_blocked_from_the_start():
    # before: finish_child took the child and only then blocked SIGTERM; a
    # Pool's SIGTERM handled in between (the worker was leaving by
    # os._exit) found no child left to finish, and the worker died without
    # its footer (seen in CI: 3.13, settrace)
    import signal
    from tracer.record.saferepr import SafeRepr
    from tracer.session import ForkRecorder

    reads: list = []            # SIGTERM blocked at each read of the child
    blocked_when_taken: list = []   # ... when it was taken (set to None)

    def blocked() -> bool:
        return signal.SIGTERM in signal.pthread_sigmask(signal.SIG_BLOCK, ())

    class Watched(ForkRecorder):
        @property
        def child(self):
            reads.append(blocked())
            return self.__dict__.get("_child")

        @child.setter
        def child(self, value):
            if value is None and "_child" in self.__dict__:
                # the read that decided to take it, and the taking
                blocked_when_taken.append(reads[-1] and blocked())
            self.__dict__["_child"] = value

    class Recorder:
        def stop(self):
            return {"events": 6, "dropped": 0, "suspended": 0, "running": 0, "objects": 1,
                    "limit_reached": None, "lost": 0, "recorder_error": None, "children": None}

    class Writer:
        footer = None

        def close(self, footer):
            Writer.footer = footer

    forks = Watched(None, None, {}, "kids.trace.jsonl", "python", sys.stderr)
    forks.child = (os.getpid(), Writer(), Recorder(), SafeRepr(100))
    assert forks.finish_child(0, None) is True
    assert Writer.footer is not None and Writer.footer["exit"] == 0
    assert blocked_when_taken == [True], (blocked_when_taken, reads)
    assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, ())   # and unblocked after
    assert forks.finish_child(0, None) is False   # once


SPAWNED = """
    import multiprocessing as mp, _posixsubprocess, subprocess, sys

    def gen(n):
        yield from range(n)

    def work(x):
        return sum(gen(x))

    if __name__ == "__main__":
        for method in ("spawn", "forkserver"):
            ctx = mp.get_context(method)
            p = ctx.Process(target=work, args=(3,))
            p.start()
            p.join()
            with ctx.Pool(2) as pool:
                print(method, p.exitcode, pool.map(work, [1, 2, 3]))
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        print(_posixsubprocess.fork_exec.__name__, list(gen(2)))
"""


@pytest.mark.parametrize("core", CORES)
def test_spawned_and_forkserver_children_are_counted(cotrace, python, tmp_path, core):
    # before: multiprocessing's spawn and forkserver processes raise no audit
    # event, and nothing said they ran unrecorded
    trace = _same(cotrace, python, tmp_path, "spawned", SPAWNED, core)
    # a Process and a Pool of two by each method; the forkserver itself and
    # the resource tracker are helpers; subprocess.run is counted once
    assert trace.footer["children"] == {"multiprocessing spawn": 3, "multiprocessing forkserver": 3,
                                        "multiprocessing helper": 2, "subprocess": 1}
    assert [e["ev"] for e in trace.events] == ["start", "yield", "resume", "yield", "resume", "return"]  # gen(2)
    run = cotrace("--core", core, "--no-diagrams", tmp_path / "spawned.py", quiet=False)
    assert ("9 child processes not recorded (multiprocessing forkserver 3, multiprocessing helper 2, "
            "multiprocessing spawn 3, subprocess 1)") in run.stderr


FORK_ENDINGS = """
    import os, time, multiprocessing as mp

    def gen(n):
        for i in range(n):
            yield i

    def slow(x):
        for _ in gen(3):
            pass
        time.sleep(30)

    if __name__ == "__main__":
        pid = os.fork()
        if pid == 0:
            print("child", sum(gen(4)))       # goes on through the rest of the program
        else:
            os.waitpid(pid, 0)
            pool = mp.get_context("fork").Pool(1)
            pool.apply_async(slow, (1,))
            time.sleep(1.0)
            pool.terminate()                    # SIGTERM to the worker, mid-task
            pool.join()
            print("parent", sum(gen(2)))
"""


@pytest.mark.parametrize("core", CORES)
def test_forked_children_are_recorded_however_they_end(cotrace, python, tmp_path, core):
    trace = _same(cotrace, python, tmp_path, "endings", FORK_ENDINGS, core)
    assert [e["ev"] for e in trace.events] == ["start", "yield", "resume", "yield", "resume", "return"]
    children = [load_checked(tmp_path / "out" / name) for name in trace.footer["child_traces"]]
    ends = sorted((c.footer["exit"], c.footer["error"], len(c.events)) for c in children)
    # the fork child ran to its end (exit 0, gen(4): 10 events); the Pool
    # worker died by SIGTERM after gen(3) (8 events)
    assert ends == [(-15, "terminated by SIGTERM", 8), (0, None, 10)]


DEEP = """
    import sys

    def g(n):
        if n == 0:
            yield 0
        else:
            yield from g(n - 1)

    def depth():
        f, n = sys._getframe(), 0
        while f is not None:
            f, n = f.f_back, n + 1
        return n

    print(sys.getrecursionlimit(), list(g(50)))
    print(list(g(5000)))
"""


@pytest.mark.skipif(not cores.c_available()[0], reason="the C core is not built here")
def test_deep_recursion_ends_where_it_ends_untraced(cotrace, python, tmp_path):
    # before: the program's RecursionError came 5-8 frames early (cotrace's
    # frames lie below its first one), on 3.12 monitoring out of cotrace's
    # own handler (with its frames in the traceback, chained), and on 3.11
    # with another message; the recording lost events or was switched off
    script = tmp_path / "deep.py"
    script.write_text(textwrap.dedent(DEEP))
    plain = python(script)
    run = cotrace("--core", "c", "--no-diagrams", script)
    assert run.returncode == plain.returncode == 1 and run.stdout == plain.stdout
    assert "tracer" not in run.stderr and run.stderr.splitlines()[-1] == plain.stderr.splitlines()[-1]
    if sys.version_info >= (3, 12) or BACKEND != "settrace":
        assert run.stderr == plain.stderr
    # (3.11's settrace calls the trace function through PyObject_Call, which
    # counts a level before cotrace's code runs: the error comes 2 frames
    # early there, at a frame's first line)
    trace = load_checked(run.trace_path("deep"))
    assert trace.footer.get("recorder_error") is None and not trace.footer.get("lost")
    started = {e["obj"] for e in trace.events if e["ev"] == "start"}
    ended = {e["obj"] for e in trace.events if e["ev"] in ("return", "raise")}
    assert started == ended and len(started) > 900 + 51   # every generator's end is there, none lost


THREAD_RAISE = """
    import threading

    def f0(a):
        yield 0
        raise KeyError(0)

    def step(g):
        try:
            print(next(g))
        except Exception as e:
            print(type(e).__name__)

    def drive():
        g = f0(0)
        step(g); step(g); step(g)

    t = threading.Thread(target=drive)
    t.start()
    t.join()
    drive()
"""


@pytest.mark.parametrize("core", CORES)
def test_an_exception_leaving_a_generator_in_a_thread_follows_its_resumption(cotrace, python, tmp_path, core):
    # found by tests/test_properties.py: with the C core on sys.monitoring,
    # PY_UNWIND went to a Python callback that made the thread a second
    # thread state, so the resumption it held back was never written
    # (start, yield, raise: the reader refuses that trace)
    trace = _same(cotrace, python, tmp_path, "thread_raise", THREAD_RAISE, core)
    for thread in ("Thread-1 (drive)", "MainThread"):
        assert [e["ev"] for e in trace.events if e["thread"] == thread] == ["start", "yield", "resume", "raise"]


PROFILER = """
    import atexit, sys

    seen = []

    def prof(frame, event, arg):
        seen.append((event, frame.f_code.co_filename, frame.f_code.co_name))

    def report():
        sys.setprofile(None)
        ours = sorted({name for _, path, name in seen if "tracer" + "/" in path or path.endswith("cotrace")})
        print("first", [e[0] + " " + e[2] for e in seen[:2]])
        print("cotrace's", ours)

    atexit.register(report)
    sys.setprofile(prof)

    def g():
        yield 1

    print(list(g()))
"""


@pytest.mark.parametrize("core", CORES)
def test_a_profiler_the_program_leaves_on_sees_none_of_cotraces_code(cotrace, python, tmp_path, core):
    # before: about 190 calls of cotrace's own functions (finishing the
    # trace, drawing) reached the program's profiler after its code ended
    script = tmp_path / "prof.py"
    script.write_text(textwrap.dedent(PROFILER))
    plain = python(script)
    run = cotrace("--core", core, "-f", "txt", script)
    assert run.returncode == 0 and "cotrace's []" in plain.stdout, plain.stdout
    lines = run.stdout.splitlines()
    # what remains: the runner's frame that ran the program's code, which
    # sees exec() return and sets the profiler aside (its c_call events)
    assert lines[0] == "[1]" and lines[-1] == "cotrace's ['_execute']", run.stdout
    if sys.version_info < (3, 13):
        # (3.13 reports setprofile's own c_return to the new profiler when
        # sys.monitoring is in use, which cotrace cannot prevent)
        assert lines[1] == plain.stdout.splitlines()[1]


OWN_TRACER = """
    import sys

    def g():
        yield 1

    def mine(frame, event, arg):
        return None

    print(sum(g()))
    sys.settrace(mine)
    print(sum(g()))
"""

STARTS_COVERAGE = """
    import coverage

    def g():
        yield 1

    print(sum(g()))
    cov = coverage.Coverage(data_file=None)
    cov.start()
    print(sum(g()))
    cov.stop()
"""


def test_a_tracer_that_replaces_cotraces_says_who_and_what_to_do(cotrace, tmp_path):
    # before: "tracing was switched off or replaced", naming neither who
    # did it nor what to do (under pytest-cov on 3.11: 0 events)
    script = tmp_path / "own.py"
    script.write_text(textwrap.dedent(OWN_TRACER))
    run = cotrace("--no-diagrams", script, quiet=False)
    assert run.returncode == 0 and run.stdout == "1\n1\n"
    trace = load_checked(run.trace_path("own"))
    if BACKEND == "settrace":
        # (known at the end: a tracer of the program's may chain to cotrace's)
        assert "cotrace: warning" not in run.stderr
        assert "incomplete: tracing was replaced in the main thread by a trace function of the program's code " \
               "(__main__)" in run.stderr, run.stderr
        assert "by a trace function of the program's code (__main__)" in trace.footer["recorder_error"]
        assert len(trace.events) == 4
    else:   # sys.monitoring does not care
        assert "warning" not in run.stderr and len(trace.events) == 8
    coverage = pytest.importorskip("coverage")
    script = tmp_path / "cov.py"
    script.write_text(textwrap.dedent(STARTS_COVERAGE))
    run = cotrace("--no-diagrams", script, quiet=False)
    assert run.returncode == 0 and run.stdout == "1\n1\n"
    if BACKEND == "settrace" and not os.environ.get("COVERAGE_CORE"):
        assert "cotrace: warning: coverage.py (coverage." in run.stderr and "pytest --no-cov" in run.stderr
    # coverage run -m tracer: its tracer is set aside, and cotrace says so
    prog = tmp_path / "prog.py"
    prog.write_text("def g():\n    yield 1\nprint(sum(g()))\n")
    proc = subprocess.run([sys.executable, "-m", "coverage", "run", "--data-file", str(tmp_path / "cov.data"),
                           "-m", "tracer", "-q", "--no-diagrams", "-o", str(tmp_path / "out2"), str(prog)],
                          cwd=tmp_path, capture_output=True, text=True, env=_env(), timeout=120)
    assert proc.returncode == 0 and proc.stdout == "1\n", proc.stderr
    if BACKEND == "settrace" and coverage.version_info >= (7,):
        assert "a trace function of coverage.py" in proc.stderr and "--backend monitoring" in proc.stderr


PROCESS_POOL = """
    import concurrent.futures as cf
    import multiprocessing as mp

    def squares(n):
        for i in range(n):
            yield i * i

    def total(n):
        return sum(squares(n))

    if __name__ == "__main__":
        with cf.ProcessPoolExecutor(2, mp_context=mp.get_context("fork")) as ex:
            print(sorted(ex.map(total, [3, 4, 5])))
"""


def test_a_process_pool_executor_is_recorded_end_to_end(cotrace, python, tmp_path):
    trace = _same(cotrace, python, tmp_path, "ppe", PROCESS_POOL, CORES[-1])
    assert trace.events == [] and len(trace.footer["child_traces"]) == 2
    children = [load_checked(tmp_path / "out" / name) for name in trace.footer["child_traces"]]
    # squares(3), (4), (5) in the workers: start, n yields, n resumes, return each
    assert sum(len(c.events) for c in children) == 8 + 10 + 12
    assert all(c.footer is not None for c in children)



GUARD_DECIDES = """
    import signal, types
    from tracer.record import guards

    def frame_in(path):
        return types.SimpleNamespace(f_code=types.SimpleNamespace(co_filename=path), f_back=None)

    hook = frame_in(guards._RECORD_DIR + "machine.py")
    for busy in (True, False):
        guard = guards.SigintGuard(lambda: True, lambda busy=busy: busy)
        done = []
        guard._terminate = lambda: done.append("now")
        guard.install()
        handler = signal.getsignal.__wrapped__(signal.SIGTERM)   # the real one, not what the program is told
        handler(signal.SIGTERM, hook)
        print("busy" if busy else "idle", done, guard.deferred)
        guard.remove()
"""


def test_a_sigterm_in_cotraces_code_outside_an_event_is_not_postponed(tmp_path):
    # postponed, it would wait for the end of an event that may never come
    # (a SIGTERM landing in cotrace's gc callback while the program then
    # sleeps): only inside an event of this thread, which delivers it as
    # it returns, is it postponed
    script = tmp_path / "guard.py"
    script.write_text(textwrap.dedent(GUARD_DECIDES))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=_env(), timeout=60)
    assert proc.stdout.splitlines() == ["busy [] True", "idle ['now'] False"], proc.stderr

