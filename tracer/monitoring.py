"""The ``sys.monitoring`` backend (PEP 669, Python 3.12+).

The interpreter reports exactly the events cotrace records, each for the
frame it happens in: ``PY_START`` (first run), ``PY_RESUME``
(resumption), ``PY_THROW`` (resumption by ``throw()``/``close()``),
``PY_YIELD``, ``PY_RETURN`` and ``PY_UNWIND`` (left by an exception).
Those are fed to the same state machine as the settrace backend's
``call``/``return``/``exception`` (:class:`tracer.recorder.Recorder`), so the
two backends record the same trace; this module only changes how events
arrive:

* Code that is not a recorded generator, coroutine or async generator is
  switched off where it is met: ``PY_START``/``PY_RETURN`` (and ``PY_YIELD``/
  ``PY_RESUME`` of filtered-out generators) return ``DISABLE``, so ordinary
  functions run at full speed after their first call.  ``PY_THROW`` and
  ``PY_UNWIND`` cannot be disabled (they are "other" events before 3.15):
  they cost a dictionary lookup per exception leaving a frame.
* ``PY_THROW`` says outright that a resumption is a ``throw()``; the
  settrace backend infers it from an ``exception`` event at the entry
  instruction.  ``PY_UNWIND`` names the exception that leaves the frame.
* One tool id (4, or 3 if 4 is taken), released on stop, so a debugger or
  coverage tool on its own id runs alongside.
"""
from __future__ import annotations

import sys
import _thread

from .recorder import _MISSING, _RETRIP, Recorder

__all__ = ["MonitoringRecorder"]


class MonitoringRecorder(Recorder):
    """:class:`Recorder` fed by ``sys.monitoring`` instead of ``sys.settrace``."""

    backend = "monitoring"

    def _install_tracing(self, main) -> None:
        if not self._acquire_tool():
            raise RuntimeError("no free sys.monitoring tool id (3 and 4 are taken); use --backend settrace")
        mon = sys.monitoring  # type: ignore[attr-defined]
        ev = mon.events
        disable = mon.DISABLE
        decisions = self._decisions
        decide = self._decide
        handle = self._handle
        state_of = self._thread_state
        frame_of = sys._getframe
        me = self

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

        def after():
            # a Ctrl-C arrived while we ran: deliver it in the program
            me._sigint_deferred = False
            _RETRIP.fire

        # PY_START / PY_RESUME -> "call" (no value: None), PY_YIELD /
        # PY_RETURN -> "return": local events, switched off where the code is
        # not recorded.  These run for every recorded event, so the decision
        # lookup and the thread state are inline (each call saved is
        # measurable here)
        def local_event(name):
            def callback(code, offset, value=None):
                kind = decisions.get(id(code), _MISSING)
                if kind is _MISSING:
                    kind = decide(code)
                if kind is None:
                    return disable
                if me.active:
                    try:
                        ts = local.ts
                    except AttributeError:
                        ts = thread_state()
                    handle(ts, frame_of(1), name, value, kind)
                    if me._sigint_deferred:
                        after()
                return None
            return callback

        entered, left = local_event("call"), local_event("return")

        # PY_THROW / PY_UNWIND: other events, which cannot be switched off
        def exception_event(name):
            def callback(code, offset, exc):
                kind = decisions.get(id(code), _MISSING)
                if kind is _MISSING:
                    kind = decide(code)
                if kind and me.active:
                    handle(thread_state(), frame_of(1), name, exc, kind)
                    if me._sigint_deferred:
                        after()
            return callback

        thrown, unwound = exception_event("throw"), exception_event("unwind")

        self._monitor(ev.PY_START, entered)
        self._monitor(ev.PY_RESUME, entered)
        self._monitor(ev.PY_YIELD, left)
        self._monitor(ev.PY_RETURN, left)
        self._monitor(ev.PY_THROW, thrown)
        self._monitor(ev.PY_UNWIND, unwound)
        self._callbacks = (entered, left, thrown, unwound)
        self._install_close_hook()

    def _remove_tracing(self) -> None:
        self._remove_close_hook()

    def _tracing_intact(self) -> bool:
        mon = sys.monitoring  # type: ignore[attr-defined]
        if self._mon_tool is None or mon.get_tool(self._mon_tool) != "cotrace":
            return False
        return mon.get_events(self._mon_tool) == self._mon_events

    def _disable_tracing(self) -> None:
        if self._mon_tool is not None:
            sys.monitoring.set_events(self._mon_tool, 0)  # type: ignore[attr-defined]
