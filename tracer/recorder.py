"""The settrace recorder: turns interpreter trace events into cotrace events.

CPython reports a generator's life through ``sys.settrace`` as ``call``
(first run *and* every resumption), ``return`` (every yield *and* the end)
and ``exception``.  This module turns those into the version-independent
events of trace format v1 (start/resume/throw/close, yield/return/raise),
works out who handed control to whom and how, and fills in what the
interpreter never reports (see "synthetic events" below).

Hot path: the trace function decides once per code object whether it is a
recorded generator/coroutine/async generator (everything else returns
``None`` at once and is never traced line by line), and for recorded frames
classifies the event, captures the value, and appends a tuple to the
writer's buffer.  JSON happens in batches (``traceio.TraceWriter.flush``).

Throw detection: a ``call`` event looks the same for ``send`` and ``throw``.
The entry is therefore held back ("pending") until the next event of the
thread: an ``exception`` event in the same frame at the same instruction
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

import functools
import gc
import itertools
import os
import signal
import sys
import threading
import time
import types
import typing
import weakref
import _thread

from . import awaitables, codecache, codeinfo, compat, framepeek
from .filters import Filters
from .saferepr import IMMUTABLE_SCALARS, ReprTimeout, SafeRepr

NEW, RUNNING, SUSPENDED, DONE = 0, 1, 2, 3
# threading's registry of running Thread objects (private, stable since 2.x);
# read directly because threading.current_thread() would create a dummy
# Thread, visible to the program, for threads started with _thread
_ACTIVE_THREADS: dict = threading._active  # type: ignore[attr-defined]
_MODULES = sys.modules
_MISSING = object()
PACKAGE_PREFIX = os.path.dirname(os.path.abspath(__file__)) + os.sep
# Modules whose code runs only inside trace callbacks (not the runner's,
# which sits at the bottom of every stack of the program).
RECORDING_FILES = frozenset(
    PACKAGE_PREFIX + name
    for name in ("recorder.py", "monitoring.py", "traceio.py", "saferepr.py", "framepeek.py", "codeinfo.py",
                 "filters.py"))
_ASYNCIO_DIR = None


def _asyncio_dir() -> str:
    global _ASYNCIO_DIR
    if _ASYNCIO_DIR is None:
        import importlib.util

        spec = importlib.util.find_spec("asyncio")
        origin = spec.origin if spec and spec.origin else ""
        _ASYNCIO_DIR = os.path.dirname(os.path.realpath(origin)) + os.sep if origin else "\0"
    return _ASYNCIO_DIR


class _Retrip(int):
    """``_Retrip(SIGINT).fire`` runs ``_thread.interrupt_main(SIGINT)``.

    Through a property, because an attribute load, unlike a call, is not
    followed by a check for pending signals: the re-raised interrupt must
    fire in the program after our trace function returns, not inside it.
    """

    fire = property(_thread.interrupt_main)


_RETRIP = _Retrip(2)  # signal.SIGINT


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


class _ThreadState:
    """Per-thread recorder state.  ``serial`` is unique for the run, unlike
    thread idents, which the OS reuses once a thread has ended."""

    __slots__ = ("ident", "pending", "serial", "thread", "last_yield")

    def __init__(self, ident: int, serial: int) -> None:
        self.ident = ident
        self.pending = None
        self.last_yield = None   # (Obj, id of the value) of the last event, if it was a yield
        self.serial = serial
        self.thread = _ACTIVE_THREADS.get(ident)  # None for threads not made by threading


_SUSPENDED_ATTR = compat.SUSPENDED_ATTR
_KIND_TEXT = {"generator": "generator", "coroutine": "coroutine", "async_generator": "async generator"}
_RUNNING_ATTR = {"generator": "gi_running", "coroutine": "cr_running", "async_generator": None}
_FRAME_ATTR = compat.FRAME_ATTR
_CLOSE_MAY_SKIP_FRAME = compat.CLOSE_MAY_SKIP_FRAME
_SCALAR_TYPES = frozenset(IMMUTABLE_SCALARS)
_ASYNC_ITER_VIAS = frozenset({"async for", "asend", "anext"})
_DELEGATING = frozenset({"yield from", "await"}) | _ASYNC_ITER_VIAS
_FRAME_ATTR_BY_TYPE = {types.GeneratorType: "gi_frame", types.CoroutineType: "cr_frame",
                       types.AsyncGeneratorType: "ag_frame"}


class Recorder:
    """Records generator control flow of the current process into a writer.

    ``start()`` installs the hooks (saving whatever was installed before),
    ``stop()`` restores them and returns the footer fields.  An internal
    error disables recording with one warning on stderr; the traced program
    never sees an exception from the recorder.
    """

    backend = "settrace"

    def __init__(self, writer, filters: Filters | None = None, repr_limit: int = 200,
                 max_events: int | None = None, stderr=None) -> None:
        self.writer = writer
        self.filters = filters or Filters()
        self.repr = SafeRepr(repr_limit)
        self.max_events = max_events
        self._limit = max_events if max_events is not None else sys.maxsize
        self.stderr = stderr or sys.stderr
        self.count = 0
        self.dropped = 0
        self.limit_reached = False  # --max-events hit: recording switched itself off
        self.lost = 0
        self.error: str | None = None
        self.active = False
        self._seq = itertools.count(1)  # not the event count: an emit nested in ours (a gc callback) takes the next
        self._ids = itertools.count(1)
        self._labels: dict = {}
        self._decisions: dict = {}     # id(code) -> recorded kind or None
        self._resumers: dict = {}      # id(code) -> {(lasti, thread serial): (actor id, via)}
        self.records: dict = {}      # id(frame) -> Obj
        self.by_id: dict = {}        # Obj.id -> Obj
        self.actors: dict = {}       # id(code) -> {thread serial: (actor id, is the event loop)}
        self._special: dict = {}     # ("gc",) / ("runtime",) / ("loop", ident) -> actor id
        self._loops: set = set()     # actor ids of event loops
        self._threads: dict = {}
        self._trace_fns: list = []
        self._fast_closable: set = set()
        self._last_defined = 0           # ids up to this one have records in the file (ids only grow)
        self._poll_tick = 0
        self._serials = itertools.count()
        self._lock = threading.RLock()
        self._busy = None            # ident of the thread inside a handler
        self._ts: _ThreadState | None = None  # its state, while it is inside
        self._t0 = 0
        self._prev_trace: typing.Any = None
        self._prev_thread_trace: typing.Any = None
        self._mon_tool: int | None = None
        self._mon_events = 0
        self._warned_value = False
        self._sigint_deferred = False
        self._sigint_prev: typing.Any = None
        self._sigint_handler: typing.Any = None
        self._collecting = False
        self._installed = False
        self._fork_hook = False

    # ------------------------------------------------------------------ hooks
    def start(self) -> None:
        framepeek.calibrate()
        # calibration made a few cycles (generators, frames); collect them
        # now so that the program's first gc.collect() counts only its own
        gc.collect()
        if framepeek.LAYOUT is None:
            self._warn("cannot read sent values on this interpreter (%s); they are recorded as null"
                       % framepeek.FAILURE)
        self._t0 = time.perf_counter_ns()
        self.active = True
        self._prev_trace = sys.gettrace()
        self._prev_thread_trace = threading.gettrace()
        main = self._thread_state()
        if not self._fork_hook:
            os.register_at_fork(after_in_child=self._after_fork_in_child)
            self._fork_hook = True
        self._installed = True
        for table in (self._decisions, self._resumers, self.actors):
            codecache.track(table)
        gc.callbacks.append(self._on_gc)
        self._install_sigint()
        try:
            self._install_tracing(main)
        except BaseException:
            self._uninstall()
            raise

    # -- the backend: how interpreter events reach the handlers --------------
    # (settrace here; tracer/monitoring.py overrides these four for PEP 669)
    def _install_tracing(self, main: "_ThreadState") -> None:
        threading.settrace(self._bootstrap)
        self._install_close_hook()
        sys.settrace(self._make_trace(main))

    def _remove_tracing(self) -> None:
        self._remove_close_hook()
        sys.settrace(self._prev_trace)
        threading.settrace(self._prev_thread_trace)
        if self._mon_tool is not None:  # 3.13's close hook
            sys.monitoring.set_events(self._mon_tool, 0)  # type: ignore[attr-defined]

    def _tracing_intact(self) -> bool:
        current = sys.gettrace()
        return any(current is fn for fn in self._trace_fns)

    def _disable_tracing(self) -> None:
        """After an internal error or at --max-events: stop being called
        (stop() uninstalls the rest)."""
        sys.settrace(self._prev_trace)
        threading.settrace(self._prev_thread_trace)
        if self._mon_tool is not None:  # 3.13's close hook
            sys.monitoring.set_events(self._mon_tool, 0)  # type: ignore[attr-defined]

    # A signal's Python handler runs at the next "eval breaker" check, which
    # may fall inside our trace function, for instance at its very first
    # instruction, where no try block can catch the KeyboardInterrupt: the
    # interpreter would then unset tracing and raise it in the wrong frame.
    # While the default SIGINT handler is installed we wrap it: inside
    # cotrace's code the interrupt is postponed to the moment the trace
    # function hands control back, everywhere else it is raised as usual.
    #
    # The wrapper must stay invisible: programs (asyncio.Runner among them)
    # install their own Ctrl-C handling only when getsignal(SIGINT) is
    # signal.default_int_handler.  So signal.getsignal and signal.signal
    # report default_int_handler wherever the wrapper is installed.
    def _install_sigint(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        try:
            if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
                return
            ours = RECORDING_FILES
            default = signal.default_int_handler

            def on_sigint(signum, frame):
                if self.active:
                    f, depth = frame, 0
                    while f is not None and depth < 64:
                        if f.f_code.co_filename in ours:
                            self._sigint_deferred = True
                            return
                        f, depth = f.f_back, depth + 1
                default(signum, frame)

            real_getsignal, real_signal = signal.getsignal, signal.signal

            @functools.wraps(real_getsignal)
            def getsignal(signalnum):
                handler = real_getsignal(signalnum)
                return default if handler is on_sigint else handler

            @functools.wraps(real_signal)
            def set_signal(signalnum, handler):
                previous = real_signal(signalnum, handler)
                return default if previous is on_sigint else previous

            real_signal(signal.SIGINT, on_sigint)
            signal.getsignal, signal.signal = getsignal, set_signal
            self._sigint_prev = (real_getsignal, real_signal)
            self._sigint_handler = on_sigint
        except (ValueError, OSError):  # not the main interpreter, or no signals
            pass

    def _remove_sigint(self) -> None:
        if self._sigint_prev is None:
            return
        real_getsignal, real_signal = self._sigint_prev
        self._sigint_prev = None
        signal.getsignal, signal.signal = real_getsignal, real_signal
        try:
            if real_getsignal(signal.SIGINT) is self._sigint_handler:
                real_signal(signal.SIGINT, signal.default_int_handler)
        except (ValueError, OSError):
            pass

    def stop(self) -> dict:
        """Uninstall the hooks and settle the state; return footer fields."""
        if self.active and self.error is None and not self._tracing_intact():
            # CPython unsets a trace function that raises; ours only does so
            # when it cannot even start (RecursionError at the recursion
            # limit, a signal handler raising at its first instruction)
            self.error = ("tracing was switched off or replaced in the main thread (by the program's own "
                          "sys.settrace, or by the interpreter when an exception escaped the trace function, "
                          "e.g. at the recursion limit); events after that point are missing")
        self._uninstall()
        suspended, running = [], []
        with self._lock:
            try:
                for ts in list(self._threads.values()):
                    if ts.pending is not None:
                        self._resolve(ts, None, "stop", None)
                for rec in sorted(self.records.values(), key=lambda r: r.id):
                    if rec.state in (SUSPENDED, RUNNING) and self.limit_reached:
                        # it ran on unrecorded after the limit: still suspended
                        # only if its object is alive and suspended now
                        gen = rec.ref() if rec.ref is not None else None
                        attr = _SUSPENDED_ATTR[rec.kind]
                        if gen is not None and getattr(gen, _FRAME_ATTR[rec.kind]) is not None and (
                                getattr(gen, attr) if attr is not None else framepeek.is_suspended(gen)) \
                                and rec.id <= self._last_defined:
                            suspended.append(rec.id)
                        continue
                    if rec.state == SUSPENDED:
                        gen = rec.ref() if rec.ref is not None else None
                        if gen is not None and getattr(gen, _FRAME_ATTR[rec.kind]) is None:
                            # finished without an event (closed from C code on 3.13)
                            self._synthetic_close(rec, self._special_actor("runtime"), "close")
                        elif rec.id <= self._last_defined:
                            suspended.append(rec.id)
                    elif rec.state == RUNNING and rec.id <= self._last_defined:
                        running.append(rec.id)
            except Exception as exc:  # never let bookkeeping break the exit path
                self._fail(exc)
        return {"events": self.count, "dropped": self.dropped, "limit_reached": self.limit_reached,
                "lost": self.lost, "suspended": suspended,
                "running": running, "objects": sum(self._labels.values()), "recorder_error": self.error}

    def _uninstall(self) -> None:
        """Put back every hook start() installed (also after an internal
        error, which only stops recording).  Idempotent."""
        self.active = False
        if not self._installed:
            return
        self._installed = False
        for table in (self._decisions, self._resumers, self.actors):
            codecache.untrack(table)
        self._remove_sigint()
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        self._remove_tracing()

    def _after_fork_in_child(self) -> None:
        # a forked child runs on untraced: its events would interleave with
        # the parent's in the same file
        self._uninstall()

    def _on_gc(self, phase, info) -> None:
        self._collecting = phase == "start"

    def _bootstrap(self, frame, event, arg):
        """threading.settrace hook: give each new thread its own trace function."""
        if not self.active:
            return None
        fn = self._make_trace(self._thread_state(new=True))
        sys.settrace(fn)
        return fn(frame, event, arg)

    def _thread_state(self, new: bool = False) -> _ThreadState:
        ident = _thread.get_ident()
        ts = self._threads.get(ident)
        if ts is None or new:
            ts = self._threads[ident] = _ThreadState(ident, next(self._serials))
        return ts

    def _make_trace(self, ts: _ThreadState):
        decisions = self._decisions
        decide = self._decide
        handle = self._handle

        any_generator = compat.CO_ANY_GENERATOR

        def trace(frame, event, arg):
            code = frame.f_code
            if not code.co_flags & any_generator:
                # ordinary code, the bulk of all calls: one flags test, no
                # lookup (a plain function is never recorded)
                return None
            kind = decisions.get(id(code), _MISSING)
            if kind is _MISSING:
                kind = decide(code)
            if kind is None or not self.active:
                return None
            if event == "call":
                frame.f_trace_lines = False  # no line events in recorded frames
            handle(ts, frame, event, arg, kind)
            if self._sigint_deferred:
                # a Ctrl-C arrived while we ran: deliver it in the program
                self._sigint_deferred = False
                _RETRIP.fire
            return trace

        self._trace_fns.append(trace)
        return trace

    def _decide(self, code):
        kind = compat.code_kind(code.co_flags)
        if kind is not None and not self.filters.wants(code.co_filename):
            kind = None
        # keyed by id (code objects hash by content, slowly); the tables
        # forget a code object when it dies (codecache)
        codecache.watch(code)
        self._decisions[id(code)] = kind
        return kind

    def _handle(self, ts, frame, event, arg, kind) -> None:
        lock = self._lock
        try:
            lock.acquire()  # not ``with``: measurably slower, on every event
            try:
                self._busy = ts.ident
                self._ts = ts
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
                self._busy = self._ts = None
                lock.release()
        except ReprTimeout:
            pass
        except RecursionError:
            # the program is at its recursion limit and our callback needs a
            # few frames more: this event is lost, recording goes on
            self.lost += 1
        except KeyboardInterrupt:
            # Ctrl-C landed in our code: hand it back to the program
            _thread.interrupt_main()
        except BaseException as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = "%s: %s" % (type(exc).__name__, exc)
            self._warn("internal error, recording stopped: %s" % self.error)
        self.active = False  # every trace function now returns at once; stop() uninstalls
        try:
            self._disable_tracing()
        except Exception:
            pass

    def _stop_at_limit(self) -> None:
        """--max-events reached: switch the hooks off, so that the rest of
        the program runs at untraced speed (stop() still settles the state
        and writes the footer).  Events after this point are not counted."""
        self.limit_reached = True
        self.active = False
        self._disable_tracing()

    def _warn(self, text: str) -> None:
        try:
            self.stderr.write("cotrace: warning: %s\n" % text)
            self.stderr.flush()
        except Exception:
            pass

    # ---------------------------------------------------------------- output
    def _thread_name(self) -> str:
        # Thread._name, not the .name property: no Python frame of threading.py
        ts = self._threads.get(_thread.get_ident())
        t = ts.thread if ts is not None else None
        if t is None:
            t = _ACTIVE_THREADS.get(_thread.get_ident())
            if t is None:
                return "Thread-%d" % _thread.get_ident()
        name = getattr(t, "_name", None)
        return name if type(name) is str else t.name

    @staticmethod
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

    def _val(self, v):
        """(value, True) to store as it is and repr later, off the hot path:
        immutable scalars and short tuples of them, whose repr runs no user
        code and cannot change; (repr, False) for anything else, made now."""
        t = type(v)
        if t in _SCALAR_TYPES or t is tuple and len(v) <= 8 and all(type(x) in _SCALAR_TYPES for x in v):
            return v, True
        return self.repr(v), False

    def _emit(self, ev, oid, by, via, value, raw, line, t=None, synthetic=False, on=None) -> None:
        if self.count >= self._limit:
            self.dropped += 1
            if not self.limit_reached:
                self._stop_at_limit()
            return
        self.count += 1
        if t is None:
            t = time.perf_counter_ns() - self._t0
        aio = _MODULES.get("asyncio")
        ts = self._ts  # the thread being handled (None for events made outside a handler)
        thread = ts.thread if ts is not None else None
        name = thread._name if thread is not None else None  # Thread._name: no Python frame of threading.py
        w = self.writer
        w.append(("e", next(self._seq), t, ev, oid, by, via, value, raw, line,
                  name if type(name) is str else self._thread_name(),
                  None if aio is None else self._task(aio), synthetic, on))
        if len(w.buf) >= w.batch:
            w.flush()

    def _new_obj(self, frame, code, kind) -> Obj:
        oid = next(self._ids)
        rec = Obj(oid, kind, id(frame))
        key = (code.co_filename, code.co_qualname)
        n = self._labels[key] = self._labels.get(key, 0) + 1
        self._define(oid, kind, code.co_name, code.co_qualname, _relpath(code.co_filename), code.co_firstlineno,
                     "%s#%d" % (code.co_qualname, n), None)
        gen = framepeek.owner_of(frame, kind)
        if gen is not None:
            rec.ref = weakref.ref(gen, functools.partial(self._on_death, rec))
        self.records[id(frame)] = rec
        self.by_id[oid] = rec
        return rec

    def _define(self, oid, kind, name, qualname, file, line, label, thread) -> None:
        """Queue an object record, unless --max-events was reached: no event
        will mention the object then."""
        if self.count < self._limit:
            self._last_defined = oid
            self.writer.append(("o", oid, kind, name, qualname, file, line, label, thread))

    def _special_actor(self, what: str, serial: int | None = None) -> int:
        key = (what, serial)
        aid = self._special.get(key)
        if aid is None:
            aid = self._special[key] = next(self._ids)
            if what == "loop":
                self._loops.add(aid)
                kind, name = "event_loop", "<event loop>"
                thread = self._thread_name()
                label = name if thread == "MainThread" else "%s [%s]" % (name, thread)
            else:
                kind, name, thread = "runtime", "<%s>" % what, None
                label = name
            self._define(aid, kind, name, name, None, None, label, thread)
        return aid

    def _actor_for_frame(self, fb) -> tuple[int, bool]:
        """Actor id for plain code running ``fb``; True if it is the event loop."""
        code = fb.f_code
        while code.co_name in compat.COMPREHENSION_NAMES and fb.f_back is not None:
            fb = fb.f_back
            code = fb.f_code
        serial = self._thread_state().serial
        codecache.watch(code)
        per_thread = self.actors.setdefault(id(code), {})
        hit = per_thread.get(serial)
        if hit is None:
            filename = code.co_filename
            if filename.startswith(_asyncio_dir()) or os.path.realpath(filename).startswith(_asyncio_dir()):
                aid = self._special_actor("loop", serial)
            else:
                aid = next(self._ids)
                thread = self._thread_name()
                label = code.co_qualname if thread == "MainThread" else "%s [%s]" % (code.co_qualname, thread)
                self._define(aid, "function", code.co_name, code.co_qualname, _relpath(filename),
                             code.co_firstlineno, label, thread)
            hit = per_thread[serial] = (aid, aid == self._special.get(("loop", serial)))
        return hit

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
        decisions = self._decisions
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
            elif rec.dying or self._collecting or (chain and any(d.dying for d in chain)):
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
        ts.pending = (rec, id(frame), frame.f_lasti, start, by, via, value, raw, frame.f_lineno, chain,
                      time.perf_counter_ns() - self._t0)

    def _plain_resumer(self, fb, serial: int) -> tuple[int, str]:
        """(actor id, via) for plain code resuming a generator, cached per
        code location and thread (``serial``): the same line resumes the
        same way."""
        code = fb.f_code
        key = (fb.f_lasti, serial)
        here = self._resumers.get(id(code))
        hit = here.get(key) if here is not None else None
        if hit is None:
            aid, is_loop = self._actor_for_frame(fb)
            codecache.watch(code)  # not always the actor's code (3.11 comprehensions)
            hit = self._resumers.setdefault(id(code), {})[key] = (
                aid, "await" if is_loop else codeinfo.resumer_via(code, fb.f_lasti))
        return hit

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
                gc = rec.dying or any(d.dying for d in chain) or self._collecting
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
            value, raw = self._val(arg)
            on = None
            last = ts.last_yield
            if last is not None and last[0] is rec.delegate and last[1] == passed:
                on = last[0].on  # passing on its delegate's yield: the chain waits on the same thing
            elif gen is not None and (rec.kind != "generator" or rec.resumer in self._loops):
                on = self._waits_on(gen, arg)
            rec.on = on
            ts.last_yield = (rec, passed)
            self._emit("yield", rec.id, rec.resumer, None, value, raw, line, on=on)
            rec.state = SUSPENDED
            rec.yield_line = line
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
                text = awaitables.label(aw, yielded)
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
                if (rec.fast_close and rec.delegate is None) or self._busy == _thread.get_ident():
                    self._synthetic_close(rec, self._special_actor("gc"), "gc")
        except Exception as exc:
            self._fail(exc)

    # 3.13: close() of a generator suspended outside any try block does not
    # re-enter the frame, so nothing fires.  A sys.monitoring CALL hook sees
    # the call to close() itself; every other call site disables itself
    # after its first call, so ordinary code pays once per call site.
    def _acquire_tool(self) -> bool:
        """Take a sys.monitoring tool id for cotrace (once); False if none is free."""
        if self._mon_tool is not None:
            return True
        mon = sys.monitoring  # type: ignore[attr-defined]
        for tool in (4, 3):  # = backends.TOOL_IDS: ids no convention claims (0-2 and 5 are the
            # debugger's, coverage's, profiler's and optimizer's)
            if mon.get_tool(tool) is None:
                try:
                    mon.use_tool_id(tool, "cotrace")
                except ValueError:
                    continue
                self._mon_tool = tool
                return True
        return False

    def _monitor(self, event: int, callback) -> None:
        """Register ``callback`` for ``event`` on cotrace's tool id and switch it on."""
        mon = sys.monitoring  # type: ignore[attr-defined]
        mon.register_callback(self._mon_tool, event, callback)
        self._mon_events |= event
        mon.set_events(self._mon_tool, self._mon_events)

    def _install_close_hook(self) -> None:
        if not (compat.CLOSE_MAY_SKIP_FRAME and compat.HAS_MONITORING):
            return
        mon = sys.monitoring  # type: ignore[attr-defined]
        if not self._acquire_tool():
            self._warn("no free sys.monitoring tool id; close() of suspended generators may be recorded late")
            return
        closers = (types.GeneratorType.close, types.CoroutineType.close)
        disable = mon.DISABLE
        builtin_method = types.BuiltinMethodType

        named = (types.FunctionType, types.MethodType, builtin_method, types.MethodDescriptorType)

        def on_call(code, offset, func, arg0):
            # identity tests and attributes of built-in types only: this
            # runs for every call site once, and must never run user code
            if func is closers[0] or func is closers[1]:
                target = arg0
            elif type(func) is builtin_method and func.__name__ == "close":
                target = func.__self__
            elif type(func) in named and func.__name__ == "close":
                return None  # a close() of something else: keep watching this site
            else:
                return disable
            if not self.active:
                return None
            kind = "generator" if type(target) is types.GeneratorType else (
                "coroutine" if type(target) is types.CoroutineType else None)
            if kind is None:
                return None
            try:
                with self._lock:
                    f = getattr(target, _FRAME_ATTR[kind])
                    rec = self.records.get(id(f)) if f is not None else None
                    if rec is not None and rec.state == SUSPENDED and rec.fast_close and rec.delegate is None:
                        caller = sys._getframe(1)
                        r = self.records.get(id(caller)) if self._decisions.get(id(caller.f_code)) else None
                        by = r.id if r is not None and r.state == RUNNING else self._actor_for_frame(caller)[0]
                        self._synthetic_close(rec, by, "close")
            except Exception as exc:
                self._fail(exc)
            return None

        self._monitor(mon.events.CALL, on_call)

    def _remove_close_hook(self) -> None:
        """Switch off every sys.monitoring event cotrace uses and free its tool id."""
        if self._mon_tool is None:
            return
        mon = sys.monitoring  # type: ignore[attr-defined]
        try:
            mon.set_events(self._mon_tool, 0)
            bit = 1
            while bit <= self._mon_events:
                if self._mon_events & bit:
                    mon.register_callback(self._mon_tool, bit, None)
                bit <<= 1
            mon.free_tool_id(self._mon_tool)
        finally:
            self._mon_tool = None
            self._mon_events = 0


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


def _relpath(path: str | None) -> str | None:
    """Paths under the working directory are stored relative (stable traces)."""
    if not path or path.startswith("<"):
        return path
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith(os.pardir) else rel
