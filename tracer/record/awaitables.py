"""Readable names for what a suspended coroutine waits on.

When a coroutine suspends inside ``await``, the value that travels to the
event loop is an internal object (a Future the loop will wake it with, or
``None`` for ``sleep(0)``).  The reader wants to know what the coroutine
waits *for*: ``Queue.get``, ``sleep(0.5)``, ``Task worker-1``,
``gather(Task-2, Task-3)``, ``Future pending``.  :func:`label` names the
first object of the await chain that cotrace does not record.

Runs inside the trace function: no user code may run here (no ``repr``,
no ``isinstance`` against user classes, no overridable methods), only
attribute reads of CPython's own types and asyncio's C (or pure-Python,
untraced at that point) methods called through the base class.
"""
from __future__ import annotations

import sys
import types

_MODULES = sys.modules
_CORO, _GEN, _AGEN = types.CoroutineType, types.GeneratorType, types.AsyncGeneratorType
# the object a suspended generator-like object is waiting on, per type
AWAITED_ATTR = {_CORO: "cr_await", _GEN: "gi_yieldfrom", _AGEN: "ag_await"}
_CODE_ATTR = {_CORO: "cr_code", _GEN: "gi_code", _AGEN: "ag_code"}
MAX_NAMES = 3
_SCALARS = (int, float)


def awaited(obj):
    """What the generator-like ``obj`` is suspended in ``await``/``yield from`` on, or None."""
    attr = AWAITED_ATTR.get(type(obj))
    return getattr(obj, attr, None) if attr is not None else None


def label(aw, yielded) -> str:
    """Name ``aw``, the first object of an await chain that is not recorded;
    ``yielded`` is the value that reached the event loop (used when ``aw``
    is only an iterator over it, such as the C Future's ``FutureIter``)."""
    aio = _MODULES.get("asyncio")
    t = type(aw)
    if t in _CODE_ATTR:
        code = getattr(aw, _CODE_ATTR[t])
        if aio is not None and t is _CORO and code is getattr(getattr(aio, "sleep", None), "__code__", None):
            return "sleep(%s)" % _sleep_delay(aw)
        return code.co_qualname
    if aio is not None:
        if _is_future(aw):
            return future_label(aio, aw)
        if _is_future(yielded):
            return future_label(aio, yielded)
    return t.__qualname__


def _sleep_delay(coro) -> str:
    frame = coro.cr_frame
    if frame is None:
        return ""
    try:
        delay = frame.f_locals.get("delay")
    except Exception:
        return ""
    return repr(delay) if type(delay) in _SCALARS else ""


def _is_future(obj) -> bool:
    # asyncio.isfuture() without calling anything of the object: the marker
    # is a class attribute (a descriptor on the C Future)
    return obj is not None and getattr(type(obj), "_asyncio_future_blocking", None) is not None


def future_label(aio, fut) -> str:
    t = type(fut)
    name = _task_name(aio, fut)
    if name is not None:
        return "Task " + name
    children = _children(fut)
    if children is not None:
        names = [_child_name(aio, c) for c in children[:MAX_NAMES]]
        more = len(children) - MAX_NAMES
        return "gather(%s%s)" % (", ".join(names), ", +%d" % more if more > 0 else "")
    state = _state(aio, fut)
    kind = "Future" if t.__name__ in ("Future", "_PyFuture") else t.__qualname__
    return "%s %s" % (kind, state.lower()) if state else kind


def _task_name(aio, fut) -> str | None:
    for cls in (getattr(aio, "Task", None), getattr(getattr(aio, "tasks", None), "_PyTask", None)):
        if cls is not None and issubclass(type(fut), cls):
            try:
                name = cls.get_name(fut)  # the base class's method: a subclass's override is user code
            except Exception:
                return "?"
            return name if type(name) is str else "?"
    return None


def _children(fut):
    gathering = getattr(_MODULES.get("asyncio.tasks"), "_GatheringFuture", None)
    if gathering is None or type(fut) is not gathering:
        return None
    children = getattr(fut, "_children", None)  # asyncio's own class, checked above
    return list(children) if type(children) is list else None


def _child_name(aio, child) -> str:
    name = _task_name(aio, child)
    return name if name is not None else "Future"


def _state(aio, fut) -> str | None:
    for cls in (getattr(aio, "Future", None), getattr(getattr(aio, "futures", None), "_PyFuture", None)):
        if cls is not None and issubclass(type(fut), cls):
            # the base class's own attribute: the C Future's descriptor, or
            # the pure-Python Future's class default shadowed per instance
            desc = cls.__dict__.get("_state")
            try:
                if hasattr(type(desc), "__get__"):
                    state = desc.__get__(fut, cls)
                else:
                    state = getattr(fut, "__dict__", {}).get("_state", desc)
            except Exception:
                return None
            return state if type(state) is str else None
    return None
