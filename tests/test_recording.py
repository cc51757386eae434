"""Recorder requirements, each checked on a real traced program."""
import pytest
from conftest import PROGRAMS, simple


from tracer import compat


def test_sent_values_from_every_yield_position(cotrace):
    run = cotrace(PROGRAMS / "positions.py")
    assert run.returncode == 0, run.stderr
    events = simple(run.trace("positions"))
    resumes = {}
    for obj, ev, _by, via, value in events:
        if ev == "resume":
            resumes.setdefault(obj, []).append((via, value))
    assert resumes == {
        "assign#1": [("send", "'hello'")],                     # x = yield
        "augmented#1": [("send", "10"), ("send", "32")],       # total += yield total
        "as_arguments#1": [("send", "'first'"), ("send", "'second'")],  # f((yield a), (yield b))
        "bare#1": [("send", "['discarded', 1]")],              # bare yield statement
        "in_expression#1": [("send", "21"), ("send", "3.5")],  # inside list and dict displays
    }
    assert ("augmented#1", "yield", "<module>", None, "42") in events
    assert ("as_arguments#1", "return", "<module>", None, "('first', 'second')") in events
    assert ("in_expression#1", "return", "<module>", None, "[42, {'k': 3.5}]") in events


CHAINS = [
    # throw() passed down a yield-from chain: outer is never entered
    ("outer#1", "start", "throw_through", "next", None, False),
    ("inner#1", "start", "outer#1", "yield from", None, False),
    ("inner#1", "yield", "outer#1", None, "'i1'", False),
    ("outer#1", "yield", "throw_through", None, "'i1'", False),
    ("outer#1", "throw", "throw_through", "throw", "ValueError('v')", True),
    ("inner#1", "throw", "outer#1", "throw", "ValueError('v')", False),
    ("inner#1", "yield", "outer#1", None, "'caught'", False),
    ("outer#1", "yield", "throw_through", None, "'caught'", True),
    ("outer#1", "close", "throw_through", "close", None, True),
    ("inner#1", "close", "outer#1", "close", None, False),
    ("inner#1", "return", "outer#1", None, None, False),
    ("outer#1", "return", "throw_through", None, None, False),
    # close() passed down
    ("outer#2", "start", "close_through", "next", None, False),
    ("inner#2", "start", "outer#2", "yield from", None, False),
    ("inner#2", "yield", "outer#2", None, "'i1'", False),
    ("outer#2", "yield", "close_through", None, "'i1'", False),
    ("outer#2", "close", "close_through", "close", None, True),
    ("inner#2", "close", "outer#2", "close", None, False),
    ("inner#2", "return", "outer#2", None, None, False),
    ("outer#2", "return", "close_through", None, None, False),
    # the garbage collector finalizes the outer generator
    ("outer#3", "start", "gc_through", "next", None, False),
    ("inner#3", "start", "outer#3", "yield from", None, False),
    ("inner#3", "yield", "outer#3", None, "'i1'", False),
    ("outer#3", "yield", "gc_through", None, "'i1'", False),
    ("outer#3", "close", "<gc>", "gc", None, True),
    ("inner#3", "close", "outer#3", "gc", None, False),
    ("inner#3", "return", "outer#3", None, None, False),
    ("outer#3", "return", "<gc>", None, None, False),
    # close() of a generator suspended outside any try (3.13 skips the frame)
    ("plain#1", "start", "close_plain", "next", None, False),
    ("plain#1", "yield", "close_plain", None, "1", False),
    ("plain#1", "close", "close_plain", "close", None, compat.CLOSE_MAY_SKIP_FRAME),
    ("plain#1", "return", "close_plain", None, None, compat.CLOSE_MAY_SKIP_FRAME),
    ("plain#2", "start", "gc_plain", "next", None, False),
    ("plain#2", "yield", "gc_plain", None, "1", False),
    ("plain#2", "close", "<gc>", "gc", None, compat.CLOSE_MAY_SKIP_FRAME),
    ("plain#2", "return", "<gc>", None, None, compat.CLOSE_MAY_SKIP_FRAME),
    # throw() into a generator that never ran
    ("plain#3", "start", "throw_unstarted", "throw", "KeyError('early')", False),
    ("plain#3", "raise", "throw_unstarted", None, "KeyError('early')", False),
    # close() passed down to a generator that 3.13 closes without running it
    ("outer_plain#1", "start", "close_through_plain", "next", None, False),
    ("plain#4", "start", "outer_plain#1", "yield from", None, False),
    ("plain#4", "yield", "outer_plain#1", None, "1", False),
    ("outer_plain#1", "yield", "close_through_plain", None, "1", False),
    ("outer_plain#1", "close", "close_through_plain", "close", None, not compat.CLOSE_MAY_SKIP_FRAME),
    ("plain#4", "close", "outer_plain#1", "close", None, compat.CLOSE_MAY_SKIP_FRAME),
    ("plain#4", "return", "outer_plain#1", None, None, compat.CLOSE_MAY_SKIP_FRAME),
    ("outer_plain#1", "return", "close_through_plain", None, None, False),
    ("outer_plain#2", "start", "gc_through_plain", "next", None, False),
    ("plain#5", "start", "outer_plain#2", "yield from", None, False),
    ("plain#5", "yield", "outer_plain#2", None, "1", False),
    ("outer_plain#2", "yield", "gc_through_plain", None, "1", False),
    ("outer_plain#2", "close", "<gc>", "gc", None, not compat.CLOSE_MAY_SKIP_FRAME),
    ("plain#5", "close", "outer_plain#2", "gc", None, compat.CLOSE_MAY_SKIP_FRAME),
    ("plain#5", "return", "outer_plain#2", None, None, compat.CLOSE_MAY_SKIP_FRAME),
    ("outer_plain#2", "return", "<gc>", None, None, False),
    # close() through a bound method under another name
    ("plain#6", "start", "closer_alias", "next", None, False),
    ("plain#6", "yield", "closer_alias", None, "1", False),
    ("plain#6", "close", "closer_alias", "close", None, compat.CLOSE_MAY_SKIP_FRAME),
    ("plain#6", "return", "closer_alias", None, None, compat.CLOSE_MAY_SKIP_FRAME),
]


def test_throw_close_gc_through_delegation_chains(cotrace):
    run = cotrace(PROGRAMS / "chains.py")
    assert run.returncode == 0, run.stderr
    assert simple(run.trace("chains"), with_synthetic=True) == CHAINS


def test_threads_each_record_their_generators(cotrace):
    run = cotrace(PROGRAMS / "threads.py")
    assert run.returncode == 0, run.stderr
    trace = run.trace("threads")
    by_thread = {}
    label = {o["id"]: o["label"] for o in trace.objects.values()}
    for e in trace.events:
        by_thread.setdefault(e["thread"], set()).add(label[e["obj"]])
        # one actor per code object and thread, even when the OS reuses a
        # finished thread's ident for the next one
        assert label[e["by"]] == ("work" if e["thread"] == "MainThread" else "work [%s]" % e["thread"])
    assert sorted(by_thread) == ["MainThread", "worker-0", "worker-1", "worker-2"]
    assert all(len(objs) == 1 for objs in by_thread.values())
    yielded = sorted(e["value"] for e in trace.events if e["ev"] == "yield")
    assert yielded == sorted("'%s-%d'" % (n, i) for n in ("t0", "t1", "t2", "main") for i in range(3))
    actors = [o for o in trace.objects.values() if o["kind"] == "function"]
    assert sorted(o["thread"] for o in actors) == ["MainThread", "worker-0", "worker-1", "worker-2"]


def test_hostile_reprs_get_placeholders_and_the_program_runs_on(cotrace, python):
    plain = python(PROGRAMS / "hostile.py")
    run = cotrace("--repr-limit", "60", PROGRAMS / "hostile.py")
    assert (run.returncode, run.stdout, run.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    values = [e["value"] for e in run.trace("hostile").events if e["ev"] == "yield"]
    assert values[:3] == ["<Raises object: repr raised RuntimeError>",
                          "<NotAString object: repr raised TypeError>",
                          "<Recursive object: repr recursed too deep>"]
    assert values[3] == "H" * 57 + "..."
    assert values[4] == "<Hangs object: repr timed out>"
    assert values[5].startswith('"quoted" <tag> & ]] --> ;') and len(values[5]) <= 60
    assert values[6] == "<list object: repr raised RuntimeError>"
    assert all(len(v) <= 60 for v in values)


def test_repr_limit_bounds_every_value(cotrace, tmp_path):
    script = tmp_path / "long.py"
    script.write_text("def g():\n    yield 'x' * 1000\n    yield list(range(1000))\n\nprint(len(list(g())))\n")
    run = cotrace("--repr-limit", "30", script)
    assert run.stdout == "2\n"
    values = [e["value"] for e in run.trace("long").events if e["ev"] == "yield"]
    assert len(values) == 2 and all(len(v) <= 30 for v in values)
    assert values[0].startswith("'xxx") and values[1].startswith("[0, 1, 2")


def test_max_events_stops_recording_visibly(cotrace, tmp_path):
    # at the limit recording switches itself off: the rest runs untraced, so
    # later events are not even counted, and every output says so
    script = tmp_path / "many.py"
    script.write_text("def g():\n    yield from range(100)\n\nprint(sum(g()))\n")
    run = cotrace("--max-events", "10", "-f", "txt", script, quiet=False)
    assert run.stdout == "4950\n"
    trace = run.trace("many")
    assert len(trace.events) == 10
    assert trace.footer["events"] == 10 and trace.footer["limit_reached"] is True
    assert trace.footer["dropped"] <= 2       # the event that hit the limit, an entry settled at stop
    assert trace.footer["suspended"] == []    # g finished, unrecorded, after the limit
    assert "recording stopped at --max-events" in run.stderr
    assert "recording stopped at --max-events" in (tmp_path / "out" / "many.sequence.txt").read_text()


@pytest.mark.parametrize("threaded", [False, True])
def test_max_events_switches_the_hooks_off(cotrace, tmp_path, threaded):
    # after the limit no cotrace hook is called any more: the program sees
    # its own (absent) trace function again, in every thread
    script = tmp_path / "hooks.py"
    script.write_text(
        "import sys, threading\n"
        "def g():\n    yield from range(50)\n"
        "def work(out):\n    sum(g())\n    out.append((sys.gettrace(), threading.gettrace()))\n"
        "out = []\n"
        + ("t = threading.Thread(target=work, args=(out,)); t.start(); t.join()\n" if threaded else "work(out)\n")
        + "mon = getattr(sys, 'monitoring', None)\n"
        "events = [mon.get_events(i) for i in range(6)] if mon else []\n"
        "print(out, all(e == 0 for e in events))\n")
    run = cotrace("--max-events", "5", script)
    assert run.stdout == "[(None, None)] True\n"
    assert run.trace("hooks").footer["limit_reached"] is True


def test_max_events_also_bounds_the_file(cotrace, tmp_path):
    script = tmp_path / "churn.py"
    script.write_text("def g():\n    yield 1\nfor i in range(2000):\n    x = g()\n    next(x)\n")
    run = cotrace("--max-events", "5", script)
    trace = run.trace("churn")
    assert len(trace.events) == 5 and trace.footer["limit_reached"] is True
    assert len(trace.objects) <= 8          # no object records past the limit
    assert set(trace.footer["suspended"]) <= set(trace.objects)


def test_suspended_objects_are_listed_in_the_footer(cotrace, tmp_path):
    script = tmp_path / "keep.py"
    script.write_text("def g():\n    yield 1\n    yield 2\n\nkept = g()\nnext(kept)\n")
    trace = cotrace(script).trace("keep")
    gen = next(o["id"] for o in trace.objects.values() if o["label"] == "g#1")
    assert trace.footer["suspended"] == [gen]
    assert [e["ev"] for e in trace.events] == ["start", "yield"]


def test_filters_default_include_exclude_all(cotrace):
    target = PROGRAMS / "uses_library.py"
    default = {o["label"] for o in cotrace(target).trace("uses_library").objects.values()
               if o["kind"] == "generator"}
    assert default == {"mine#1"}                     # os.walk is stdlib: not recorded
    everything = {o["qualname"] for o in cotrace("--all", target).trace("uses_library").objects.values()
                  if o["kind"] == "generator"}
    assert "mine" in everything and any(q.endswith("walk") for q in everything)  # os.walk / os._walk
    excluded = cotrace("--exclude", "*uses_library.py", target).trace("uses_library")
    assert not [o for o in excluded.objects.values() if o["kind"] == "generator"]
    included = cotrace("--include", "*/os.py", target).trace("uses_library")
    names = {o["qualname"] for o in included.objects.values() if o["kind"] == "generator"}
    assert names and all(q.endswith("walk") for q in names)


def test_cotrace_frames_are_never_recorded(cotrace, tmp_path):
    script = tmp_path / "plain.py"
    script.write_text("print('hi')\n")
    trace = cotrace("--all", script).trace("plain")
    assert not [o for o in trace.objects.values() if "tracer" in (o.get("file") or "")]


def test_async_generator_values_are_unwrapped(cotrace):
    run = cotrace(PROGRAMS / "agen.py")
    assert run.returncode == 0, run.stderr
    trace = run.trace("agen")
    assert simple(trace) == [
        ("main#1", "start", "<event loop>", "await", None),
        ("ticks#1", "start", "main#1", "async for", None),
        ("ticks#1", "yield", "main#1", None, "0"),          # not <async_generator_wrapped_value ...>
        ("ticks#1", "resume", "main#1", "async for", "None"),
        ("ticks#1", "yield", "main#1", None, "1"),
        ("ticks#1", "resume", "main#1", "async for", "None"),
        ("ticks#1", "return", "main#1", None, "None"),
        ("ticks#2", "start", "main#1", "anext", None),       # __anext__()
        ("ticks#2", "yield", "main#1", None, "0"),
        ("ticks#2", "resume", "main#1", "asend", "'hello'"),  # asend("hello")
        ("ticks#2", "yield", "main#1", None, "1"),
        ("ticks#2", "close", "main#1", "close", None),        # aclose()
        ("ticks#2", "return", "main#1", None, None),
        ("main#1", "return", "<event loop>", None, "None"),
    ]
    assert {e["task"] for e in trace.events} == {"Task-1"}
    assert {o["kind"] for o in trace.objects.values()} == {"coroutine", "async_generator", "event_loop"}


def test_async_generator_catching_a_throw_yields_again(cotrace):
    # 3.11 has no ag_suspended: the recorder reads the frame state itself
    run = cotrace(PROGRAMS / "agen_throw.py")
    assert run.returncode == 0, run.stderr
    assert [(ev, by, via, v) for (_, ev, by, via, v) in simple(run.trace("agen_throw"))] == [
        ("start", "drive", "send", None), ("yield", "drive", None, "'tick'"),
        ("throw", "drive", "throw", "ValueError()"), ("yield", "drive", None, "'tick'"),
        ("resume", "drive", "send", "None"), ("yield", "drive", None, "'tick'"),
        ("close", "drive", "close", None), ("return", "drive", None, None),
    ]


def test_stop_iteration_reaches_the_caller_as_runtime_error(cotrace, tmp_path):
    script = tmp_path / "pep479.py"
    script.write_text("def g():\n    yield 1\n    raise StopIteration('x')\n\n"
                      "try:\n    list(g())\nexcept RuntimeError as e:\n    print(e)\n")
    run = cotrace(script)
    assert run.stdout == "generator raised StopIteration\n"
    assert simple(run.trace("pep479"))[-1] == (
        "g#1", "raise", "<module>", None, "RuntimeError('generator raised StopIteration')")


def test_close_from_c_code_and_shared_call_sites(cotrace):
    run = cotrace(PROGRAMS / "close_paths.py")
    assert run.returncode == 0, run.stderr
    events = simple(run.trace("close_paths"), with_synthetic=True)
    skipped = compat.CLOSE_MAY_SKIP_FRAME  # 3.13 closes these without running them
    # operator.methodcaller calls close() from C: 3.13 notices it at the
    # next entry and cannot tell who called it
    c_closer = "<runtime>" if skipped else "<module>"
    assert events == [
        ("gen#1", "start", "<module>", "next", None, False), ("gen#1", "yield", "<module>", None, "'a'", False),
        ("gen#1", "close", "shutdown", "close", None, skipped), ("gen#1", "return", "shutdown", None, None, skipped),
        ("gen#2", "start", "<module>", "next", None, False), ("gen#2", "yield", "<module>", None, "'b'", False),
        ("gen#2", "close", "<module>", "close", None, skipped), ("gen#2", "return", "<module>", None, None, skipped),
        ("gen#3", "start", "<module>", "next", None, False), ("gen#3", "yield", "<module>", None, "'c'", False),
        ("gen#3", "close", c_closer, "close", None, skipped), ("gen#3", "return", c_closer, None, None, skipped),
        ("gen#4", "start", "<module>", "next", None, False), ("gen#4", "yield", "<module>", None, "'d'", False),
        ("gen#4", "resume", "<module>", "next", "None", False),
        ("gen#4", "yield", "<module>", None, "'second'", False),
    ]


def test_reraised_exceptions_are_the_ones_that_leave(cotrace):
    run = cotrace(PROGRAMS / "reraise.py")
    assert run.returncode == 0, run.stderr
    ends = {obj: (ev, v) for (obj, ev, _, _, v) in simple(run.trace("reraise")) if ev in ("return", "raise")}
    assert ends["cleanup_in_finally#1"] == ("return", None)        # close() succeeded
    assert ends["reraise_in_except#1"] == ("raise", "KeyError('k')")
    assert ends["worker#1"] == ("raise", "CancelledError()")       # not a StopIteration/RuntimeError
