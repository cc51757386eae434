"""The recorder backends, chosen in one place.

``settrace`` (:class:`tracer.record.settrace.SettraceSource`) works on every
supported Python and is the reference; ``monitoring``
(:class:`tracer.record.monitoring.MonitoringSource`) uses PEP 669 on 3.12+
and costs nothing for code it does not record.  Both feed the same state
machine and write the same trace; the header's ``backend`` says which one
recorded.
"""
from __future__ import annotations

from .. import compat
from .monitoring import MonitoringSource
from .recorder import Recorder
from .toolid import TOOL_IDS, free_tool_id

NAMES = ("auto", "settrace", "monitoring")


class BackendError(ValueError):
    """The backend asked for does not exist on this interpreter."""


class MonitoringRecorder(Recorder):
    """A :class:`Recorder` fed by ``sys.monitoring`` instead of ``sys.settrace``."""

    backend = "monitoring"
    source_class = MonitoringSource


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
    return MonitoringRecorder if resolve(name) == "monitoring" else Recorder
