"""The settrace source: ``sys.settrace`` events into the state machine.

Works on every supported Python and is the reference source.  The trace
function decides once per code object whether it is a recorded generator,
coroutine or async generator; ordinary code returns ``None`` after one flags
test and is never traced line by line, recorded frames get no line events.
"""
from __future__ import annotations

import functools
import sys
import threading
import typing
import _thread

from .. import compat
from ..isolation import isolated
from . import audit
from .machine import MISSING
from .toolid import install_close_hook

# private copies: the program may patch these modules (see tracer.isolation)
threading = isolated(threading)


class SettraceSource:
    """Feeds ``call``/``return``/``exception`` of recorded frames, in every
    thread (``threading.settrace`` gives each new thread its own function)."""

    name = "settrace"

    def __init__(self, machine, guard, lease, warn) -> None:
        self.machine, self.guard, self.lease, self.warn = machine, guard, lease, warn
        self._trace_fns: list = []
        self._prev_trace: typing.Any = None
        self._prev_thread_trace: typing.Any = None
        self._real_start: typing.Any = None   # _thread.start_new_thread, while ours wraps it
        self._wrapper: typing.Any = None

    def install(self, main) -> None:
        self._prev_trace = sys.gettrace()
        self._prev_thread_trace = threading.gettrace()
        threading.settrace(self._bootstrap)
        self._patch_raw_threads()
        install_close_hook(self.lease, self.machine, self.warn)
        sys.settrace(self._make_trace(main))

    def remove(self) -> None:
        self.lease.release()
        self._unpatch_raw_threads()
        sys.settrace(self._prev_trace)
        threading.settrace(self._prev_thread_trace)

    def _patch_raw_threads(self) -> None:
        """Threads started with ``_thread.start_new_thread`` bypass
        threading.settrace: they get the bootstrap hook from a wrapper of
        it (threading's own threads do not go through it: it keeps its own
        reference, and 3.13 starts them with start_joinable_thread)."""
        real = self._real_start = _thread.start_new_thread
        bootstrap, machine = self._bootstrap, self.machine

        @functools.wraps(real)
        def start_new_thread(function, args, kwargs=None):
            if not machine.active:
                return real(function, args) if kwargs is None else real(function, args, kwargs)

            def run(*a, **k):
                sys.settrace(bootstrap)
                return function(*a, **k)

            return real(run, args) if kwargs is None else real(run, args, kwargs)

        self._wrapper = start_new_thread
        _thread.start_new_thread = start_new_thread

    def _unpatch_raw_threads(self) -> None:
        if self._wrapper is not None and _thread.start_new_thread is self._wrapper:
            _thread.start_new_thread = self._real_start
        self._wrapper = None

    def broken(self) -> str | None:
        """Why events may be missing, if the program (or the interpreter) undid our hooks."""
        current = sys.gettrace()
        if current is not None and not self.is_ours(current):
            module = audit.module_of(current)
            return ("tracing was replaced in the main thread by a trace function of %s; events after that "
                    "point are missing%s" % (audit.owner(module), audit.advice(module)))
        if current is None:
            # CPython unsets a trace function that raises; ours only does so
            # when it cannot even start (RecursionError at the recursion
            # limit, a signal handler raising at its first instruction)
            return ("tracing was switched off in the main thread (by the program's own sys.settrace(None), "
                    "or by the interpreter when an exception escaped the trace function, e.g. at the "
                    "recursion limit); events after that point are missing")
        lost = self.lease.lost()  # 3.13's close hook
        return lost and lost + "; close() of suspended generators after that point may be missing"

    def is_ours(self, fn) -> bool:
        """True if ``fn`` (what sys.gettrace() returned) is one of our trace functions."""
        return any(fn is f for f in self._trace_fns)

    def silence(self) -> None:
        """Stop being called (after an internal error, or at --max-events);
        remove() puts the rest back."""
        sys.settrace(self._prev_trace)
        threading.settrace(self._prev_thread_trace)
        self.lease.silence()  # 3.13's close hook

    def _bootstrap(self, frame, event, arg):
        """threading.settrace hook: give each new thread its own trace function."""
        if not self.machine.active:
            return None
        fn = self._make_trace(self.machine.thread_state(new=True))
        sys.settrace(fn)
        return fn(frame, event, arg)

    def _make_trace(self, ts):
        machine = self.machine
        core = getattr(machine, "core", None)
        if core is not None:
            # the C core's trace function: the same decisions, the hot events in C
            fn = core.tracer(ts)
            self._trace_fns.append(fn)
            return fn
        decisions = machine.decisions
        decide = machine.decide
        handle = machine.handle
        guard = self.guard
        any_generator = compat.CO_ANY_GENERATOR
        gettrace = sys.gettrace

        def trace(frame, event, arg):
            code = frame.f_code
            if not code.co_flags & any_generator:
                # ordinary code, the bulk of all calls: one flags test, no
                # lookup (a plain function is never recorded)
                return None
            kind = decisions.get(id(code), MISSING)
            if kind is MISSING:
                kind = decide(code)
            if kind is None or not machine.active:
                return None
            if event == "call" and gettrace() is trace:
                # no line events in recorded frames: only where the frame's
                # local function will be ours (a program's tracer that chains
                # to us decides for its own frames)
                frame.f_trace_lines = False
            handle(ts, frame, event, arg, kind)
            if guard.deferred:
                guard.deliver()
            return trace

        self._trace_fns.append(trace)
        return trace
