"""Bounded, exception-proof repr of values seen by the recorder.

A value's ``__repr__`` is user code running inside our trace function.  It
may raise, return a non-string, recurse forever, produce megabytes, or hang.
None of that may reach the traced program: every failure becomes a short
placeholder such as ``<Foo object: repr raised ValueError>``.

Hangs are bounded by a watchdog: a raw ``_thread`` (invisible to
``threading.enumerate()``) that injects :class:`ReprTimeout` into the thread
running a repr that outlives its deadline.  That interrupts Python-level
loops, but not a repr blocked in C (``lock.acquire()`` of a lock the
suspended generator holds: a deadlock the untraced program never meets),
which runs no bytecode to deliver it.  So in the main thread, while the
SIGINT guard (:mod:`tracer.record.guards`) is the SIGINT handler, the
watchdog sends a real SIGINT instead: it interrupts a Python loop and
breaks a wait in C alike, and the guard's handler turns that one into
ReprTimeout instead of a Ctrl-C.  In other threads no signal can break
such a wait, so there a repr that may run the program's code runs in a helper
thread (:class:`_Helper`), in a copy of the caller's context, and the
caller waits for it at most the time limit and a bit: a repr that does not
come back gets the placeholder and is abandoned, blocked, to finish (or
get ReprTimeout) whenever its wait ends; the program goes on.  The helper
is cotrace's own thread: the recorder ignores its events.  It costs a
hand-over between two threads per such value (see the README).  In the
main thread while the program handles SIGINT itself (asyncio.run does), a
repr blocked in C is still not interrupted.
"""
from __future__ import annotations

import contextvars
import copy
import ctypes
import reprlib
import signal
import sys
import threading
import time
import typing
import _thread

__all__ = ["SafeRepr", "ReprTimeout"]

from .. import compat
from ..isolation import isolated
from ..traceio import SMALL_INT
from ..redact import NONE, REDACTED, Redactor

# private copies (see tracer.isolation): the watchdog is cotrace's own thread,
# started with the real start_new_thread, never the settrace source's wrapper
# of it (which would record the watchdog as a thread of the program)
_thread = isolated(_thread)
time = isolated(time)

# The "store raw, repr later" rule, stated once: values of these types (and
# tuples of at most TUPLE_SCALARS of them) have a repr that is ours (C code,
# no user __repr__) and cannot change after the event, so the recorder's sink
# stores them as they are and the trace writer reprs them off the hot path
# (ints within SMALL_INT directly, the rest through SafeRepr).
IMMUTABLE_SCALARS = (type(None), bool, int, float, complex, str, bytes)
TUPLE_SCALARS = 8


_BUILTIN_LEAVES = frozenset(IMMUTABLE_SCALARS)
TIMEOUTS_PER_TYPE = 2  # a type whose repr timed out this often is not repr'd again


class ReprTimeout(Exception):
    """Injected into a thread whose repr ran past its deadline."""


# The SIGINT the watchdog sent to break a blocked repr in the main thread:
# the guard's handler asks :func:`take_kick` whether a SIGINT is ours, and
# raises ReprTimeout if the repr it was sent for still runs.
_KICK: dict = {"pending": False, "token": None}
_MAIN_IDENT = threading.main_thread().ident
_kicker = None  # set by the SIGINT guard while it is installed (see set_kicker), else None


def set_kicker(can_kick) -> None:
    """The SIGINT guard registers (or, with None, removes) the test that it
    is the main thread's SIGINT handler now, so that a SIGINT reaches it."""
    global _kicker
    _kicker = can_kick


def take_kick() -> str | None:
    """For the SIGINT handler: None (a real Ctrl-C), "expired" (ours, and
    the repr it was sent for still runs: raise ReprTimeout) or "late" (ours,
    the repr already ended: ignore it)."""
    if not _KICK["pending"]:
        return None
    _KICK["pending"] = False
    return "expired" if _KICK["token"] is not None else "late"


class _Watchdog:
    """Interrupts a repr that runs longer than ``timeout`` seconds.

    The thread exists only while reprs are being made: it ends at the first
    check (every ``POLL`` seconds) that finds no repr running, and the next
    repr starts a new one.  The traced program can count it, in
    ``_thread._count()`` (test.support's threading_cleanup() waits, for at
    most a second, until that is back to what it was before the test) and
    in the OS thread count behind 3.12+'s warning about fork() with threads
    running, so it must not outlive the reprs by more than a moment.
    """

    POLL = 0.01

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.deadline: tuple[int, float, int] | None = None  # (thread id, deadline, token)
        self._token = 0
        self._running = False
        self._guard = _thread.allocate_lock()  # _running, and the thread's decision to end

    def arm(self) -> int:
        self._token += 1
        deadline = (_thread.get_ident(), time.monotonic() + self.timeout, self._token)
        with self._guard:
            self.deadline = deadline
            if not self._running:
                _thread.start_new_thread(self._run, ())
                self._running = True
        return self._token

    def disarm(self, token: int) -> None:
        with self._guard:
            d = self.deadline
            if d is not None and d[2] == token:
                self.deadline = None
            if _KICK["token"] == token:
                _KICK["token"] = None  # a SIGINT still on its way finds the repr ended

    def _run(self) -> None:
        while True:
            time.sleep(min(self.POLL, self.timeout / 4))
            with self._guard:
                d = self.deadline
                if d is None:
                    self._running = False
                    return
                if time.monotonic() > d[1]:
                    self.deadline = None
                    can_kick = _kicker
                    if d[0] == _MAIN_IDENT and can_kick is not None and can_kick():
                        # a real signal: it also breaks a wait in C (see the module docstring)
                        _KICK["pending"], _KICK["token"] = True, d[2]
                        try:
                            signal.pthread_kill(d[0], signal.SIGINT)
                            continue
                        except (OSError, ValueError):
                            _KICK["pending"] = False
                    if compat.ASYNC_EXC_STALLS_TRACED_THREADS and not _runs_bytecode(d[0]):
                        continue   # blocked in C: its caller gives up on it (see compat)
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(d[0]), ctypes.py_object(ReprTimeout))


def _runs_bytecode(ident: int, samples: int = 8) -> bool:
    """Whether the thread ``ident`` is seen executing bytecode rather than
    blocked in C: its current instruction changes between samples, or it
    stays at a jump (``while True: pass`` is one instruction, a jump to
    itself; a wait in C is a call, or an instruction that calls a slot)."""
    seen = None
    for _ in range(samples):
        frame = sys._current_frames().get(ident)
        if frame is None:
            return False
        here = (frame.f_code, frame.f_lasti)
        del frame
        if seen is not None and here != seen:
            return True
        seen = here
        time.sleep(0.002)
    import dis   # (only here, at a timeout on 3.11: not at start-up)

    code, lasti = seen  # type: ignore[misc]
    op = code.co_code[lasti] if 0 <= lasti < len(code.co_code) else None
    return op is not None and ("JUMP" in dis.opname[op] or dis.opname[op] == "NOP")


class _Helper:
    """Runs reprs for threads in which a wait in C cannot be interrupted.

    One raw thread at a time, started at the first such repr and ending
    when it has had nothing to do for ``IDLE`` seconds (like the watchdog:
    the program may count threads).  A repr that does not come back in time
    leaves its thread behind, blocked; the next repr starts a new one.
    ``OWN`` holds the idents of these threads, which the recorder ignores."""

    IDLE = 0.05
    OWN: set = set()

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()   # the fields below
        self._job: typing.Any = None    # (context, fn, value, done lock, result box) for the thread to run
        self._wake: typing.Any = None   # the running thread's wake-up lock (released: a job is there)

    def run(self, fn, value, timeout: float):
        """``fn(value)`` in the helper thread; ``(True, result)``, or
        ``(False, None)`` if it did not come back within ``timeout``."""
        done = _thread.allocate_lock()
        done.acquire()
        box: list = []
        job = (contextvars.copy_context(), fn, value, done, box)
        with self._lock:
            self._job = job
            wake = self._wake
            if wake is None:
                wake = self._wake = _thread.allocate_lock()
                wake.acquire()
                _thread.start_new_thread(self._serve, (wake,))
            wake.release()
        if done.acquire(True, timeout):
            return True, box[0]
        with self._lock:
            if self._job is job:
                self._job = None
            if self._wake is wake:
                self._wake = None    # that thread is stuck in this repr: the next one gets a new thread
        return False, None

    def _serve(self, wake) -> None:
        ident = _thread.get_ident()
        _Helper.OWN.add(ident)
        try:
            while True:
                woken = wake.acquire(True, self.IDLE)
                with self._lock:
                    if self._wake is not wake:
                        return       # abandoned (or replaced): a newer thread serves
                    job, self._job = self._job, None
                    if job is None and not woken:
                        self._wake = None
                        return       # idle (a job posted as the wait ran out is still taken)
                if job is None:
                    continue
                ctx, fn, value, done, box = job
                try:
                    box.append(ctx.run(fn, value))
                except BaseException:
                    box.append(None)
                done.release()
        finally:
            _Helper.OWN.discard(ident)


def own_thread(ident: int) -> bool:
    """True for the threads cotrace runs reprs in (their events are not the program's)."""
    return ident in _Helper.OWN


class _Redacted:
    """Stands for a value that must not be seen, inside a container's repr."""

    def __repr__(self) -> str:
        return REDACTED


_REDACTED = _Redacted()


class SafeRepr(reprlib.Repr):
    """reprlib with a character limit, placeholders, a time limit and
    redaction (``redactor``, see :mod:`tracer.redact`: applied to each
    piece in full, before anything is cut).  ``no_values``: no repr runs at
    all, every value is the empty text (the writer leaves values out)."""

    def __init__(self, limit: int = 200, timeout: float = 1.0, redactor: Redactor | None = None,
                 no_values: bool = False) -> None:
        super().__init__()
        self.redactor = redactor if redactor is not None and redactor.active else NONE
        self.no_values = no_values
        # a --redact pattern may match a number: then no int is written without looking
        self.small_int = 0 if self.redactor.values is not None else SMALL_INT
        self._hit = False   # a piece of the value being repr'd matched a --redact pattern
        self.limit = max(int(limit), 8)
        self.maxstring = self.maxother = self.limit
        self.maxlevel = 4
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = self.maxfrozenset = self.maxdeque = 12
        self.maxarray = 12
        self.timeout = timeout
        self._watchdog = _Watchdog(timeout)
        self._helper = _Helper()
        self._clone: SafeRepr | None = None   # what the helper thread runs on
        self._depth = 0
        # type -> how often its repr timed out; from TIMEOUTS_PER_TYPE on, its
        # values get the placeholder without running the repr (each timeout
        # costs the program up to ``timeout`` and a bit)
        self._timeouts: dict = {}

    def __call__(self, value) -> str:
        """Repr ``value`` within the limits; never raises.

        Every exception a repr raises becomes a placeholder, BaseExceptions
        too (KeyboardInterrupt, SystemExit, GeneratorExit, a program's own):
        the program would never have run this repr, so nothing it raises
        belongs to the program.  A real Ctrl-C cannot land here: the SIGINT
        guard postpones one that arrives inside a hook (a repr called by the
        recorder included) until the hook returns."""
        t = type(value)
        if t is int and -self.small_int < value < self.small_int or t is type(None) or t is bool:
            return repr(value)
        if self.no_values:
            return ""
        if (t is float or t is complex) and self.redactor.values is None:
            text = repr(value)   # C's repr, no name in it
            return text if len(text) <= self.limit else text[: self.limit - 3] + "..."
        # only a repr that may run user code needs a deadline
        leaves = t in _BUILTIN_LEAVES or t is tuple and len(value) <= TUPLE_SCALARS and all(type(x) in _BUILTIN_LEAVES for x in value)
        if not leaves and self._timeouts.get(t, 0) >= TIMEOUTS_PER_TYPE:
            return _placeholder(value, "repr timed out before")
        if self._depth == 0 and not leaves and _thread.get_ident() != _MAIN_IDENT:
            # (no signal can break a wait in C here: see the module docstring)
            # the helper thread works on a copy of this object (its own depth
            # and redaction flag): one it abandons may come back any time
            clone = self._clone
            if clone is None:
                clone = self._clone = copy.copy(self)
            came_back, text = self._helper.run(clone._bounded, value, self.timeout + 0.25)
            if came_back and type(text) is str:
                return text
            self._clone = None
            self._timed_out(t)
            return _placeholder(value, "repr timed out")
        return self._bounded(value, leaves)

    def _timed_out(self, t) -> None:
        if len(self._timeouts) < 1000:
            self._timeouts[t] = self._timeouts.get(t, 0) + 1

    def _bounded(self, value, leaves: bool = False) -> str:
        """The repr of ``value`` with the watchdog's deadline (in this thread)."""
        t = type(value)
        token = self._watchdog.arm() if self._depth == 0 and not leaves else None
        self._depth += 1
        redactor = self.redactor
        if self._depth == 1:
            self._hit = False
        try:
            text = self.repr(value)
            if redactor.active and type(text) is str and (self._hit or redactor.whole(text)):
                text = REDACTED
            if type(text) is not str:
                text = _placeholder(value, "repr returned %s" % type(text).__name__)
        except ReprTimeout:
            text = _placeholder(value, "repr timed out")
            self._timed_out(t)
        except RecursionError:
            text = _placeholder(value, "repr recursed too deep")
        except BaseException as exc:
            text = _placeholder(value, "repr raised %s" % type(exc).__name__)
        finally:
            self._depth -= 1
            if token is not None:
                self._watchdog.disarm(token)
        if len(text) > self.limit and text != REDACTED:
            text = text[: self.limit - 3] + "..."
        return text

    def redact(self, text: str) -> str:
        """Text made by the recorder from the program's objects (what a
        coroutine waits on, the program's exit exception), redacted."""
        return self.redactor.text(text) if self.redactor.active else text

    def _seen(self, full: str) -> str:
        """One piece of a value's repr, in full: note a --redact match (the
        whole value goes) and hide what follows a redacted name."""
        redactor = self.redactor
        if redactor.whole(full):
            self._hit = True
            return REDACTED
        return redactor.text(full)

    def repr_instance(self, x, level):
        s = repr(x)
        if type(s) is not str:
            return _placeholder(x, "repr returned %s" % type(s).__name__)
        if self.redactor.active:
            s = self._seen(s)
        if len(s) > self.maxother:
            return s[: self.maxother - 3] + "..."
        return s

    def repr_str(self, x, level):
        if self.redactor.active:
            full = repr(x)
            seen = self._seen(full)
            if seen is not full:
                return seen if len(seen) <= self.maxstring else seen[: self.maxstring - 3] + "..."
            if len(x) <= self.maxstring:
                return full
        if len(x) > self.maxstring:
            x = x[: self.maxstring]
            return repr(x)[:-1] + "..." + repr(x)[-1]
        return repr(x)

    def repr_dict(self, x, level):
        redactor = self.redactor
        if redactor.active and any(type(k) is str and redactor.name(k) for k in x):
            x = {k: _REDACTED if type(k) is str and redactor.name(k) else v for k, v in x.items()}
        return super().repr_dict(x, level)


def _placeholder(value, why: str) -> str:
    try:
        name = type(value).__qualname__
    except Exception:  # a metaclass can make even this fail
        name = "object"
    if type(name) is not str:
        name = "object"
    return "<%s object: %s>" % (name[:80], why)
