"""The recorder backends, chosen in one place.

``settrace`` (:class:`tracer.recorder.Recorder`) works on every supported
Python and is the reference; ``monitoring``
(:class:`tracer.monitoring.MonitoringRecorder`) uses PEP 669 on 3.12+ and
costs nothing for code it does not record.  Both feed the same state
machine and write the same trace; the header's ``backend`` says which
one recorded.
"""
from __future__ import annotations

from . import compat
from .recorder import Recorder

NAMES = ("auto", "settrace", "monitoring")


class BackendError(ValueError):
    """The backend asked for does not exist on this interpreter."""


TOOL_IDS = (4, 3)  # sys.monitoring ids no convention claims (0-2 and 5 are the debugger's,
# coverage's, profiler's and optimizer's); cotrace takes the first free one


def free_tool_id() -> int | None:
    import sys
    mon = sys.monitoring  # type: ignore[attr-defined]
    return next((i for i in TOOL_IDS if mon.get_tool(i) is None), None)


def resolve(name: str) -> str:
    """``auto`` -> ``monitoring`` where sys.monitoring exists (and one of its
    tool ids is free), else ``settrace``."""
    if name not in NAMES:
        raise BackendError("unknown backend %r; valid: %s" % (name, ", ".join(NAMES)))
    if name == "auto":
        return "monitoring" if compat.HAS_MONITORING and free_tool_id() is not None else "settrace"
    if name == "monitoring" and not compat.HAS_MONITORING:
        raise BackendError("the monitoring backend needs Python 3.12 or later (sys.monitoring); "
                           "this is Python %s: use --backend settrace" % compat.PY_VERSION)
    if name == "monitoring" and free_tool_id() is None:
        raise BackendError("no free sys.monitoring tool id (%s are taken): use --backend settrace"
                           % " and ".join(map(str, TOOL_IDS)))
    return name


def recorder_class(name: str) -> type[Recorder]:
    if resolve(name) == "monitoring":
        from .monitoring import MonitoringRecorder
        return MonitoringRecorder
    return Recorder
