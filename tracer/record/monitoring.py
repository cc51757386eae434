"""The ``sys.monitoring`` source (PEP 669, Python 3.12+).

The interpreter reports exactly the events cotrace records, each for the
frame it happens in: ``PY_START`` (first run), ``PY_RESUME`` (resumption),
``PY_THROW`` (resumption by ``throw()``/``close()``), ``PY_YIELD``,
``PY_RETURN`` and ``PY_UNWIND`` (left by an exception).  They are fed to
the same state machine as the settrace source's ``call``/``return``/
``exception``, so the two record the same trace; only how events arrive
differs:

* Code that is not a recorded generator, coroutine or async generator is
  switched off where it is met: ``PY_START``/``PY_RETURN`` (and ``PY_YIELD``/
  ``PY_RESUME`` of filtered-out generators) return ``DISABLE``, so ordinary
  functions run at full speed after their first call.  ``PY_THROW`` and
  ``PY_UNWIND`` cannot be disabled (they are "other" events before 3.15):
  they cost a dictionary lookup per exception leaving a frame.
* ``PY_THROW`` says outright that a resumption is a ``throw()``; the
  settrace source infers it from an ``exception`` event at the entry
  instruction.  ``PY_UNWIND`` names the exception that leaves the frame.
* One tool id (:mod:`tracer.record.toolid`), released on stop, so a
  debugger or coverage tool on its own id runs alongside.
"""
from __future__ import annotations

import sys
import _thread

from .machine import MISSING
from .toolid import TOOL_IDS, install_close_hook


class MonitoringSource:
    """Feeds the PEP 669 events of recorded frames, in every thread."""

    name = "monitoring"

    def __init__(self, machine, guard, lease, warn) -> None:
        self.machine, self.guard, self.lease, self.warn = machine, guard, lease, warn
        self.callbacks: tuple = ()

    @staticmethod
    def is_ours(fn) -> bool:
        """sys.gettrace() is never this source's."""
        return False

    def install(self, main) -> None:
        lease = self.lease
        if not lease.acquire():
            raise RuntimeError("no free sys.monitoring tool id (%s are taken); use --backend settrace"
                               % " and ".join(map(str, TOOL_IDS)))
        mon = sys.monitoring  # type: ignore[attr-defined]
        ev = mon.events
        disable = mon.DISABLE
        machine = self.machine
        decisions = machine.decisions
        decide = machine.decide
        handle = machine.handle
        state_of = machine.thread_state
        frame_of = sys._getframe
        guard = self.guard

        # per-thread state through a C thread-local: a thread ident may be
        # reused by a new thread once the old one ended, a thread-local not
        local = _thread._local()
        local.ts = main

        def thread_state():
            try:
                return local.ts
            except AttributeError:
                ts = local.ts = state_of(new=True)
                return ts

        # PY_START / PY_RESUME -> "call" (no value: None), PY_YIELD /
        # PY_RETURN -> "return": local events, switched off where the code is
        # not recorded.  These run for every recorded event, so the decision
        # lookup and the thread state are inline (each call saved is
        # measurable here)
        def local_event(name):
            def callback(code, offset, value=None):
                kind = decisions.get(id(code), MISSING)
                if kind is MISSING:
                    kind = decide(code)
                if kind is None:
                    return disable
                if machine.active:
                    try:
                        ts = local.ts
                    except AttributeError:
                        ts = thread_state()
                    handle(ts, frame_of(1), name, value, kind)
                    if guard.deferred:
                        guard.deliver()
                return None
            return callback

        core = getattr(machine, "core", None)
        if core is not None:
            # the C core's callbacks: the same decisions, the hot events in C
            core.set_thread(main)
            entered, left = core.entered, core.left
        else:
            entered, left = local_event("call"), local_event("return")

        # PY_THROW / PY_UNWIND: other events, which cannot be switched off
        def exception_event(name):
            def callback(code, offset, exc):
                kind = decisions.get(id(code), MISSING)
                if kind is MISSING:
                    kind = decide(code)
                if kind and machine.active:
                    handle(thread_state(), frame_of(1), name, exc, kind)
                    if guard.deferred:
                        guard.deliver()
            return callback

        if core is not None:
            # in C too: at the recursion limit a Python callback could not even be called
            thrown, unwound = core.thrown, core.unwound
        else:
            thrown, unwound = exception_event("throw"), exception_event("unwind")

        lease.monitor(ev.PY_START, entered)
        lease.monitor(ev.PY_RESUME, entered)
        lease.monitor(ev.PY_YIELD, left)
        lease.monitor(ev.PY_RETURN, left)
        lease.monitor(ev.PY_THROW, thrown)
        lease.monitor(ev.PY_UNWIND, unwound)
        self.callbacks = (entered, left, thrown, unwound)
        install_close_hook(lease, machine, self.warn)

    def remove(self) -> None:
        self.lease.release()
        core = getattr(self.machine, "core", None)
        if core is not None:
            core.set_thread(None)

    def broken(self) -> str | None:
        """Why events may be missing, if the program undid our hooks."""
        lost = self.lease.lost()
        return lost and lost + "; events after that point may be missing"

    def silence(self) -> None:
        self.lease.silence()
