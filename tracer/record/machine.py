"""The recorder's state machine: interpreter events in, cotrace events out.

Sources (:mod:`tracer.record.settrace`, :mod:`tracer.record.monitoring`)
feed it one interpreter event at a time through :meth:`Machine.handle`:
``call`` (a frame starts or resumes), ``return`` (it yields or ends),
``exception``, and, from sys.monitoring, ``throw`` (entered by throw()) and
``unwind`` (left by an exception).  It turns them into the
version-independent events of the trace format (start/resume/throw/close,
yield/return/raise), works out who handed control to whom and how, and fills
in what the interpreter never reports (synthetic events, below).  It
installs no hook itself: a test can feed it events by hand.

Throw detection: a ``call`` event looks the same for ``send`` and ``throw``.
The entry is therefore held back (:class:`Pending`) until the next event of
the thread: an ``exception`` event in the same frame at the same instruction
means the frame was resumed by ``throw()`` (or ``close()``, for
GeneratorExit); anything else means an ordinary resumption.

Synthetic events (``"synthetic": true``) stand in for transfers CPython
performs in C without running a frame:

* ``throw()``/``close()`` on a generator suspended in ``yield from`` is
  passed down to the innermost generator by C code; the outer levels are
  not entered (3.11-3.13).  Their throw/close and, if the inner one yields,
  their yield are synthesised.
* 3.13's ``close()`` finishes a generator suspended outside any ``try``
  without entering it, also when the garbage collector finalizes it.
"""
from __future__ import annotations

import collections
import functools
import itertools
import sys
import threading
import time
import types
import typing
import weakref
import _thread

from .. import compat
from ..isolation import isolated
from . import awaitables, codecache, codeinfo, framepeek, holders
from .actors import Actors, relpath
from .filters import Filters
from .saferepr import ReprTimeout, own_thread
from .sink import ACTIVE_THREADS

# private copies: the program may patch these modules (see tracer.isolation)
time = isolated(time)
weakref = isolated(weakref)
threading = isolated(threading)
functools = isolated(functools)

NEW, RUNNING, SUSPENDED, DONE = 0, 1, 2, 3
MISSING = object()  # a code object not decided yet


class _Lazy:
    """A resumer frame kept until the entry is classified (next event)."""

    __slots__ = ("frame",)

    def __init__(self, frame) -> None:
        self.frame = frame


class Obj:
    """Recorder-side state of one generator, coroutine or async generator."""

    __slots__ = ("id", "kind", "state", "resumer", "delegate", "delegator", "synthetic", "dying",
                 "ref", "excs", "exc_lasti", "fast_close", "frame_id", "yield_line", "on", "view")

    def __init__(self, oid: int, kind: str, frame_id: int) -> None:
        self.id = oid
        self.kind = kind
        self.state = NEW
        self.resumer = None      # actor id that last handed control to us
        self.delegate = None     # Obj we are suspended in ``yield from``/``await`` on
        self.delegator = None    # Obj suspended in ``yield from``/``await`` on us
        self.synthetic = False   # entered by a synthetic event, real entry not seen yet
        self.dying = False       # the garbage collector is finalizing us
        self.ref: typing.Any = None  # weakref to the generator object
        # recent exceptions raised in the frame, newest last:
        # (lasti, id(exc), id(exc.__context__), repr, type); ids only, no
        # references that would keep exceptions, tracebacks and frames alive
        self.excs: list = []
        self.exc_lasti = -1
        self.fast_close = False  # 3.13: close() would not re-enter the frame
        self.frame_id = frame_id
        self.yield_line = None
        self.on = None           # what it waits on, at its last yield (asyncio)
        self.view = None         # framepeek.StackView of its frame, made at the first resumption


# An entry held back until the next event of its thread (see the module
# docstring); a tuple, made with one C call on the hot path.
Pending = collections.namedtuple("Pending", "rec frame_id lasti start by via value raw line chain t")
_new_pending = tuple.__new__


class ThreadState:
    """Per-thread recorder state.  ``serial`` is unique for the run, unlike
    thread idents, which the OS reuses once a thread has ended."""

    __slots__ = ("ident", "pending", "serial", "thread", "last_yield")

    def __init__(self, ident: int, serial: int) -> None:
        self.ident = ident
        self.pending: Pending | None = None
        self.last_yield = None   # (Obj, id of the value) of the last event, if it was a yield
        self.serial = serial
        self.thread = ACTIVE_THREADS.get(ident)  # None for threads not made by threading


_SUSPENDED_ATTR = compat.SUSPENDED_ATTR
_KIND_TEXT = {"generator": "generator", "coroutine": "coroutine", "async_generator": "async generator"}
_RUNNING_ATTR = compat.RUNNING_ATTR
_FRAME_ATTR = compat.FRAME_ATTR
_FRAME_ATTR_BY_TYPE = compat.FRAME_ATTR_BY_TYPE
_CLOSE_MAY_SKIP_FRAME = compat.CLOSE_MAY_SKIP_FRAME
_ASYNC_ITER_VIAS = frozenset({"async for", "asend", "anext"})
_DELEGATING = frozenset({"yield from", "await"}) | _ASYNC_ITER_VIAS


# the thread state of cotrace's own repr helper threads (tracer.record.saferepr):
# their events are dropped before they reach the machine's lock
IGNORED: typing.Any = object()


class Machine:
    """The state machine of one recording.

    ``sink`` takes its events (:class:`tracer.record.sink.Sink`; its
    ``threads`` registry and bounded ``repr`` are the machine's too),
    :class:`tracer.record.actors.Actors` names who hands control over,
    ``gc`` says when the cyclic collector runs (:class:`tracer.record.guards.GcPhase`),
    ``fail(exc)`` is called on an internal error (the recorder then stops
    recording; the program never sees the exception).
    """

    # the record types: the C core (tracer.record.core) uses its own, with
    # the same fields, which its fast path reads and writes directly
    obj_class: typing.Any = Obj
    thread_class: typing.Any = ThreadState

    def __init__(self, sink, filters: Filters, gc_phase, fail) -> None:
        self.active = False
        self.lost = 0
        self.repr = sink.repr          # the recording's one bounded repr
        self.filters = filters
        self._sink = sink
        self._gc = gc_phase
        self._fail = fail
        self.threads: dict = sink.threads  # ident -> ThreadState (the sink names threads from it)
        self._serials = itertools.count()
        self._actors = Actors(sink, lambda: self.thread_state().serial)
        self.decisions: dict = {}      # id(code) -> recorded kind or None
        self.coroutine_seen: typing.Any = None   # called when a coroutine function is first seen
        self.unrecorded: dict = {}     # why not recorded ("library", "excluded", ...) -> generator functions
        self.unrecorded_names: list = []   # the first few of them, as "qualname (file)"
        self.raised: typing.Any = weakref.WeakKeyDictionary()   # coroutine that raised -> its id
        self.records: dict = {}        # id(frame) -> Obj
        self.by_id: dict = {}          # Obj.id -> Obj
        self._fast_closable: set = set()
        self._poll_tick = 0
        self._lock = threading.RLock()
        self.busy = None               # ident of the thread inside a handler
        # the collaborators' methods, bound once (hot path)
        self._emit = sink.emit
        self._val = sink.val
        self._special_actor = self._actors.special_actor
        self._plain_resumer = self._actors.plain_resumer
        self._actor_for_frame = self._actors.for_frame

    @property
    def objects(self) -> int:
        return self._actors.objects

    def tables(self) -> tuple:
        """The per-code caches (tracked by codecache while recording)."""
        return (self.decisions,) + self._actors.tables()

    # -- what every source needs --------------------------------------------
    def thread_state(self, new: bool = False) -> ThreadState:
        ident = _thread.get_ident()
        if own_thread(ident):
            return IGNORED   # cotrace's repr helper: what it runs is not the program's
        ts = self.threads.get(ident)
        if ts is None or new:
            ts = self.threads[ident] = self.thread_class(ident, next(self._serials))
        return ts

    def decide(self, code):
        """Whether (and as what kind) frames of ``code`` are recorded."""
        kind = compat.code_kind(code.co_flags)
        if kind == "coroutine":
            seen = self.coroutine_seen   # (read once: another thread may clear it)
            if seen is not None:
                try:
                    seen()   # (asyncio may have been imported: UnretrievedHook)
                except Exception:  # not seen then: never in the program's way
                    self.coroutine_seen = None
        if kind is not None:
            why = self.filters.reason(code.co_filename)
            if why is not None:
                if why != "own":   # a generator function that ran unrecorded: counted, a few named
                    count = self.unrecorded.get(why, 0)
                    self.unrecorded[why] = count + 1
                    if count < 3:
                        self.unrecorded_names.append("%s (%s)" % (code.co_qualname, relpath(code.co_filename)))
                kind = None
        # keyed by id (code objects hash by content, slowly); the tables
        # forget a code object when it dies (codecache)
        codecache.watch(code)
        self.decisions[id(code)] = kind
        return kind

    def handle(self, ts, frame, event, arg, kind) -> None:
        """One interpreter event of a recorded frame."""
        if ts is IGNORED:
            return
        lock = self._lock
        sink = self._sink
        try:
            lock.acquire()  # not ``with``: measurably slower, on every event
            try:
                self.busy = ts.ident
                sink.ts = ts
                if event == "call":
                    self._on_call(ts, frame, kind)
                elif event == "return":
                    self._on_return(ts, frame, arg)
                elif event == "exception":
                    self._on_exception(ts, frame, arg)
                elif event == "throw":   # sys.monitoring's PY_THROW: an entry by throw()
                    self._on_call(ts, frame, kind)
                    self._on_exception(ts, frame, (type(arg), arg, None))
                elif event == "unwind":  # sys.monitoring's PY_UNWIND: left by ``arg``
                    self._on_unwind(ts, frame, arg)
            finally:
                self.busy = sink.ts = None
                lock.release()
        except BaseException as exc:
            self.failed(exc)

    def failed(self, exc: BaseException) -> None:
        """What an exception escaping a handler means (also the C core's)."""
        if isinstance(exc, ReprTimeout):
            return
        if isinstance(exc, RecursionError):
            # the program is at its recursion limit and our callback needs a
            # few frames more: this event is lost, recording goes on
            self.lost += 1
        elif isinstance(exc, KeyboardInterrupt):
            # Ctrl-C landed in our code: hand it back to the program
            _thread.interrupt_main()
        else:
            self._fail(exc)

    def closing(self, frame, caller) -> None:
        """3.13's close hook: ``close()`` is being called on the generator
        running ``frame`` (None if it has none) by the frame ``caller``."""
        if own_thread(_thread.get_ident()):
            return
        try:
            with self._lock:
                rec = self.records.get(id(frame)) if frame is not None else None
                if rec is not None and rec.state == SUSPENDED and rec.fast_close and rec.delegate is None:
                    r = self.records.get(id(caller)) if self.decisions.get(id(caller.f_code)) else None
                    by = r.id if r is not None and r.state == RUNNING else self._actor_for_frame(caller)[0]
                    self._synthetic_close(rec, by, "close")
        except Exception as exc:
            self._fail(exc)

    def never_awaited(self, coro, frame) -> None:
        """A coroutine finalized before it ever ran (tracer.record.unawaited):
        an object of its own, and an ``anomaly`` record naming the line the
        warning names (``frame``: the frame running when it was dropped)."""
        if not self.active or own_thread(_thread.get_ident()):
            return
        try:
            code = coro.cr_code
            kind = self.decisions.get(id(code), MISSING)
            if kind is MISSING:
                kind = self.decide(code)
            if kind != "coroutine" or not self._sink.noting():
                return   # not recorded (--include/--exclude, the standard library), or enough of them
            with self._lock:
                oid = self._actors.new_object(code, kind)
                where = (relpath(frame.f_code.co_filename), frame.f_lineno) if frame is not None else (None, None)
                self._sink.note("never-awaited", oid, *where)
        except Exception as exc:
            self._fail(exc)

    def never_retrieved(self, task, exc) -> None:
        """An asyncio task finalized with an exception nobody retrieved
        (tracer.record.unawaited.UnretrievedHook): an ``anomaly`` record
        for its coroutine, at the line the exception left the coroutine."""
        if not self.active or own_thread(_thread.get_ident()):
            return
        try:
            # asyncio's own Task classes' get_coro (a subclass's override, or
            # a coroutine of another type, would be the program's code)
            tasks = getattr(sys.modules.get("asyncio.tasks"), "__dict__", {})
            coro = None
            for name in ("_CTask", "_PyTask"):
                base = tasks.get(name)
                if isinstance(base, type) and isinstance(task, base):
                    coro = vars(base)["get_coro"](task)
                    break
            if type(coro) is not types.CoroutineType:
                return
            oid = self.raised.get(coro)
            if oid is None or not self._sink.noting():
                return   # not recorded (--include/--exclude, the standard library), or enough of them
            file = line = None
            code: typing.Any = getattr(coro, "cr_code", None)
            tb = getattr(exc, "__traceback__", None)
            while tb is not None:   # the last line of the coroutine's own code in the traceback
                if tb.tb_frame.f_code is code:
                    file, line = relpath(tb.tb_frame.f_code.co_filename), tb.tb_lineno
                tb = tb.tb_next
            with self._lock:
                self._sink.note("never-retrieved", oid, file, line)
        except Exception as e:
            self._fail(e)

    def settle(self, limit_reached: bool, last_defined: int) -> tuple[list, list]:
        """At the end: emit the held-back entries, record 3.13's silent
        closes; (ids still suspended, ids still running), among those with
        records in the file."""
        suspended, running = [], []
        with self._lock:
            try:
                for ts in list(self.threads.values()):
                    if ts.pending is not None:
                        self._resolve(ts, None, "stop", None)
                for rec in sorted(self.records.values(), key=lambda r: r.id):
                    if rec.state in (SUSPENDED, RUNNING) and limit_reached:
                        # it ran on unrecorded after the limit: still suspended
                        # only if its object is alive and suspended now
                        gen = rec.ref() if rec.ref is not None else None
                        attr = _SUSPENDED_ATTR[rec.kind]
                        if gen is not None and getattr(gen, _FRAME_ATTR[rec.kind]) is not None and (
                                getattr(gen, attr) if attr is not None else framepeek.is_suspended(gen)) \
                                and rec.id <= last_defined:
                            suspended.append(rec.id)
                        continue
                    if rec.state == SUSPENDED:
                        gen = rec.ref() if rec.ref is not None else None
                        if gen is not None and getattr(gen, _FRAME_ATTR[rec.kind]) is None:
                            # finished without an event (closed from C code on 3.13)
                            self._synthetic_close(rec, self._special_actor("runtime"), "close")
                        elif rec.id <= last_defined:
                            suspended.append(rec.id)
                    elif rec.state == RUNNING and rec.id <= last_defined:
                        running.append(rec.id)
            except Exception as exc:  # never let bookkeeping break the exit path
                self._fail(exc)
        return suspended, running

    def still_suspended(self, ids: list) -> list:
        """``[id, line, holders]`` for the objects ``ids`` (still suspended
        at the end): the yield each waits at and, for one still alive, what
        refers to it (record.holders; [] when it is gone or unknown)."""
        rows: list = []
        at: list = []     # the rows of the objects still alive, and those objects
        gens: list = []   # (two lists: a tuple of the pair would be one more holder)
        recorded = {}
        for rec in list(self.by_id.values()):
            gen = rec.ref() if rec.ref is not None else None
            if gen is not None:
                recorded[id(gen)] = rec.id
        for oid in ids[:holders.OBJECTS]:
            rec = self.by_id.get(oid)
            gen = rec.ref() if rec is not None and rec.ref is not None else None
            rows.append([oid, rec.yield_line if rec is not None else None, []])
            if gen is not None:
                at.append(len(rows) - 1)
                gens.append(gen)
        gen = None
        try:
            found = holders.describe(gens, recorded)
        except Exception:  # never let the description break the exit path
            found = []
        for row, held in zip(at, found):
            rows[row][2] = held
        return rows

    def _new_obj(self, frame, code, kind) -> Obj:
        oid = self._actors.new_object(code, kind)
        rec = self.obj_class(oid, kind, id(frame))
        gen = framepeek.owner_of(frame, kind)
        if gen is not None:
            rec.ref = weakref.ref(gen, functools.partial(self._on_death, rec))
        self.records[id(frame)] = rec
        self.by_id[oid] = rec
        return rec

    # -------------------------------------------------------------- entries
    def _on_call(self, ts, frame, kind) -> None:
        ts.last_yield = None
        if ts.pending is not None:
            self._resolve(ts, frame, "call", None)
        rec = self.records.get(id(frame))
        closable = self._fast_closable
        if closable and (len(closable) > 1 or rec not in closable):
            # (the one being entered has not been closed: skip the poll)
            self._poll_fast_closed()
        if rec is None:
            rec = self._new_obj(frame, frame.f_code, kind)
        elif rec.state == RUNNING and rec.synthetic:
            # the real entry after a synthetic one (end of a passed-down throw)
            rec.synthetic = False
            return
        elif rec.state == RUNNING:
            # its last exit was lost (recursion limit): keep entries and
            # exits alternating with a synthetic yield of unknown value
            self._emit("yield", rec.id, rec.resumer, None, None, False, rec.yield_line, synthetic=True)
            rec.state = SUSPENDED
        start = rec.state == NEW
        # who handed control over: skip outer generators that are suspended
        # in yield-from while C code passes a throw()/close() down to us;
        # see through coroutines and generators cotrace does not record
        # (asyncio's wait_for, a library's yield from) that only pass
        # control along an await / yield-from chain
        chain = []
        fb = frame.f_back
        records = self.records
        decisions = self.decisions
        passed_via = None
        r = None  # the resumer frame's record, if it is a recorded frame
        while fb is not None:
            code = fb.f_code
            if decisions.get(id(code)):
                r = records.get(id(fb))
                if r is not None and r.state == SUSPENDED:
                    chain.append(r)
                    r = None
                    fb = fb.f_back
                    continue
            elif code.co_flags & compat.CO_ANY_GENERATOR:
                via = codeinfo.resumer_via(code, fb.f_lasti)
                if via in _DELEGATING:
                    passed_via = passed_via or via
                    fb = fb.f_back
                    continue
            break
        if not chain and rec.delegator is not None:
            inner, d = rec, rec.delegator
            while d is not None and d.state == SUSPENDED and d.delegate is inner and (d.dying or self._is_running(d)):
                chain.append(d)
                inner, d = d, d.delegator
        by: typing.Any
        if fb is None:
            by, via = self._special_actor("runtime"), "other"
        else:
            if r is not None and r.state == RUNNING:
                by = r.id
                via = passed_via or codeinfo.resumer_via(fb.f_code, fb.f_lasti)
                if via in _ASYNC_ITER_VIAS and not start and codeinfo.is_delegating_site(frame.f_code, frame.f_lasti):
                    # the async generator was itself awaiting: this resumption
                    # continues that await, it is not a new asend/__anext__
                    via = "await"
                if via in _DELEGATING and not chain:
                    r.delegate = rec
                    rec.delegator = r
            elif rec.dying or self._gc.collecting or (chain and any(d.dying for d in chain)):
                # probably a finalization, where the frame below is whatever
                # happened to run: decide when the entry is known
                by, via = _Lazy(fb), None
            else:
                by, via = self._plain_resumer(fb, ts.serial)
        value, raw = None, False
        if start:
            pass
        elif via in ("next", "for"):
            value, raw = None, True  # next() and for loops always send None
        else:
            view = rec.view
            if view is None:
                view = rec.view = framepeek.stack_view(frame)
            v = view.top() if view is not None else framepeek.NOVALUE
            if v is framepeek.NOVALUE:
                value = None
            else:
                value, raw = self._val(v)
        rec.state = RUNNING
        rec.exc_lasti = -1
        ts.pending = _new_pending(Pending, (rec, id(frame), frame.f_lasti, start, by, via, value, raw, frame.f_lineno,
                                            chain, time.perf_counter_ns() - self._sink.t0))

    def _is_running(self, rec) -> bool:
        attr = _RUNNING_ATTR[rec.kind]
        gen = rec.ref() if rec.ref is not None else None
        return bool(attr and gen is not None and getattr(gen, attr))

    def _resolve(self, ts, frame, event, arg, synthetic: bool = False) -> bool:
        """Emit the held-back entry; True if ``event`` was its throw/close."""
        p = ts.pending
        ts.pending = None
        rec, fid, lasti, start, by, via, value, raw, line, chain, t = p
        if event == "exception" and frame is not None and id(frame) == fid and frame.f_lasti == lasti:
            exc = arg[1]
            exc_text = self.repr(exc)
            if isinstance(exc, GeneratorExit):
                # close() called by code, or finalization: a refcount drop
                # (the weakref callback marked it dying) or a cycle collection
                ev = "close"
                gc = rec.dying or any(d.dying for d in chain) or self._gc.collecting
                via_e = "gc" if gc else "close"
                value, raw = None, False
            else:
                ev, via_e = "throw", "throw"
                value, raw = exc_text, False
            if via_e == "gc":
                by = self._special_actor("gc")
            elif type(by) is _Lazy:
                by = self._plain_resumer(by.frame, ts.serial)[0]
            if start:
                ev = "start"
            for d in reversed(chain):
                self._emit(ev if ev != "start" else ("close" if via_e in ("close", "gc") else "throw"),
                           d.id, by, via_e, value, raw, d.yield_line, t, synthetic=True)
                d.state = RUNNING
                d.synthetic = True
                d.resumer = by
                by = d.id
            self._emit(ev, rec.id, by, via_e, value, raw, line, t)
            rec.resumer = by
            _note_exception(rec, lasti, exc, exc_text)
            rec.exc_lasti = lasti
            if via_e in ("close", "gc") and rec.delegate is not None and rec.delegate.state == SUSPENDED:
                # 3.13 closed our delegate in C without entering it
                self._close_chain_silently(rec, via_e)
            return True
        if type(by) is _Lazy:
            # not a finalization after all (an async generator's finalizer
            # hook may resurrect it): an ordinary entry
            by, via = self._plain_resumer(by.frame, ts.serial)
            rec.dying = False
        if start and via in ("throw", "close"):
            via = "other"  # a start is never a throw unless the exception says so
        self._emit("start" if start else "resume", rec.id, by, via, None if start else value, raw, line, t,
                   synthetic=synthetic)
        rec.resumer = by
        return False

    # ---------------------------------------------------------------- exits
    def _on_return(self, ts, frame, arg) -> None:
        if ts.pending is not None:
            self._resolve(ts, frame, "return", arg)
        rec = self.records.get(id(frame))
        if rec is not None and rec.state == SUSPENDED:
            self._unannounced_entry(ts, frame, rec)
        if rec is None or rec.state != RUNNING:
            return
        code = frame.f_code
        lasti = frame.f_lasti
        attr = _SUSPENDED_ATTR[rec.kind]
        gen = rec.ref() if rec.ref is not None else None
        state = None
        if gen is not None:
            state = getattr(gen, attr) if attr is not None else framepeek.is_suspended(gen)
        if state is not None:
            suspended = state
        else:  # no object to ask: judge by the instruction
            suspended = codeinfo.is_yield_site(code, lasti) and rec.exc_lasti != lasti
        line = frame.f_lineno
        if suspended:
            passed = id(arg)
            if rec.kind == "async_generator":
                arg = framepeek.unwrap_async_value(arg)
            value, raw = self._val(arg, gen)
            on = None
            last = ts.last_yield
            if last is not None and last[0] is rec.delegate and last[1] == passed:
                on = last[0].on  # passing on its delegate's yield: the chain waits on the same thing
            elif gen is not None and (rec.kind != "generator" or rec.resumer in self._actors.loops):
                # (runs no user code: no need to mark it running, and cr_await
                # must see it suspended)
                on = self._waits_on(gen, arg)
            rec.on = on
            ts.last_yield = (rec, passed)
            self._emit("yield", rec.id, rec.resumer, None, value, raw, line, on=on)
            rec.state = SUSPENDED
            rec.yield_line = line
            if rec.dying:
                # finalization closed it and it yielded: CPython reports
                # "generator ignored GeneratorExit" and frees it right away
                # (its weak reference is already gone: nothing else tells us)
                self._finish(rec)
                return
            if not codeinfo.is_delegating_site(code, lasti):
                rec.delegate = None
            rec.fast_close = _CLOSE_MAY_SKIP_FRAME and codeinfo.closes_without_reentry(code, lasti)
            if rec.fast_close:
                self._fast_closable.add(rec)
            else:
                self._fast_closable.discard(rec)
            # C code passed a throw() down to us: the value goes straight out
            # through the outer generators, which never run
            r = self.by_id.get(rec.resumer)
            while r is not None and r.synthetic and r.state == RUNNING:
                self._emit("yield", r.id, r.resumer, None, value, raw, r.yield_line, synthetic=True)
                r.state = SUSPENDED
                r.synthetic = False
                r = self.by_id.get(r.resumer)
            return
        ts.last_yield = None
        if codeinfo.is_return_site(code, lasti):
            value, raw = self._val(arg)
            ev = "return"
        else:
            text, etype = _leaving_exception(rec, code, lasti)
            if etype is not None and issubclass(etype, GeneratorExit):
                # close() succeeded: GeneratorExit left the frame.  Recorded
                # as a return of None, the same on every version (3.13 may
                # not even enter the frame).
                ev, value, raw = "return", None, False
            else:
                ev, value, raw = "raise", text, False
                if rec.kind == "coroutine":
                    self._keep_raised(rec)
                # PEP 479: what leaves the frame as StopIteration reaches the
                # caller as RuntimeError (converted in C on 3.11, by a hidden
                # handler on 3.12+ that fires no event)
                if etype is StopIteration or (etype is StopAsyncIteration and rec.kind == "async_generator"):
                    value = repr(RuntimeError("%s raised %s" % (_KIND_TEXT[rec.kind], etype.__name__)))
        self._emit(ev, rec.id, rec.resumer, None, value, raw, line)
        self._finish(rec)

    def _waits_on(self, gen, yielded) -> str | None:
        """Label of what a suspending coroutine waits on: the first object
        of its await chain that is not recorded (recorded ones have their
        own lifelines), or None when the chain ends in a recorded yield."""
        obj = gen
        try:
            for _ in range(256):
                aw = awaitables.awaited(obj)
                if aw is None:
                    return None
                attr = _FRAME_ATTR_BY_TYPE.get(type(aw))
                f = getattr(aw, attr) if attr is not None else None
                if f is not None and id(f) in self.records:
                    obj = aw
                    continue
                text = self.repr.redact(awaitables.label(aw, yielded))
                return text if len(text) <= self.repr.limit else text[: self.repr.limit - 3] + "..."
        except ReprTimeout:
            raise
        except Exception:
            return None
        return None

    def _unannounced_entry(self, ts, frame, rec) -> None:
        """The frame runs but its ``call`` event never came.

        A signal handler that runs at the frame's RESUME check, before the
        event fires (3.11, 3.13), raises there, typically KeyboardInterrupt;
        the exception and return events do reach us.  Record the entry."""
        if ts.pending is not None:
            self._resolve(ts, frame, "call", None)
        self._on_call(ts, frame, rec.kind)
        if ts.pending is not None:
            self._resolve(ts, frame, "unannounced", None, synthetic=True)

    def _on_exception(self, ts, frame, arg) -> None:
        if ts.pending is not None and self._resolve(ts, frame, "exception", arg):
            return
        rec = self.records.get(id(frame))
        if rec is not None and rec.state == SUSPENDED:
            self._unannounced_entry(ts, frame, rec)
        if rec is not None:
            _note_exception(rec, frame.f_lasti, arg[1], self.repr(arg[1]))
            rec.exc_lasti = frame.f_lasti

    def _on_unwind(self, ts, frame, exc) -> None:
        """The frame is left by the exception ``exc`` (monitoring backend)."""
        if ts.pending is not None:
            self._resolve(ts, frame, "unwind", None)  # an ordinary entry: throws come as PY_THROW
        rec = self.records.get(id(frame))
        if rec is not None and rec.state == RUNNING:
            _note_exception(rec, frame.f_lasti, exc, self.repr(exc))
            rec.exc_lasti = frame.f_lasti
        self._on_return(ts, frame, None)

    def _poll_fast_closed(self) -> None:
        """3.13: find generators that close() finished without running them
        when the call to close() came from C code (or from a call site the
        close hook had switched off).  Cheap while few generators are
        suspended outside try blocks; with many, checked every 64 entries."""
        self._poll_tick += 1
        if len(self._fast_closable) > 64 and self._poll_tick % 64:
            return
        for rec in list(self._fast_closable):
            if rec.state != SUSPENDED:
                self._fast_closable.discard(rec)
                continue
            d = rec.delegator
            if d is not None and d.state == SUSPENDED and d.delegate is rec:
                continue  # closed through its delegator: recorded with the delegator's close
            gen = rec.ref() if rec.ref is not None else None
            if gen is not None and getattr(gen, _FRAME_ATTR[rec.kind]) is None:
                self._synthetic_close(rec, self._special_actor("runtime"), "close")

    def _keep_raised(self, rec) -> None:
        """A coroutine that raised: its id, for as long as it lives (an
        asyncio task keeps it: never_retrieved may need it at the end)."""
        gen = rec.ref() if rec.ref is not None else None
        if gen is not None:
            try:
                self.raised[gen] = rec.id
            except TypeError:   # not weakly referenceable
                pass

    def _finish(self, rec) -> None:
        self._fast_closable.discard(rec)
        rec.state = DONE
        self.records.pop(rec.frame_id, None)
        self.by_id.pop(rec.id, None)
        rec.ref = None
        d = rec.delegator
        if d is not None and d.delegate is rec:
            d.delegate = None
        rec.delegator = None

    # ------------------------------------------------- events CPython skips
    def _synthetic_close(self, rec, by, via) -> None:
        self._emit("close", rec.id, by, via, None, False, rec.yield_line, synthetic=True)
        self._emit("return", rec.id, by, None, None, False, rec.yield_line, synthetic=True)
        self._finish(rec)

    def _close_chain_silently(self, closer, via) -> None:
        chain = []
        d = closer.delegate
        while d is not None and d.state == SUSPENDED:
            chain.append(d)
            d = d.delegate
        by = closer.id
        for d in chain:
            self._emit("close", d.id, by, via, None, False, d.yield_line, synthetic=True)
            by = d.id
        for d in reversed(chain):
            self._emit("return", d.id, d.delegator.id if d.delegator else closer.id, None, None, False,
                       d.yield_line, synthetic=True)
            self._finish(d)

    def _on_death(self, rec, _ref=None) -> None:
        """Weakref callback: the generator object is being deallocated."""
        try:
            with self._lock:
                if not self.active or rec.state != SUSPENDED:
                    return
                # an async generator with a finalizer hook (the event loop's)
                # is handed to the hook, which closes it later through
                # aclose(): an ordinary close by whoever runs that
                hooked = rec.kind == "async_generator" and sys.get_asyncgen_hooks().finalizer is not None
                if hooked:
                    return
                rec.dying = True
                # CPython will not re-enter the frame (3.13 fast close), or it
                # will but we cannot see it because we are inside our own
                # trace function, where tracing is off
                # (an async generator with a finalizer hook is handed to the
                # hook instead, typically the event loop, which closes it later)
                if (rec.fast_close and rec.delegate is None) or self.busy == _thread.get_ident():
                    self._synthetic_close(rec, self._special_actor("gc"), "gc")
        except Exception as exc:
            self._fail(exc)


def _note_exception(rec, lasti: int, exc, text: str) -> None:
    ctx = exc.__context__ if isinstance(exc, BaseException) else None
    rec.excs.append((lasti, id(exc), id(ctx) if ctx is not None else 0, text, type(exc)))
    if len(rec.excs) > 8:
        del rec.excs[0]


def _leaving_exception(rec, code, lasti: int):
    """(repr, type) of the exception a frame is unwinding with.

    settrace does not say.  An exception raised at the instruction the frame
    leaves from is the one (3.12+'s handlers restore that instruction when
    they re-raise).  A re-raise (``finally``, bare ``raise``) fires no event:
    it re-raises the exception being handled, which is the context of any
    exception raised and caught meanwhile in that handler."""
    if not rec.excs:
        return None, None
    for at, _eid, _ctx, text, etype in reversed(rec.excs):
        if at == lasti:
            return text, etype
    _at, _eid, ctx, text, etype = rec.excs[-1]
    if codeinfo.is_reraise(code, lasti) and ctx:
        for _at, eid, _ctx, ctext, ctype in reversed(rec.excs[:-1]):
            if eid == ctx:
                return ctext, ctype
    return text, etype
