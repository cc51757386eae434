"""Bounded, exception-proof repr of values seen by the recorder.

A value's ``__repr__`` is user code running inside our trace function.  It
may raise, return a non-string, recurse forever, produce megabytes, or hang.
None of that may reach the traced program: every failure becomes a short
placeholder such as ``<Foo object: repr raised ValueError>``.

Hangs are bounded by a watchdog: a raw ``_thread`` (invisible to
``threading.enumerate()``) that injects :class:`ReprTimeout` into the thread
running a repr that outlives its deadline.  Only Python-level loops can be
interrupted this way; a C extension's repr that blocks cannot.
"""
from __future__ import annotations

import ctypes
import reprlib
import time
import _thread

__all__ = ["SafeRepr", "ReprTimeout"]

from ..traceio import SMALL_INT

# The "store raw, repr later" rule, stated once: values of these types (and
# tuples of at most TUPLE_SCALARS of them) have a repr that is ours (C code,
# no user __repr__) and cannot change after the event, so the recorder's sink
# stores them as they are and the trace writer reprs them off the hot path
# (ints within SMALL_INT directly, the rest through SafeRepr).
IMMUTABLE_SCALARS = (type(None), bool, int, float, complex, str, bytes)
TUPLE_SCALARS = 8


_BUILTIN_LEAVES = frozenset(IMMUTABLE_SCALARS)


class ReprTimeout(Exception):
    """Injected into a thread whose repr ran past its deadline."""


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
        d = self.deadline
        if d is not None and d[2] == token:
            self.deadline = None

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
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(d[0]), ctypes.py_object(ReprTimeout))


class SafeRepr(reprlib.Repr):
    """reprlib with a character limit, placeholders and a time limit."""

    def __init__(self, limit: int = 200, timeout: float = 1.0) -> None:
        super().__init__()
        self.limit = max(int(limit), 8)
        self.maxstring = self.maxother = self.limit
        self.maxlevel = 4
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = self.maxfrozenset = self.maxdeque = 12
        self.maxarray = 12
        self._watchdog = _Watchdog(timeout)
        self._depth = 0

    def __call__(self, value) -> str:
        """Repr ``value`` within the limits; never raises.

        Every exception a repr raises becomes a placeholder, BaseExceptions
        too (KeyboardInterrupt, SystemExit, GeneratorExit, a program's own):
        the program would never have run this repr, so nothing it raises
        belongs to the program.  A real Ctrl-C cannot land here: the SIGINT
        guard postpones one that arrives inside a hook (a repr called by the
        recorder included) until the hook returns."""
        t = type(value)
        if t is int and -SMALL_INT < value < SMALL_INT or t is type(None) or t is bool:
            return repr(value)
        # only a repr that may run user code needs a deadline
        leaves = t in _BUILTIN_LEAVES or t is tuple and len(value) <= TUPLE_SCALARS and all(type(x) in _BUILTIN_LEAVES for x in value)
        token = self._watchdog.arm() if self._depth == 0 and not leaves else None
        self._depth += 1
        try:
            text = self.repr(value)
            if type(text) is not str:
                text = _placeholder(value, "repr returned %s" % type(text).__name__)
        except ReprTimeout:
            text = _placeholder(value, "repr timed out")
        except RecursionError:
            text = _placeholder(value, "repr recursed too deep")
        except BaseException as exc:
            text = _placeholder(value, "repr raised %s" % type(exc).__name__)
        finally:
            self._depth -= 1
            if token is not None:
                self._watchdog.disarm(token)
        if len(text) > self.limit:
            text = text[: self.limit - 3] + "..."
        return text

    def repr_instance(self, x, level):
        s = repr(x)
        if type(s) is not str:
            return _placeholder(x, "repr returned %s" % type(s).__name__)
        if len(s) > self.maxother:
            return s[: self.maxother - 3] + "..."
        return s

    def repr_str(self, x, level):
        if len(x) > self.maxstring:
            x = x[: self.maxstring]
            return repr(x)[:-1] + "..." + repr(x)[-1]
        return repr(x)


def _placeholder(value, why: str) -> str:
    try:
        name = type(value).__qualname__
    except Exception:  # a metaclass can make even this fail
        name = "object"
    if type(name) is not str:
        name = "object"
    return "<%s object: %s>" % (name[:80], why)
