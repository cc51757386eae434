"""Where the state machine's events go: numbered, limited, their values
captured safely, handed to the trace writer as records of the declared
shape (:data:`tracer.traceio.EVENT_FIELDS`, :data:`tracer.traceio.OBJECT_FIELDS`).

Values follow the rule stated in :mod:`tracer.record.saferepr`: immutable
scalars are stored as they are and repr'd by the writer; anything else is
repr'd now, bounded and exception-proof.
"""
from __future__ import annotations

import itertools
import sys
import threading
import time
import _thread

from ..isolation import isolated
from . import framepeek
from .saferepr import IMMUTABLE_SCALARS, TUPLE_SCALARS, SafeRepr

# private copies: the program may patch these modules (see tracer.isolation)
time = isolated(time)
threading = isolated(threading)

# threading's registry of running Thread objects (private, stable since 2.x);
# read directly because threading.current_thread() would create a dummy
# Thread, visible to the program, for threads started with _thread
ACTIVE_THREADS: dict = threading._active  # type: ignore[attr-defined]
_MODULES = sys.modules
_SCALAR_TYPES = frozenset(IMMUTABLE_SCALARS)
# A batch waits at most this long (by the events' clock) before it is
# written, so that a crash the recorder cannot see (a native one, kill -9)
# loses at most a second of a slow program's events, or one batch.
FLUSH_NS = 1_000_000_000
# anomaly records (never-awaited coroutines) per run: a program that drops
# millions is told about the first ones, with their count bounded too
NOTES = 1000


def thread_name(thread) -> str | None:
    """Thread._name, not the .name property: no Python frame of threading.py."""
    if thread is None:
        return None
    name = getattr(thread, "_name", None)
    return name if type(name) is str else thread.name


class Sink:
    """Numbers events (``seq``), stops at ``max_events``, names the thread
    and the asyncio task, and appends records to ``writer``.

    ``ts`` is the state of the thread being handled, set by the state
    machine around each event (None for events made outside a handler)."""

    def __init__(self, writer, safe_repr: SafeRepr, max_events: int | None, on_limit) -> None:
        self.writer = writer
        self.repr = safe_repr
        self.limit = max_events if max_events is not None else sys.maxsize
        self.count = 0
        self.dropped = 0
        self.limit_reached = False   # --max-events hit: recording switched itself off
        self.last_defined = 0        # ids up to this one have records in the file (ids only grow)
        self.notes = 0               # anomaly records queued
        self.ts = None
        self.t0 = 0
        self.threads: dict = {}      # ident -> the state machine's thread state (it fills it)
        self._on_limit = on_limit
        # not the event count: an emit nested in ours (a gc callback) takes the next
        self._seq = itertools.count(1)
        self._flush_by = FLUSH_NS    # (event time) a batch is written when full, or this late

    def clock(self) -> int:
        return time.perf_counter_ns() - self.t0

    def val(self, v, yielding=None):
        """(value, True) to store as it is and repr later, off the hot path:
        immutable scalars and short tuples of them, whose repr runs no user
        code and cannot change; (repr, False) for anything else, made now.
        ``yielding``: the generator-like object in the middle of yielding
        ``v``, marked running while the repr runs (a repr that resumes it
        gets "generator already executing", as it would if the generator
        itself ran it, instead of re-entering a frame still on the stack)."""
        t = type(v)
        if t in _SCALAR_TYPES or t is tuple and len(v) <= TUPLE_SCALARS and all(type(x) in _SCALAR_TYPES for x in v):
            return v, True
        if yielding is None:
            return self.repr(v), False
        held = framepeek.hold_running(yielding)
        try:
            return self.repr(v), False
        finally:
            framepeek.release_running(yielding, held)

    def emit(self, ev, oid, by, via, value, raw, line, t=None, synthetic=False, on=None) -> None:
        if self.count >= self.limit:
            self.dropped += 1
            if not self.limit_reached:
                self.limit_reached = True
                self._on_limit()
            return
        self.count += 1
        if t is None:
            t = time.perf_counter_ns() - self.t0
        aio = _MODULES.get("asyncio")
        ts = self.ts
        thread = ts.thread if ts is not None else None
        name = thread._name if thread is not None else None  # Thread._name: no Python frame of threading.py
        w = self.writer
        # the order of traceio.EVENT_FIELDS
        w.append(("e", next(self._seq), t, ev, oid, by, via, value, raw, line,
                  name if type(name) is str else self.thread_name(),
                  None if aio is None else _task(aio), synthetic, on))
        if len(w.buf) >= w.batch or t >= self._flush_by:
            self._flush_by = t + FLUSH_NS
            w.flush()

    def define(self, oid, kind, name, qualname, file, line, label, thread) -> None:
        """Queue an object record (the order of traceio.OBJECT_FIELDS),
        unless --max-events was reached: no event will mention it then."""
        if self.count < self.limit:
            self.last_defined = oid
            self.writer.append(("o", oid, kind, name, qualname, file, line, label, thread))

    def noting(self) -> bool:
        """Whether another anomaly record would be written (see :meth:`note`)."""
        return self.count < self.limit and self.notes < NOTES

    def note(self, kind: str, oid: int, file: str | None, line: int | None) -> None:
        """Queue an ``anomaly`` record (traceio: what happened to ``oid``
        outside any event, after the events so far), at most NOTES per run
        and not once --max-events was reached."""
        if not self.noting():
            return
        self.notes += 1
        thread = self.thread_name()
        self.writer.append(("a", kind, oid, self.count, time.perf_counter_ns() - self.t0, file, line,
                            None if thread == "MainThread" else thread))

    def thread_name(self) -> str:
        ts = self.threads.get(_thread.get_ident())
        t = ts.thread if ts is not None else None
        if t is None:
            t = ACTIVE_THREADS.get(_thread.get_ident())
            if t is None:
                return "Thread-%d" % _thread.get_ident()
        return thread_name(t)  # type: ignore[return-value]


def _task(aio):
    """Name of the running asyncio task, or None."""
    try:
        loop = aio.events._get_running_loop()
        if loop is None:
            return None
        task = aio.current_task(loop)
        return task.get_name() if task is not None else None
    except Exception:
        return None
