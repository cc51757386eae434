"""The task view's model: one lane per asyncio task, running and waiting.

A task runs from the moment the event loop hands control to it (an entry
event whose ``by`` is an ``event_loop`` actor) until it hands control back
(an exit event received by the event loop): a ``yield`` means the task now
waits (on the yield's ``on`` label, else its value), ``return``/``raise``
that it finished.  What happens in between (coroutines awaiting each other)
does not change the task's state; the coroutines that ran are kept, a few
per running segment, for the tooltips.

The x axis of the view is the order of these hand-overs ("switches"), not
time: switch ``k`` is the ``k``-th event (0-based) that hands control to
or from an event loop.  A :class:`Segment` runs from one switch to a later
one.

Built online (:class:`TasksBuilder`, one ``feed`` per event): at most
``max_switches`` switches are drawn and segments kept; later switches are
only counted, and only the drawn lanes' states (one open segment each) are
followed to the end, so memory does not grow with the number of events.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .traceio import ENTRY_EVENTS, EXIT_EVENTS

DEFAULT_MAX_SWITCHES = 400
COROUTINES = 6          # distinct coroutine labels kept per running segment

# the repr of asyncio.CancelledError, possibly with its module
_CANCELLED = re.compile(r"(?:[A-Za-z_][\w.]*\.)?CancelledError\b")


def is_cancellation(value: str | None) -> bool:
    """Whether a thrown/raised value (a repr) is a CancelledError."""
    return value is not None and _CANCELLED.match(value) is not None


@dataclass
class Segment:
    """A stretch of one task's life: running or waiting, between two switches."""

    kind: str                     # "run" or "wait"
    start: int                    # switch (0-based) where it began
    end: int | None = None        # switch where it ended; None: still open when the trace ends
    t0: int | None = None         # ns, when known
    t1: int | None = None
    seq: int | None = None        # the event that began it
    label: str | None = None      # wait: what the task waits on ("on", else the yielded value, else "?")
    value: str | None = None      # wait: the yielded value; run: the value sent or thrown in
    entry: str | None = None      # run: start/resume/throw/close; None if its entry is not in the trace
    exit: str | None = None       # run: yield/return/raise; None if open or its exit is missing
    result: str | None = None     # run that ended the task: the returned value or raised exception
    cancelled: bool = False       # run: resumed by a CancelledError; wait: ended by one
    synthetic: bool = False       # begun by an event CPython did not report
    coroutines: list = field(default_factory=list)  # run: labels of the coroutines that ran, the task's first
    more_coroutines: bool = False  # run: more coroutines ran than are kept

    @property
    def partial(self) -> bool:
        """A run whose entry is missing (the trace does not say when it began)."""
        return self.kind == "run" and self.entry is None

    @property
    def duration(self) -> int | None:
        """Nanoseconds, or None when open or a time is unknown."""
        if self.end is None or self.t0 is None or self.t1 is None:
            return None
        return self.t1 - self.t0


@dataclass
class Lane:
    """One asyncio task."""

    task: str
    thread: str                   # of its events ("MainThread" if they say none)
    coroutine: str | None = None  # label of the task's coroutine (the first one the loop ran)
    segments: list = field(default_factory=list)  # drawn segments, in order
    elided: int = 0               # segments after the drawn switches, not kept
    state: str = "new"            # new/running/waiting/finished/failed/cancelled at the end
    waiting_on: str | None = None  # the awaited label while waiting (at the end: still waiting on it)
    result: str | None = None     # returned value or raised exception
    end: int | None = None        # switch where the task finished
    runs: int = 0                 # every running segment, drawn or not
    waits: int = 0
    cancellations: int = 0
    run_ns: int = 0               # total of the known durations
    wait_ns: int = 0
    run_untimed: int = 0          # ended runs / waits whose duration is unknown (no ``t``)
    wait_untimed: int = 0
    open: Segment | None = field(default=None, repr=False)  # the current segment (drawn or not)

    @property
    def name(self) -> str:
        """The task's name, with its thread unless that is the main thread."""
        if self.thread == "MainThread":
            return self.task
        return "%s [%s]" % (self.task, self.thread)


@dataclass
class TasksModel:
    lanes: list                   # of Lane, in order of first appearance
    switches: int                 # hand-overs to or from an event loop in the trace
    drawn: int                    # of which the first ``drawn`` are drawn
    max_switches: int
    more_tasks: int = 0           # tasks that began after the drawn switches (not drawn)
    truncated: bool = False       # no footer: the program did not finish cleanly
    last_t: int | None = None     # latest time seen (ns): open segments last at least until then

    @property
    def elided(self) -> int:
        """Switches not drawn."""
        return self.switches - self.drawn


def _time(e: dict) -> int | None:
    t = e.get("t")
    if type(t) is int:
        return t
    return int(t) if type(t) is float and t == t and abs(t) != float("inf") else None


def _text(value) -> str | None:
    return None if value is None else value if isinstance(value, str) else str(value)


class TasksBuilder:
    """Builds a :class:`TasksModel` one event at a time (events as
    :meth:`tracer.traceio.TraceStream.events` yields them)."""

    def __init__(self, objects: dict, max_switches: int = DEFAULT_MAX_SWITCHES) -> None:
        self.objects = objects
        self.max_switches = max(int(max_switches), 0)
        self.lanes: dict = {}        # (thread, task) -> Lane, drawn lanes only
        self.switches = 0
        self.more_tasks = 0
        self.seen = False            # some event had a task
        self.last_t: int | None = None

    def _kind(self, oid) -> str | None:
        if type(oid) is not int:
            return None
        o = self.objects.get(oid)
        return o.get("kind") if isinstance(o, dict) else None

    def _label(self, oid) -> str:
        o = self.objects.get(oid) if type(oid) is int else None
        if not isinstance(o, dict):
            return "?" if oid is None else "#%s" % (oid,)
        return _text(o.get("label") or o.get("name")) or str(oid)

    def feed(self, e: dict) -> None:
        """Take the next event (in ``seq`` order)."""
        task = e.get("task")
        if task is None:
            return
        if not isinstance(task, str):
            task = str(task)
        self.seen = True
        t = _time(e)
        if t is not None and (self.last_t is None or t > self.last_t):
            self.last_t = t
        ev = e.get("ev")
        if not isinstance(ev, str):
            ev = None
        entry = ev in ENTRY_EVENTS
        switch = (entry or ev in EXIT_EVENTS) and self._kind(e.get("by")) == "event_loop"
        key = (_text(e.get("thread")) or "MainThread", task)  # a missing thread is the main one
        lane = self.lanes.get(key)
        if lane is None:
            if self.switches >= self.max_switches or len(self.lanes) >= self.max_switches:
                # past the drawn part: counted only
                if switch:
                    self.switches += 1
                    self.more_tasks += ev == "start"
                return
            lane = self.lanes[key] = Lane(task, key[0])
        if not switch:
            cur = lane.open
            if entry and lane.state == "running" and cur is not None:
                self._ran(cur, self._label(e.get("obj")))
            return
        k = self.switches
        self.switches += 1
        if entry:
            self._enter(lane, e, k, t)
        else:
            self._exit(lane, e, k, t)

    def _ran(self, seg: Segment, label: str) -> None:
        if label in seg.coroutines:
            return
        if len(seg.coroutines) < COROUTINES:
            seg.coroutines.append(label)
        else:
            seg.more_coroutines = True

    def _begin(self, lane: Lane, seg: Segment) -> None:
        lane.open = seg
        if seg.start < self.max_switches:
            lane.segments.append(seg)
        else:
            lane.elided += 1

    def _close(self, lane: Lane, seg: Segment, k: int, t: int | None) -> None:
        seg.end, seg.t1 = k, t
        d = seg.duration
        run = seg.kind == "run"
        if d is None or d < 0:
            if run:
                lane.run_untimed += 1
            else:
                lane.wait_untimed += 1
        elif run:
            lane.run_ns += d
        else:
            lane.wait_ns += d
        lane.open = None

    def _enter(self, lane: Lane, e: dict, k: int, t: int | None) -> None:
        ev = e["ev"]
        value = _text(e.get("value"))
        cancel = ev in ("throw", "start") and is_cancellation(value)
        cur = lane.open
        if cur is not None:
            # waiting: this ends the wait; running: its exit is missing, the run ends here
            if cur.kind == "wait":
                cur.cancelled = cancel
            self._close(lane, cur, k, t)
        label = self._label(e.get("obj"))
        if lane.coroutine is None:
            lane.coroutine = label
        seg = Segment("run", k, t0=t, seq=e.get("seq"), value=value, entry=ev, cancelled=cancel,
                      synthetic=bool(e.get("synthetic")), coroutines=[label])
        lane.state, lane.waiting_on, lane.result, lane.end = "running", None, None, None
        lane.runs += 1
        lane.cancellations += cancel
        self._begin(lane, seg)

    def _exit(self, lane: Lane, e: dict, k: int, t: int | None) -> None:
        ev = e["ev"]
        value = _text(e.get("value"))
        cur = lane.open
        if cur is None or cur.kind != "run":
            # an exit without its entry (a trace cut at the start, lost events):
            # a run whose beginning is unknown, ending here
            if cur is not None:
                self._close(lane, cur, k, t)
            label = self._label(e.get("obj"))
            if lane.coroutine is None:
                lane.coroutine = label
            cur = Segment("run", k, seq=e.get("seq"), coroutines=[label])
            lane.runs += 1
            self._begin(lane, cur)
        cur.exit = ev
        self._close(lane, cur, k, t)
        if ev == "yield":
            on = e.get("on")
            label = on if isinstance(on, str) else value if value is not None else "?"
            wait = Segment("wait", k, t0=t, seq=e.get("seq"), label=label, value=value,
                           synthetic=bool(e.get("synthetic")))
            lane.state, lane.waiting_on = "waiting", label
            lane.waits += 1
            self._begin(lane, wait)
        else:
            cur.result = value
            lane.result, lane.end, lane.waiting_on = value, k, None
            lane.state = "finished" if ev == "return" else "cancelled" if is_cancellation(value) else "failed"

    def result(self, truncated: bool) -> TasksModel | None:
        """The model so far (``truncated``: the trace has no footer), or None
        if no event belonged to a task."""
        if not self.seen:
            return None
        return TasksModel(lanes=list(self.lanes.values()), switches=self.switches,
                          drawn=min(self.switches, self.max_switches), max_switches=self.max_switches,
                          more_tasks=self.more_tasks, truncated=truncated, last_t=self.last_t)
