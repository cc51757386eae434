"""The task view (one lane per asyncio task), from hand-built events: the
model (tracer.taskmodel), the picture (a Scene, checked as SVG in a real
browser and as DOT by Graphviz) and the terminal text."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracer import traceio
from tracer.render import draw, escape, scene, taskview
from tracer.taskmodel import TasksBuilder, TasksModel

from conftest import ROOT
from validators import check_dot, check_scene_layouts, check_svg, svg_text

LOOP = 1
HEADER = {"type": "header", "format": "cotrace", "version": 1, "python": "3.12.1", "backend": "settrace",
          "argv": ["tasks.py"], "target": "tasks"}
HOSTILE = ['"quoted" <b>&amp;</b> ]] --> ;; #59; %% \\l \\N',
           "<script>alert(1)</script>", "line\nbreak\x00nul\u202eevil\u200b", "\udc80 \ufffe",
           "@enduml }{ | ` ${x}", "x" * 3000, "漢字" * 40]


class Program:
    """Objects and events of an asyncio program, written by hand.  Each
    event comes ``dt`` ns after the previous one."""

    def __init__(self) -> None:
        self.objects: dict = {LOOP: {"type": "object", "id": LOOP, "kind": "event_loop", "name": "<event loop>",
                                     "qualname": "<event loop>", "file": None, "line": None,
                                     "label": "<event loop>", "thread": "MainThread"}}
        self.records: list = [self.objects[LOOP]]
        self.events: list = []
        self.t = 0

    def coro(self, oid: int, label: str) -> int:
        rec = {"type": "object", "id": oid, "kind": "coroutine", "name": label.split("#")[0],
               "qualname": label.split("#")[0], "file": "tasks.py", "line": oid, "label": label}
        self.objects[oid] = rec
        self.records.append(rec)
        return oid

    def __call__(self, ev: str, obj: int, task, by: int | None = LOOP, value=None, on=None, dt: int = 1000,
                 **kw) -> dict:
        self.t += dt
        e = {"type": "event", "seq": len(self.events) + 1, "t": self.t, "ev": ev, "obj": obj, "by": by,
             "via": "await" if ev in traceio.ENTRY_EVENTS and ev != "throw" else ("throw" if ev == "throw" else None),
             "value": value, "line": None, "thread": "MainThread", "task": task}
        if on is not None:
            e["on"] = on
        e.update(kw)
        self.events.append(e)
        self.records.append(e)
        return e

    def model(self, max_switches: int = 400, truncated: bool = False) -> TasksModel | None:
        b = TasksBuilder(self.objects, max_switches)
        for e in self.events:
            b.feed(e)
        return b.result(truncated)

    def write(self, path: Path, footer: bool = True, tail: str = "") -> Path:
        lines = [json.dumps(HEADER)] + [json.dumps(r) for r in self.records]
        if footer:
            lines.append(json.dumps({"type": "footer", "events": len(self.events), "dropped": 0,
                                     "objects": len(self.objects), "suspended": [], "running": [], "exit": 0}))
        path.write_text("\n".join(lines) + "\n" + tail, encoding="utf-8")
        return path


def from_file(path: Path, max_switches: int = 400) -> TasksModel | None:
    """As the CLI will: stream the trace, feed every event."""
    stream = traceio.TraceStream(str(path))
    b = TasksBuilder(stream.trace.objects, max_switches)
    for e in stream.events():
        b.feed(e)
    return b.result(stream.trace.footer is None)


# -- the programs -----------------------------------------------------------------------------

def workers() -> Program:
    """main gathers a producer and two workers on a queue; the producer's
    put_all awaits sleep(0) inside it (an await chain)."""
    p = Program()
    main, prod, w1, w2, put_all = p.coro(2, "main#1"), p.coro(3, "producer#1"), p.coro(4, "worker#1"), \
        p.coro(5, "worker#2"), p.coro(6, "put_all#1")
    p("start", main, "Task-1")
    p("yield", main, "Task-1", value="<_GatheringFuture pending>", on="gather(Task-2, Task-3, Task-4)")
    p("start", prod, "Task-2", dt=3000)
    p("start", put_all, "Task-2", by=prod)
    p("yield", put_all, "Task-2", by=prod, value="None")
    p("yield", prod, "Task-2", value="None", on="sleep(0)")
    p("start", w1, "Task-3")
    p("yield", w1, "Task-3", value="<Future pending>", on="Queue.get")
    p("start", w2, "Task-4")
    p("yield", w2, "Task-4", value="<Future pending>", on="Queue.get")
    p("resume", prod, "Task-2", value="None")
    p("resume", put_all, "Task-2", by=prod, value="None")
    p("return", put_all, "Task-2", by=prod, value="None")
    p("return", prod, "Task-2", value="'produced'", dt=2_500_000)
    p("resume", w1, "Task-3", value="None")
    p("return", w1, "Task-3", value="1")
    p("resume", w2, "Task-4", value="None")
    p("return", w2, "Task-4", value="2")
    p("resume", main, "Task-1", value="None", dt=40_000)
    p("return", main, "Task-1", value="None")
    return p


def cancelled() -> Program:
    """A sleeper cancelled while asleep (it lets CancelledError out), and
    a cleaner that catches it and returns."""
    p = Program()
    sleeper, cleaner = p.coro(2, "sleeper#1"), p.coro(3, "cleaner#1")
    p("start", sleeper, "sleeper")
    p("yield", sleeper, "sleeper", value="<Future pending>", on="sleep(10)")
    p("start", cleaner, "cleaner")
    p("yield", cleaner, "cleaner", value="<Future pending>", on="Event.wait")
    p("throw", sleeper, "sleeper", value="CancelledError()", dt=2_000_000_000)
    p("raise", sleeper, "sleeper", value="CancelledError()")
    p("throw", cleaner, "cleaner", value="asyncio.exceptions.CancelledError('bye')")
    p("return", cleaner, "cleaner", value="'cleaned up'")
    return p


def still_waiting() -> Program:
    p = Program()
    waiter, other = p.coro(2, "waiter#1"), p.coro(3, "other#1")
    p("start", waiter, "waiter")
    p("yield", waiter, "waiter", value="<Future pending>", on="Event.wait")
    p("start", other, "other")
    p("return", other, "other", value="None", dt=5_000_000)
    return p


def hostile() -> Program:
    p = Program()
    oids = [p.coro(10 + i, text + "#1") for i, text in enumerate(HOSTILE)]
    for i, (oid, text) in enumerate(zip(oids, HOSTILE)):
        p("start", oid, text)
        p("yield", oid, text, value=text, on=text if i % 2 else None)
    for i, (oid, text) in enumerate(zip(oids, HOSTILE)):
        p("resume", oid, text, value=text)
        if i % 3 == 0:
            p("raise", oid, text, value="ValueError(%r)" % text)
        elif i % 3 == 1:
            p("yield", oid, text, value=text, on=text)
    return p


def many(rounds: int) -> Program:
    """Two tasks taking turns at sleep(0), ``rounds`` times each."""
    p = Program()
    a, b = p.coro(2, "a#1"), p.coro(3, "b#1")
    p("start", a, "A")
    p("yield", a, "A", value="None", on="sleep(0)")
    p("start", b, "B")
    p("yield", b, "B", value="None", on="sleep(0)")
    for _ in range(rounds):
        for oid, task in ((a, "A"), (b, "B")):
            p("resume", oid, task, value="None")
            p("yield", oid, task, value="None", on="sleep(0)")
    p("resume", a, "A", value="None")
    p("return", a, "A", value="'a done'")
    return p


# -- the model --------------------------------------------------------------------------------

def _check_order(model: TasksModel) -> None:
    """Every lane's segments follow each other: one begins where the
    previous ended, runs and waits alternate."""
    for lane in model.lanes:
        for prev, seg in zip(lane.segments, lane.segments[1:]):
            assert prev.end == seg.start, (lane.task, prev, seg)
            assert seg.start >= prev.start


def test_two_workers_and_a_producer():
    m = workers().model()
    assert m is not None
    _check_order(m)
    assert [lane.task for lane in m.lanes] == ["Task-1", "Task-2", "Task-3", "Task-4"]
    assert [lane.coroutine for lane in m.lanes] == ["main#1", "producer#1", "worker#1", "worker#2"]
    assert m.switches == m.drawn == 16 and m.elided == 0
    t1, t2, w1, w2 = m.lanes
    assert [(s.kind, s.start, s.end) for s in t1.segments] == [("run", 0, 1), ("wait", 1, 14), ("run", 14, 15)]
    assert t1.segments[1].label == "gather(Task-2, Task-3, Task-4)"
    assert [(s.kind, s.label) for s in t2.segments] == [("run", None), ("wait", "sleep(0)"), ("run", None)]
    assert t2.segments[0].coroutines == ["producer#1", "put_all#1"]  # the await chain, for the tooltip
    assert t2.segments[1].duration == 5000 and t2.segments[2].duration == 2_502_000
    assert t2.state == "finished" and t2.result == "'produced'" and t2.end == 9
    assert all(lane.state == "finished" for lane in m.lanes)
    assert w1.segments[1].label == "Queue.get" and w1.segments[1].value == "<Future pending>"
    assert t1.run_ns == 2000 and t1.wait_ns == t1.segments[1].duration == 2_557_000


def test_the_text_of_a_small_program():
    text = taskview.tasks_text(workers().model(), "workers")
    assert text == """\
workers — tasks (4 tasks, 16 switches)
x: order of switches, not time; █ running, ─ waiting, ✕ resumed by cancellation
  Task-1 │█─────────────█ │
  Task-2 │  █─────█       │
  Task-3 │    █─────█     │
  Task-4 │      █─────█   │
          1 column = 1 switch

Task-1 (main#1): finished: return None
  ran 2 times (2.0 µs), waited 1 time (2.56 ms)
  switches           duration
  1–2         run      1.0 µs  main#1
  2–15        wait    2.56 ms  on gather(Task-2, Task-3, Task-4)
  15–16       run      1.0 µs  main#1; return None

Task-2 (producer#1): finished: return 'produced'
  ran 2 times (2.50 ms), waited 1 time (5.0 µs)
  switches           duration
  3–4         run      3.0 µs  producer#1, put_all#1
  4–9         wait     5.0 µs  on sleep(0)
  9–10        run     2.50 ms  producer#1, put_all#1; return 'produced'

Task-3 (worker#1): finished: return 1
  ran 2 times (2.0 µs), waited 1 time (2.51 ms)
  switches           duration
  5–6         run      1.0 µs  worker#1
  6–11        wait    2.51 ms  on Queue.get
  11–12       run      1.0 µs  worker#1; return 1

Task-4 (worker#2): finished: return 2
  ran 2 times (2.0 µs), waited 1 time (2.51 ms)
  switches           duration
  7–8         run      1.0 µs  worker#2
  8–13        wait    2.51 ms  on Queue.get
  13–14       run      1.0 µs  worker#2; return 2
"""


def test_a_cancelled_task():
    m = cancelled().model()
    _check_order(m)
    sleeper, cleaner = m.lanes
    assert sleeper.state == "cancelled" and sleeper.cancellations == 1 and sleeper.result == "CancelledError()"
    wait, run = sleeper.segments[1:]
    assert wait.cancelled and wait.label == "sleep(10)" and wait.duration == 2_000_002_000
    assert run.cancelled and run.exit == "raise"
    assert cleaner.state == "finished" and cleaner.segments[-1].cancelled  # a module-qualified CancelledError
    text = taskview.tasks_text(m, "cancel")
    assert "sleeper (sleeper#1): cancelled: raise CancelledError()" in text
    assert "on sleep(10); cancelled" in text and "resumed by cancellation: CancelledError()" in text
    assert "2.00 s" in text
    sc = taskview.tasks_scene(m, "cancel")
    red = [s for s in sc.shapes if isinstance(s, scene.Rect) and s.fill == taskview.CANCEL_FILL and s.tip]
    assert len(red) == 2 and all("resumed by cancellation" in r.tip for r in red)
    crosses = [s for s in sc.shapes if isinstance(s, scene.Line) and s.role == "end"]
    assert len(crosses) == 2 * 2   # the sleeper ends by an exception, and the legend shows the mark


def test_a_task_still_waiting_at_the_end():
    m = still_waiting().model()
    waiter = m.lanes[0]
    assert waiter.state == "waiting" and waiter.waiting_on == "Event.wait"
    assert waiter.segments[-1].end is None
    assert m.last_t == 5_003_000
    text = taskview.tasks_text(m, "waiting")
    assert "waiter (waiter#1): still waiting on Event.wait" in text
    assert "2–…         wait   ≥5.00 ms  on Event.wait; still waiting at the end" in text
    sc = taskview.tasks_scene(m, "waiting")
    drawn = [s for s in sc.shapes if isinstance(s, scene.Text)]
    assert any(t.text == "still waiting on Event.wait" for t in drawn)  # the last step widened for it
    svg = draw.to_svg(sc)
    assert "still waiting at the end of the trace" in svg


def test_without_the_on_field_the_yielded_value_names_the_wait():
    p = Program()
    c = p.coro(2, "c#1")
    p("start", c, "T")
    p("yield", c, "T", value="<Future pending>")
    p("resume", c, "T", value="None")
    p("yield", c, "T", value=None)
    m = p.model()
    assert [s.label for s in m.lanes[0].segments if s.kind == "wait"] == ["<Future pending>", "?"]


def test_no_task_no_model():
    p = Program()
    g = p.coro(2, "g#1")
    p("start", g, None)
    p("yield", g, None, value="1")
    assert p.model() is None
    assert Program().model() is None
    assert TasksBuilder({}).result(True) is None


def test_odd_traces_never_crash_nor_reorder():
    """Exits without entries, entries while running, no times, unknown
    ids, values of the wrong type, an unknown ev, events by other actors."""
    p = Program()
    c, d = p.coro(2, "c#1"), p.coro(3, "d#1")
    p("yield", c, "T", value="1", on="first")          # no entry before it
    p("start", d, "U", t=None)
    p("resume", d, "U", value="None")                    # entry while running
    p("yield", d, "U", value=None, on=7, t=None)         # on not a string: the value, then "?"
    p("resume", 99, "T", by=98, value="x")               # unknown ids: not a switch
    p("resume", c, "T", value=5)                         # a value that is not a string
    p("frobnicate", c, "T")
    p("yield", 77, "T", value="y", on="second")          # an exit of an unknown object
    p("resume", c, "T", by=None)
    p("return", c, "T", by=2)                             # received by a coroutine: nested, not a switch
    p("return", d, "U", value="None")                    # exit without entry after a wait
    m = p.model()
    _check_order(m)
    t, u = m.lanes
    assert [(s.kind, s.start, s.end) for s in t.segments] == [("run", 0, 0), ("wait", 0, 4), ("run", 4, 5),
                                                              ("wait", 5, None)]
    assert t.segments[0].partial and t.segments[2].value == "5" and t.segments[3].label == "second"
    assert [(s.kind, s.start, s.end) for s in u.segments] == [("run", 1, 2), ("run", 2, 3), ("wait", 3, 6),
                                                              ("run", 6, 6)]
    assert u.segments[2].label == "?" and u.segments[0].duration is None and u.state == "finished"
    text = taskview.tasks_text(m, "odd")
    assert "  ?–1         run           ?  c#1; its entry is not in the trace\n" in text
    assert "U (d#1): finished: return None\n  ran 3 times (?), waited 1 time (?)\n" in text
    assert "its exit is not in the trace" in text
    sc = taskview.tasks_scene(m, "odd")
    check_svg(draw.to_svg(sc))
    for lane in m.lanes:
        for seg in lane.segments:
            assert taskview.seg_duration(seg, m)


def test_a_loop_per_thread():
    """Two threads, each with its loop and its own Task-1: two lanes."""
    p = Program()
    p.objects[9] = dict(p.objects[LOOP], id=9, thread="side")
    a, b = p.coro(2, "a#1"), p.coro(3, "b#1")
    p("start", a, "Task-1")
    p("start", b, "Task-1", by=9, thread="side")
    p("yield", a, "Task-1", value="None", on="sleep(0)")
    p("return", b, "Task-1", by=9, thread="side", value="2")
    m = p.model()
    assert [(lane.name, lane.state) for lane in m.lanes] == [("Task-1", "waiting"), ("Task-1 [side]", "finished")]
    assert [(s.start, s.end) for s in m.lanes[1].segments] == [(1, 3)]


def test_nothing_drawn():
    """A limit of 0: every switch counted, nothing drawn, still a picture and a text."""
    m = workers().model(max_switches=0)
    assert m is not None and m.lanes == [] and m.switches == 16 and m.more_tasks == 4
    check_svg(draw.to_svg(taskview.tasks_scene(m, "none")))
    assert "… 16 more switches not drawn" in taskview.tasks_text(m, "none")


def test_a_cut_trace(tmp_path):
    p = workers()
    del p.records[-7:], p.events[-7:]   # killed while Task-2 runs
    path = p.write(tmp_path / "cut.trace.jsonl", footer=False, tail='{"type": "event", "seq": 99, "ev": "ret')
    m = from_file(path)
    assert m.truncated and m.lanes[1].state == "running" and m.lanes[1].segments[-1].end is None
    assert [lane.state for lane in m.lanes] == ["waiting", "running", "waiting", "waiting"]
    text = taskview.tasks_text(m, "cut")
    assert "the trace has no footer: the program did not finish cleanly" in text
    assert "still running at the end" in text
    assert "the trace has no footer" in svg_text(draw.to_svg(taskview.tasks_scene(m, "cut")))


def test_more_switches_than_drawn_are_counted():
    p = many(1000)
    m = p.model(max_switches=50)
    _check_order(m)
    assert m.switches == 4 + 4000 + 2 and m.drawn == 50 and m.elided == 4006 - 50
    assert sum(len(lane.segments) for lane in m.lanes) <= 50
    a, b = m.lanes
    assert a.state == "finished" and a.result == "'a done'" and a.runs == 1002  # followed to the end
    # every switch but the last (a return) began a segment, drawn or counted
    assert b.state == "waiting" and a.elided + b.elided + sum(len(x.segments) for x in m.lanes) == 4005
    note = "… 3956 more switches not drawn (at most 50 are)"
    assert note in taskview.tasks_text(m, "many")
    sc = taskview.tasks_scene(m, "many")
    assert note in svg_text(draw.to_svg(sc))
    # a segment cut by the limit runs to the right edge
    cut = a.segments[-1]
    assert cut.start < 50 <= cut.end
    assert "goes on past the drawn switches" in draw.to_svg(sc)


def _many_tasks() -> Program:
    p = Program()
    for i in range(300):
        c = p.coro(2 + i, "t#%d" % i)
        p("start", c, "T%d" % i)
        p("return", c, "T%d" % i, value="None")
    return p


def test_tasks_after_the_limit_are_counted_not_kept():
    m = _many_tasks().model(max_switches=40)
    assert len(m.lanes) == 20 and m.more_tasks == 280 and m.elided == 600 - 40
    assert "… 280 more tasks began after the drawn switches" in taskview.tasks_text(m, "t")


def test_default_limit_keeps_the_picture_bounded():
    p = many(1000)
    m = p.model()
    assert m.drawn == 400
    sc = taskview.tasks_scene(m, "many")
    assert sc.width < 30000 and sc.height < 400
    text = taskview.tasks_text(m, "many")
    assert all(len(line) <= 100 for line in text.splitlines())
    assert "1 column = 4.3 switches" in text and "▒ both" in text


def test_hostile_labels():
    m = hostile().model()
    assert [lane.task for lane in m.lanes] == HOSTILE
    text = taskview.tasks_text(m, "<hostile>\u202e")
    assert all(len(line) <= 100 for line in text.splitlines())
    assert "\u202e" not in text and "\x00" not in text and "\udc80" not in text
    sc = taskview.tasks_scene(m, "<hostile>\u202e")
    svg = draw.to_svg(sc)
    check_svg(svg)
    for bad in ("<script", "\u202e", "\x00", "\ufffe", "\udc80"):
        assert bad not in svg
    for text in HOSTILE:  # each whole in a tooltip (the task's name, the wait's label)
        assert escape.xml_text(text) in svg
    drawn = svg_text(svg)
    # lane names cut in the middle (their ends tell tasks apart), visibly
    assert "<script>alert(1)…script>" in drawn and "line\\nbreak\\u000…l\\u200b" in drawn
    for shape in sc.shapes:
        for text in (getattr(shape, "text", None), getattr(shape, "tip", None)):
            assert text is None or text == escape.visible(text)
    check_dot(draw.to_dot(sc))


def test_same_input_same_output():
    for make in (workers, cancelled, hostile):
        a, b = make().model(), make().model()
        assert draw.to_svg(taskview.tasks_scene(a, "x")) == draw.to_svg(taskview.tasks_scene(b, "x"))
        assert taskview.tasks_text(a, "x") == taskview.tasks_text(b, "x")


def test_the_recorded_async_sample():
    """The committed recording of samples/async_producer_consumer.py (it is
    re-recorded now and then: only what any recording of it must show)."""
    path = ROOT / "tests" / "gold" / "traces" / "async_producer_consumer.trace.jsonl"
    trace = traceio.load(str(path))
    loops = {i for i, o in trace.objects.items() if o["kind"] == "event_loop"}
    tasks = list(dict.fromkeys(e["task"] for e in trace.events if e["task"] is not None))
    switches = sum(1 for e in trace.events if e["task"] is not None and e["by"] in loops)
    m = from_file(path)
    _check_order(m)
    assert [lane.task for lane in m.lanes] == tasks and len(tasks) >= 3
    assert m.switches == m.drawn == switches and not m.truncated
    assert all(lane.state == "finished" for lane in m.lanes)
    for lane in m.lanes:
        kinds = [seg.kind for seg in lane.segments]
        assert kinds == ["run", "wait"] * (len(kinds) // 2) + ["run"], lane.task
        assert all(seg.label for seg in lane.segments if seg.kind == "wait")
        assert all(seg.duration is not None and seg.duration >= 0 for seg in lane.segments)
    text = taskview.tasks_text(m, "async_producer_consumer")
    assert all(len(line) <= 100 for line in text.splitlines())
    check_svg(draw.to_svg(taskview.tasks_scene(m, "async_producer_consumer")))


def _cases() -> dict:
    return {"workers": workers().model(), "cancelled": cancelled().model(), "waiting": still_waiting().model(),
            "hostile": hostile().model(), "many": many(1000).model(max_switches=120),
            "odd": _odd_model(), "empty-lanes": _no_switch_model(), "lanes": _many_tasks().model(max_switches=40),
            "sample": from_file(ROOT / "tests" / "gold" / "traces" / "async_producer_consumer.trace.jsonl")}


def _odd_model() -> TasksModel:
    p = Program()
    c = p.coro(2, "c#1")
    p("yield", c, "T", value="1", on="a label much too long to fit in a single step of the axis")
    p("resume", c, "T")
    p("yield", c, "T", on="x" * 50)
    p("resume", c, "T")
    m = p.model()
    assert m is not None
    return m


def _no_switch_model() -> TasksModel:
    p = Program()
    c = p.coro(2, "c#1")
    p.objects[p.coro(3, "f")]["kind"] = "function"
    p("start", c, "T", by=3)
    p("yield", c, "T", by=3, value="1")
    m = p.model()
    assert m is not None and m.switches == 0 and len(m.lanes) == 1
    return m


def test_text_fits_as_a_browser_draws_it():
    """chromium, with the font the SVG asks for: every text inside the
    picture, no two texts overlapping, none wider than planned."""
    check_scene_layouts({name: taskview.tasks_scene(m, name) for name, m in _cases().items()}, min_texts=5)


def test_long_labels_are_shortened_inside_their_bar_and_whole_in_the_tooltip():
    m = _odd_model()
    sc = taskview.tasks_scene(m, "odd")
    waits = [s for s in sc.shapes if isinstance(s, scene.Rect) and s.role == "suspended" and s.tip]
    labels = [s for s in sc.shapes if isinstance(s, scene.Text) and s.role == "suspended" and s.tip]
    assert "a label much too long to fit in a single step of the axis" in waits[0].tip
    assert labels[0].text == "a label much …" and labels[0].width <= waits[0].w - 2 * taskview.PAD + 0.01
    for text in labels:
        bar = next(r for r in waits if r.x <= text.x <= r.x + r.w)
        assert text.width <= bar.w - 2 * taskview.PAD + 0.01


def test_the_axis_stays_within_what_a_png_can_hold():
    """Every wait one step long, with a long label: the steps widen less."""
    from tracer.render import gv
    p = Program()
    a = p.coro(2, "a#1")
    p("start", a, "A")
    for _ in range(1000):
        p("yield", a, "A", value="None", on="Future pending and more")
        p("resume", a, "A", value="None")
    sc = taskview.tasks_scene(p.model(), "solo")
    assert taskview.MAX_AXIS * 0.9 < sc.width < taskview.MAX_AXIS + 400
    labels = {t.text for t in sc.shapes if isinstance(t, scene.Text) and t.role == "suspended"}
    assert labels == {"Future pe…", "Future pending and more"}  # 10 cells; the last one is cut off by the limit
    if gv.system_dot() is None:
        pytest.skip("no Graphviz")
    png = gv.run(draw.to_dot(sc), "png", pinned=True)
    width = int.from_bytes(png[16:20], "big")
    assert sc.width * 96 / 72 * 0.99 < width < 32767   # drawn at full size, not scaled down


@pytest.mark.parametrize("fmt", ["png", "pdf"])
def test_raster_through_graphviz(fmt):
    from tracer.render import gv
    if gv.system_dot() is None:
        pytest.skip("no Graphviz")
    for m in (workers().model(), many(1000).model()):
        data = gv.run(draw.to_dot(taskview.tasks_scene(m, "w")), fmt, pinned=True)
        assert data[:4] in (b"\x89PNG", b"%PDF")
