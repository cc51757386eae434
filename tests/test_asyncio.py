"""asyncio and async generators, recorded from real programs.

Each program in tests/programs/aio_*.py runs under cotrace and plainly; the
output must be the same, and the trace must say which task ran each
coroutine, what every suspended coroutine waited on, and how control went
between coroutines, async generators and the event loop.  Rows are
(object, ev, by, via, value, on, task) with labels for ids.
"""
import os
import re
import subprocess
import sys

import pytest

from conftest import PROGRAMS, SAMPLES, load_checked

ANY = object()
LOOP = "<event loop>"


def rows(trace) -> list:
    label = {o["id"]: o["label"] for o in trace.objects.values()}
    out = []
    for e in trace.events:
        row = (label[e["obj"]], e["ev"], label.get(e["by"]), e["via"], e["value"], e.get("on"), e["task"])
        out.append(row + (True,) if e.get("synthetic") else row)
    return out


def same(got: list, expected: list) -> None:
    """Rows equal, with ANY matching any field."""
    assert len(got) == len(expected), "\n".join(map(str, got))
    for i, (g, x) in enumerate(zip(got, expected)):
        assert len(g) == len(x) and all(b is ANY or a == b for a, b in zip(g, x)), \
            "row %d: %r != %r\n%s" % (i, g, x, "\n".join(map(str, got)))


def traced(cotrace, python, name, *options):
    """Run the program both ways; same stdout, stderr and status; its trace."""
    path = PROGRAMS / (name + ".py")
    plain = python(path)
    run = cotrace("--no-diagrams", *options, path)
    assert (run.returncode, run.stdout, run.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    return run, run.trace(name)


def events_of(trace, label: str) -> list:
    oid = next(o["id"] for o in trace.objects.values() if o["label"] == label)
    return [e for e in trace.events if e["obj"] == oid]


def by_label(trace, e) -> str | None:
    return trace.objects[e["by"]]["label"] if e["by"] is not None else None


def test_every_coroutine_event_carries_the_task_that_ran_it(cotrace, python):
    run, trace = traced(cotrace, python, "aio_tasks")
    seen = dict(line.split() for line in run.stdout.splitlines() if len(line.split()) == 2
                and not line.startswith("["))
    # the program printed its task's name in each coroutine: create_task(name=),
    # gather, TaskGroup, wait_for and asyncio.run's main task
    assert seen["main"] == "Task-1" and seen["named"] == "named-task" and seen["grouped"] == "group-member"
    labels = {"main": "main#1", "named": "named#1", "gathered1": "gathered#1", "gathered2": "gathered#2",
              "grouped": "grouped#1", "waited": "waited#1"}
    for who, label in labels.items():
        assert {e["task"] for e in events_of(trace, label)} == {seen[who]}, who
    # what main waited on, by name
    ons = [e["on"] for e in events_of(trace, "main#1") if e["ev"] == "yield"]
    assert ons[:3] == ["Task named-task", "gather(%s, %s)" % (seen["gathered1"], seen["gathered2"]),
                       "TaskGroup.__aexit__"]
    waited = events_of(trace, "waited#1")
    if seen["waited"] == seen["main"]:   # 3.12+: wait_for awaits the coroutine in the caller's task
        assert by_label(trace, waited[0]) == "main#1" and waited[0]["via"] == "await"
    else:                                # 3.11: wait_for wraps it in a task of its own
        assert by_label(trace, waited[0]) == LOOP and ons[3] == "wait_for"
    # the event loop is one actor; none of asyncio's own frames is
    kinds = {o["kind"] for o in trace.objects.values()}
    assert kinds == {"coroutine", "event_loop"}
    assert [o["label"] for o in trace.objects.values() if o["kind"] == "event_loop"] == [LOOP]
    assert not [o for o in trace.objects.values() if "asyncio" in (o.get("file") or "")]
    for e in trace.events:
        if by_label(trace, e) == LOOP and e["ev"] in ("start", "resume"):
            assert e["via"] == "await"


def test_two_workers_on_a_queue(cotrace, python):
    run, trace = traced(cotrace, python, "aio_workers")
    printed = dict(re.match(r"(worker-\d) (.*)", line).groups() for line in run.stdout.splitlines())
    workers = [o for o in trace.objects.values() if o["qualname"] == "worker"]
    assert len(workers) == 2
    for w in workers:
        evs = events_of(trace, w["label"])
        (task,) = {e["task"] for e in evs}
        # each worker's return value is what that worker printed it had taken
        assert evs[-1]["ev"] == "return" and evs[-1]["value"] == printed[task]
        assert {e["on"] for e in evs if e["ev"] == "yield"} == {"Queue.get", "sleep(0)"}
        assert all(by_label(trace, e) == LOOP for e in evs)
    assert set(printed) == {"worker-1", "worker-2"} and all(v != "[]" for v in printed.values())
    # the producer waits on the bounded queue, through main's await chain
    produce = events_of(trace, "produce#1")
    assert by_label(trace, produce[0]) == "main#1" and produce[0]["via"] == "await"
    assert "Queue.put" in {e["on"] for e in produce if e["ev"] == "yield"}
    # a get() that finds an item does not suspend: fewer waits than items
    waits = sum(1 for w in workers for e in events_of(trace, w["label"]) if e.get("on") == "Queue.get")
    assert waits < 8
    # main passes the producer's waits on to the loop, naming the same thing
    main = events_of(trace, "main#1")
    assert [e["on"] for e in main if e["ev"] == "yield"][-1] == "gather(worker-1, worker-2)"


def test_async_generator_driven_every_way(cotrace, python):
    run, trace = traced(cotrace, python, "aio_agen")
    T = "Task-1"
    same(rows(trace), [
        ("main#1", "start", LOOP, "await", None, None, T),
        ("ticker#1", "start", "main#1", "async for", None, None, T),
        ("ticker#1", "yield", "main#1", None, "0", None, T),         # the int, not CPython's wrapper
        ("ticker#1", "resume", "main#1", "async for", "None", None, T),
        ("ticker#1", "yield", "main#1", None, "None", "sleep(0)", T),  # an await inside the generator
        ("main#1", "yield", LOOP, None, "None", "sleep(0)", T),        # ... passed on to the loop
        ("main#1", "resume", LOOP, "await", "None", None, T),
        ("ticker#1", "resume", "main#1", "await", "None", None, T),    # continues that await
        ("ticker#1", "yield", "main#1", None, "1", None, T),
        ("ticker#1", "resume", "main#1", "asend", "'hello'", None, T),  # the sent value arrives
        ("ticker#1", "yield", "main#1", None, "None", "sleep(0)", T),
        ("main#1", "yield", LOOP, None, "None", "sleep(0)", T),
        ("main#1", "resume", LOOP, "await", "None", None, T),
        ("ticker#1", "resume", "main#1", "await", "None", None, T),
        ("ticker#1", "yield", "main#1", None, "2", None, T),
        ("ticker#1", "throw", "main#1", "throw", "ValueError('bad')", None, T),  # athrow
        ("ticker#1", "yield", "main#1", None, "3", None, T),
        ("ticker#1", "close", "main#1", "close", None, None, T),       # aclose
        ("ticker#1", "return", "main#1", None, None, None, T),
        ("forgotten#1", "start", "main#1", "anext", None, None, T),
        ("forgotten#1", "yield", "main#1", None, "'first'", None, T),
        ("main#1", "return", LOOP, None, "None", None, T),
        # still suspended at the end: asyncio.run's shutdown_asyncgens closes it
        ("forgotten#1", "close", LOOP, "close", None, None, ANY),
        ("forgotten#1", "return", LOOP, None, None, None, ANY),
    ])
    assert trace.footer["suspended"] == []


def test_cancellation_is_a_throw_into_the_innermost_awaiting_coroutine(cotrace, python):
    run, trace = traced(cotrace, python, "aio_cancel")
    got = rows(trace)
    V, T = "victim", "Task-1"
    same(got[:13], [
        ("main#1", "start", LOOP, "await", None, None, T),
        ("main#1", "yield", LOOP, None, "None", "sleep(0)", T),
        ("middle#1", "start", LOOP, "await", None, None, V),
        ("deep#1", "start", "middle#1", "await", None, None, V),
        ("deep#1", "yield", "middle#1", None, "<Future pending>", "sleep(10)", V),
        ("middle#1", "yield", LOOP, None, "<Future pending>", "sleep(10)", V),
        ("main#1", "resume", LOOP, "await", "None", None, T),
        ("main#1", "yield", LOOP, None, ANY, "Task victim", T),
        # task.cancel(): CancelledError is thrown into the task's coroutine, which
        # C code passes down its await chain (synthetic), then it propagates out
        ("middle#1", "throw", LOOP, "throw", "CancelledError()", None, V, True),
        ("deep#1", "throw", "middle#1", "throw", "CancelledError()", None, V),
        ("deep#1", "raise", "middle#1", None, "CancelledError()", None, V),
        ("middle#1", "raise", LOOP, None, "CancelledError()", None, V),
        ("main#1", "throw", LOOP, "throw", "CancelledError()", None, T),  # await task raised it
    ])
    # wait_for's timeout cancels slow(): a throw of CancelledError, raised out
    slow = events_of(trace, "slow#1")
    assert [(e["ev"], e["value"]) for e in slow] == [
        ("start", None), ("yield", "<Future pending>"), ("throw", "CancelledError()"), ("raise", "CancelledError()")]
    assert slow[1]["on"] == "sleep(10)"
    assert got[-1] == ("main#1", "return", LOOP, None, "None", None, T)
    assert run.stdout.splitlines()[-1] == "timed out"


def test_hand_driven_scheduler_with_a_types_coroutine(cotrace, python):
    run, trace = traced(cotrace, python, "aio_handdriven")
    same(rows(trace), [
        ("worker#1", "start", "run", "send", None, None, None),
        ("switch#1", "start", "worker#1", "await", None, None, None),
        ("switch#1", "yield", "worker#1", None, "'switch'", None, None),
        ("worker#1", "yield", "run", None, "'switch'", None, None),   # no loop, no task
        ("worker#2", "start", "run", "send", None, None, None),
        ("switch#2", "start", "worker#2", "await", None, None, None),
        ("switch#2", "yield", "worker#2", None, "'switch'", None, None),
        ("worker#2", "yield", "run", None, "'switch'", None, None),
        ("worker#1", "resume", "run", "send", "2", None, None),
        ("switch#1", "resume", "worker#1", "await", "2", None, None),  # the send passes through
        ("switch#1", "return", "worker#1", None, "2", None, None),
        ("quick#1", "start", "worker#1", "await", None, None, None),   # completes without suspending
        ("quick#1", "return", "worker#1", None, "0", None, None),
        ("switch#3", "start", "worker#1", "await", None, None, None),
        ("switch#3", "yield", "worker#1", None, "'switch'", None, None),
        ("worker#1", "yield", "run", None, "'switch'", None, None),
        ("worker#2", "resume", "run", "send", "3", None, None),
        ("switch#2", "resume", "worker#2", "await", "3", None, None),
        ("switch#2", "return", "worker#2", None, "3", None, None),
        ("quick#2", "start", "worker#2", "await", None, None, None),
        ("quick#2", "return", "worker#2", None, "0", None, None),
        ("worker#2", "return", "run", None, "'b'", None, None),
        ("worker#1", "resume", "run", "send", "4", None, None),
        ("switch#3", "resume", "worker#1", "await", "4", None, None),
        ("switch#3", "return", "worker#1", None, "4", None, None),
        ("quick#3", "start", "worker#1", "await", None, None, None),
        ("quick#3", "return", "worker#1", None, "10", None, None),
        ("worker#1", "return", "run", None, "'a'", None, None),
    ])
    kinds = {o["label"]: o["kind"] for o in trace.objects.values()}
    assert kinds["switch#1"] == "generator" and kinds["worker#1"] == "coroutine"
    assert "event_loop" not in kinds.values()


def test_await_labels_never_run_user_code(cotrace, python, tmp_path):
    # a Future subclass whose repr and name accessors raise: labels come from
    # asyncio's base classes, the program is unaffected
    script = tmp_path / "hostile_future.py"
    script.write_text(
        "import asyncio\n"
        "class Bad(asyncio.Future):\n"
        "    def __repr__(self): raise RuntimeError('repr')\n"
        "    @property\n"
        "    def _state_name(self): raise RuntimeError('prop')\n"
        "class BadTask(asyncio.Task):\n"
        "    def get_name(self): raise RuntimeError('name')\n"
        "async def child(): await asyncio.sleep(0); return 1\n"
        "async def main():\n"
        "    loop = asyncio.get_running_loop()\n"
        "    f = Bad(loop=loop)\n"
        "    loop.call_soon(f.set_result, 5)\n"
        "    print(await f)\n"
        "    t = BadTask(child(), loop=loop, name='bad-task')\n"
        "    print(await t)\n"
        "asyncio.run(main())\n")
    plain = python(script)
    run = cotrace("--no-diagrams", script)
    assert (run.returncode, run.stdout, run.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    trace = run.trace("hostile_future")
    ons = [e["on"] for e in events_of(trace, "main#1") if e["ev"] == "yield"]
    assert ons == ["Bad pending", "Task bad-task"]


def test_hide_loop_draws_each_task_as_the_resumer(cotrace, tmp_path):
    run = cotrace("-f", "txt", "--hide-loop", PROGRAMS / "aio_workers.py")
    assert run.returncode == 0, run.stderr
    text = (run.out_dir / "aio_workers.sequence.txt").read_text()
    assert LOOP not in text
    assert "Task-1 ─start─▶ main#1" in text
    assert re.search(r"worker-1 ─start─▶ worker#\d", text)
    assert re.search(r"worker#\d ╌await Queue.get╌▷ worker-1", text)
    shown = cotrace("-f", "txt", run.trace_path("aio_workers"), out=tmp_path / "again")
    assert LOOP in (tmp_path / "again" / "aio_workers.sequence.txt").read_text()


UVLOOP_MAIN = """
import asyncio, sys
sys.path.insert(0, {programs!r})
import uvloop
from aio_workers import main
if sys.version_info >= (3, 12):
    asyncio.run(main(), loop_factory=uvloop.new_event_loop)
else:
    uvloop.install()
    asyncio.run(main())
"""


def test_uvloop_is_the_event_loop_too(cotrace, python, tmp_path):
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if os.environ.get("COTRACE_REQUIRE_VALIDATORS"):
            pytest.fail("uvloop is not installed (pip install -e '.[test]')")
        pytest.skip("uvloop is not installed")
    script = tmp_path / "with_uvloop.py"
    # the workers run from their module, imported as aio_workers (not __main__)
    source = (PROGRAMS / "aio_workers.py").read_text().replace("\nasyncio.run(main())\n", "\n")
    (tmp_path / "aio_workers.py").write_text(source)
    script.write_text(UVLOOP_MAIN.format(programs=str(tmp_path)))
    plain = python(script)
    run = cotrace("--no-diagrams", script)
    assert (run.returncode, run.stdout, run.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    trace = run.trace("with_uvloop")
    kinds = {o["label"]: o["kind"] for o in trace.objects.values()}
    assert kinds[LOOP] == "event_loop"
    assert not [o for o in trace.objects.values() if o["kind"] == "function"]  # no uvloop frame as an actor
    workers = {e["task"] for o in trace.objects.values() if o["qualname"] == "worker"
               for e in events_of(trace, o["label"])}
    assert workers == {"worker-1", "worker-2"}
    assert "Queue.get" in {e.get("on") for e in trace.events}


def test_the_async_sample_conversation(cotrace, python):
    """samples/async_producer_consumer.py, event by event (the same on 3.11-3.13)."""
    plain = python(SAMPLES / "async_producer_consumer.py")
    run = cotrace("--no-diagrams", SAMPLES / "async_producer_consumer.py")
    assert (run.returncode, run.stdout, run.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    M, C, F = "Task-1", "consumer", "<Future pending>"
    waiting = [  # main waits, through the producer, on the answers queue
        ("producer#1", "yield", "main#1", None, F, "Queue.get", M),
        ("main#1", "yield", LOOP, None, F, "Queue.get", M)]
    answer = [  # the loop wakes main, main continues the producer's await, the answer comes up
        ("main#1", "resume", LOOP, "await", "None", None, M),
        ("producer#1", "resume", "main#1", "await", "None", None, M)]
    same(rows(run.trace("async_producer_consumer")), [
        ("main#1", "start", LOOP, "await", None, None, M),
        ("producer#1", "start", "main#1", "async for", None, None, M),
        *waiting,
        ("consumer#1", "start", LOOP, "await", None, None, C),
        ("consumer#1", "yield", LOOP, None, F, "Queue.get", C),
        *answer,
        ("producer#1", "yield", "main#1", None, "True", None, M),
        ("producer#1", "resume", "main#1", "async for", "None", None, M),
        *waiting,
        ("consumer#1", "resume", LOOP, "await", "None", None, C),
        ("consumer#1", "yield", LOOP, None, F, "Queue.get", C),
        *answer,
        ("producer#1", "yield", "main#1", None, "True", None, M),
        ("producer#1", "resume", "main#1", "async for", "None", None, M),
        *waiting,
        ("consumer#1", "resume", LOOP, "await", "None", None, C),
        ("consumer#1", "return", LOOP, None, "[5, 4, 3]", None, C),
        *answer,
        ("producer#1", "yield", "main#1", None, "False", None, M),
        ("main#1", "yield", LOOP, None, F, "TaskGroup.__aexit__", M),
        ("main#1", "resume", LOOP, "await", "None", None, M),
        ("main#1", "return", LOOP, None, "None", None, M),
        # main broke out of async for: the loop's finalizer hook closes the producer
        ("producer#1", "close", LOOP, "close", None, None, ANY),
        ("producer#1", "return", LOOP, None, None, None, ANY),
    ])


GENERATOR_IN_TASKS = '''
import asyncio


def numbers():
    yield 1
    yield 2


async def worker():
    total = 0
    for n in numbers():
        total += n
        await asyncio.sleep(0)
    return total


async def main():
    print(await asyncio.gather(worker(), worker()))


asyncio.run(main())
'''


def test_a_plain_generator_driven_in_a_task_is_drawn_in_its_box(cotrace, tmp_path):
    # before: numbers#1 and numbers#2 had lifelines outside every task's
    # box and header in the sequence diagram, though the tasks view put
    # each in the task that drove it
    from tracer import model
    prog = tmp_path / "gin.py"
    prog.write_text(GENERATOR_IN_TASKS)
    run = cotrace("-f", "txt", prog)
    assert run.returncode == 0 and run.stdout == "[3, 3]\n", run.stderr
    seq = model.build(str(run.trace_path("gin"))).sequence
    groups = {a.label: a.group for a in seq.actors}
    assert groups["numbers#1"] == groups["worker#1"] and groups["numbers#2"] == groups["worker#2"]
    assert groups["worker#1"] != groups["worker#2"] and groups["worker#1"].startswith("task ")
    text = (run.out_dir / "gin.sequence.txt").read_text()
    assert re.search(r"^  task Task-\d+: worker#1, numbers#1$", text, re.M), text
