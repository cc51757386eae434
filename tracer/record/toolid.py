"""cotrace's ``sys.monitoring`` tool id, and 3.13's close() hook on it.

One tool id (the first free of :data:`TOOL_IDS`) is taken for a recording
and given back at its end; the monitoring source registers its events on
it, and on 3.13 the close hook (which both sources use) does too.
"""
from __future__ import annotations

import sys
import types

from .. import compat

TOOL_IDS = (4, 3)  # sys.monitoring ids no convention claims (0-2 and 5 are the debugger's,
# coverage's, profiler's and optimizer's); cotrace takes the first free one
TOOL_NAME = "cotrace"


def free_tool_id() -> int | None:
    mon = sys.monitoring  # type: ignore[attr-defined]
    return next((i for i in TOOL_IDS if mon.get_tool(i) is None), None)


class ToolLease:
    """A sys.monitoring tool id held for one recording."""

    def __init__(self) -> None:
        self.tool: int | None = None
        self.events = 0          # the events switched on

    def acquire(self) -> bool:
        """Take a tool id (once); False if none is free."""
        if self.tool is not None:
            return True
        mon = sys.monitoring  # type: ignore[attr-defined]
        for tool in TOOL_IDS:
            if mon.get_tool(tool) is None:
                try:
                    mon.use_tool_id(tool, TOOL_NAME)
                except ValueError:
                    continue
                self.tool = tool
                return True
        return False

    def monitor(self, event: int, callback) -> None:
        """Register ``callback`` for ``event`` and switch it on."""
        mon = sys.monitoring  # type: ignore[attr-defined]
        mon.register_callback(self.tool, event, callback)
        self.events |= event
        mon.set_events(self.tool, self.events)

    def owned(self) -> bool:
        """The id is still ours: the program may free it
        (``sys.monitoring.free_tool_id``), and even take it for itself."""
        return self.tool is not None and sys.monitoring.get_tool(self.tool) == TOOL_NAME  # type: ignore[attr-defined]

    def intact(self) -> bool:
        """Still ours, with the events we switched on."""
        return self.owned() and sys.monitoring.get_events(self.tool) == self.events  # type: ignore[attr-defined]

    def lost(self) -> str | None:
        """What the program did to the id, if it is no longer ours as we left it."""
        if self.tool is None or self.intact():
            return None
        if not self.owned():
            return ("the program freed cotrace's sys.monitoring tool id %d (sys.monitoring.free_tool_id)"
                    % self.tool)
        return "the program changed the events of cotrace's sys.monitoring tool id %d" % self.tool

    def silence(self) -> None:
        """Switch every event off (the id stays ours until release)."""
        if self.owned():
            sys.monitoring.set_events(self.tool, 0)  # type: ignore[attr-defined]

    def release(self) -> None:
        """Switch off every event, unregister the callbacks, free the id;
        an id the program freed (or now uses itself) is left alone."""
        if self.tool is None:
            return
        mon = sys.monitoring  # type: ignore[attr-defined]
        try:
            if not self.owned():
                return
            mon.set_events(self.tool, 0)
            bit = 1
            while bit <= self.events:
                if self.events & bit:
                    mon.register_callback(self.tool, bit, None)
                bit <<= 1
            mon.free_tool_id(self.tool)
        finally:
            self.tool = None
            self.events = 0


def install_close_hook(lease: ToolLease, machine, warn) -> None:
    """3.13: close() of a generator suspended outside any try block does not
    re-enter the frame, so nothing fires.  A sys.monitoring CALL hook sees
    the call to close() itself; every other call site disables itself after
    its first call, so ordinary code pays once per call site."""
    if not (compat.CLOSE_MAY_SKIP_FRAME and compat.HAS_MONITORING):
        return
    mon = sys.monitoring  # type: ignore[attr-defined]
    if not lease.acquire():
        warn("no free sys.monitoring tool id; close() of suspended generators may be recorded late")
        return
    closers = (types.GeneratorType.close, types.CoroutineType.close)
    disable = mon.DISABLE
    builtin_method = types.BuiltinMethodType
    named = (types.FunctionType, types.MethodType, builtin_method, types.MethodDescriptorType)
    frame_attr = compat.FRAME_ATTR

    def on_call(code, offset, func, arg0):
        # identity tests and attributes of built-in types only: this runs
        # for every call site once, and must never run user code
        if func is closers[0] or func is closers[1]:
            target = arg0
        elif type(func) is builtin_method and func.__name__ == "close":
            target = func.__self__
        elif type(func) in named and func.__name__ == "close":
            return None  # a close() of something else: keep watching this site
        else:
            return disable
        if not machine.active:
            return None
        kind = "generator" if type(target) is types.GeneratorType else (
            "coroutine" if type(target) is types.CoroutineType else None)
        if kind is None:
            return None
        machine.closing(getattr(target, frame_attr[kind]), sys._getframe(1))
        return None

    lease.monitor(mon.events.CALL, on_call)
