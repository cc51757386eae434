"""Which core records: the C core (:mod:`tracer.record._ccore`) or the
Python core (the state machine alone, the reference).

The C core is an optional extension, built by ``pip install`` where a
compiler exists.  It does the events generator-dense runs are made of (a
known generator resumed by a known resumer, a plain yield) in C, on the
machine's own state, and hands every other event to the Python state
machine before changing anything; the two cores write the same trace
(``tests/test_core.py`` compares them event for event).

``auto`` means C where the extension was built for this interpreter and the
interpreter is one it was verified on (CPython 3.11-3.13 with the GIL),
Python otherwise, silently.  ``c`` asks for it and fails with the reason if
it cannot be used.  The trace header records which core ran.
"""
from __future__ import annotations

import sys
import sysconfig
import typing

from .. import compat
from . import codecache, codeinfo, framepeek
from .machine import Machine, _Lazy
from .saferepr import IMMUTABLE_SCALARS, TUPLE_SCALARS
from .sink import ACTIVE_THREADS, FLUSH_NS, Sink, _task

NAMES = ("auto", "c", "python")
VERIFIED = ((3, 11), (3, 12), (3, 13))   # the interpreters the C core was written and tested for

_ccore: typing.Any = None
_REASON: str | None = None


class CoreError(ValueError):
    """The core asked for cannot be used here."""


def _load() -> None:
    global _ccore, _REASON
    if _ccore is not None or _REASON is not None:
        return
    here = sys.version_info[:2]
    if sys.implementation.name != "cpython" or here not in VERIFIED:
        _REASON = "not verified for %s %d.%d" % (sys.implementation.name, *here)
        return
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        _REASON = "not verified for free-threaded builds"
        return
    try:
        from . import _ccore as module  # type: ignore[attr-defined]
    except ImportError as exc:
        missing = isinstance(exc, ModuleNotFoundError) or "cannot import name '_ccore'" in str(exc)
        _REASON = "not built here (no C compiler at install time, or COTRACE_NO_C=1)" if missing \
            else "not loadable (%s)" % exc
        return
    if tuple(module.BUILT_FOR) != here:
        _REASON = "built for Python %d.%d" % tuple(module.BUILT_FOR)
        return
    if set(module.SCALAR_TYPES) != set(IMMUTABLE_SCALARS):
        _REASON = "out of date (its scalar types differ from saferepr's)"
        return
    _ccore = module


def c_available() -> tuple[bool, str | None]:
    """(True, None), or (False, why the C core cannot be used here)."""
    _load()
    return _ccore is not None, _REASON


def resolve(name: str) -> str:
    """``auto`` -> ``c`` where available, else ``python``."""
    if name not in NAMES:
        raise CoreError("unknown core %r; valid: %s" % (name, ", ".join(NAMES)))
    ok, why = c_available()
    if name == "auto":
        return "c" if ok else "python"
    if name == "c" and not ok:
        raise CoreError("the C core cannot be used: %s; use --core python" % why)
    return name


def describe() -> str:
    """For ``cotrace --version``: the cores available here."""
    ok, why = c_available()
    return "cores: c, python (default: c)" if ok else "cores: python (the C core is %s)" % why


def module():
    """The extension module (after :func:`resolve` said ``c``)."""
    _load()
    return _ccore


def new_core():
    return module().Core()


def recursion_credit(n: int) -> bool:
    """Give the current thread ``n`` more levels of recursion depth (take
    them back with ``-n``) without changing sys.getrecursionlimit(): the
    program then reaches the depth it reaches untraced although cotrace's
    own frames lie below its first one.  Needs the C module (False without
    it: the Python core cannot reach the thread's counter)."""
    ok, _ = c_available()
    if ok:
        _ccore.recursion_credit(n)
    return ok


def _frame_state() -> tuple | None:
    """framepeek.FRAME_STATE as the core takes it: (offset, running byte,
    suspended byte, suspended byte), or None (not calibrated here)."""
    framepeek.calibrate()
    if framepeek.FRAME_STATE is None:
        return None
    off, running, suspended = framepeek.FRAME_STATE
    a, b = (sorted(suspended) * 2)[:2]
    return off, running, a, b


def _kept_in_core(holder: str, name: str, flag: bool = False) -> property:
    """An attribute kept in the C core (``getattr(self, holder)``), where
    the fast path reads and writes it; a ``flag`` is a C int, read as a bool."""
    def get(self):
        value = getattr(getattr(self, holder), name)
        return bool(value) if flag else value

    def set_(self, value):
        setattr(getattr(self, holder), name, int(bool(value)) if flag else value)

    return property(get, set_)


class CSink(Sink):
    """The sink, with its counters kept in the C core (the fast path counts
    and numbers its events there)."""

    def __init__(self, core, writer, safe_repr, max_events, on_limit) -> None:
        self._core = core
        super().__init__(writer, safe_repr, max_events, on_limit)
        self._seq = core  # next(core): the next seq

    count = _kept_in_core("_core", "count")
    limit = _kept_in_core("_core", "limit")
    t0 = _kept_in_core("_core", "t0")


class CMachine(Machine):
    """The state machine with the C core in front: its records are the C
    core's types, ``active`` and ``busy`` live in the core."""

    def __init__(self, core, sink, filters, gc_phase, fail) -> None:
        self.core = core
        self.obj_class = _ccore.Obj
        super().__init__(sink, filters, gc_phase, fail)
        self.sites: dict = {}  # id(code) -> {lasti: (flags, via)}, for the C core

    @staticmethod
    def thread_class(ident, serial):
        return _ccore.ThreadState(ident, serial, ACTIVE_THREADS.get(ident))

    active = _kept_in_core("core", "active", flag=True)
    busy = _kept_in_core("core", "busy")
    _poll_tick = _kept_in_core("core", "poll_tick")

    def tables(self) -> tuple:
        return super().tables() + (self.sites,)

    def site_info(self, code, lasti: int) -> tuple:
        """What the C core needs to know about one code location, once."""
        flags = ((1 if codeinfo.is_delegating_site(code, lasti) else 0)
                 | (2 if compat.CLOSE_MAY_SKIP_FRAME and codeinfo.closes_without_reentry(code, lasti) else 0)
                 | (4 if codeinfo.is_yield_site(code, lasti) else 0))
        via = codeinfo.resumer_via(code, lasti)
        codecache.watch(code)
        hit = self.sites.setdefault(id(code), {})[lasti] = (flags, via)
        return hit

    def _poll_close(self, rec) -> None:
        self._synthetic_close(rec, self._special_actor("runtime"), "close")

    def bind(self, writer, guard) -> None:
        """Hand the core the tables and collaborators it works with."""
        sink = self._sink
        self.core.bind(
            records=self.records, decisions=self.decisions, by_id=self.by_id, closable=self._fast_closable,
            loops=self._actors.loops, resumers=self._actors.resumers, sites=self.sites,
            writer=writer, guard=guard, gc_phase=self._gc, lock=self._lock, handle=self.handle,
            decide=self.decide, thread_state=self.thread_state, site_info=self.site_info, repr=sink.repr,
            task=_task, thread_name=sink.thread_name, failed=self.failed, lazy_type=_Lazy,
            poll_close=self._poll_close, tuple_scalars=TUPLE_SCALARS, frame_state=_frame_state(),
            flush_ns=FLUSH_NS,
            disable=sys.monitoring.DISABLE if compat.HAS_MONITORING else None,  # type: ignore[attr-defined]
            may_skip=compat.CLOSE_MAY_SKIP_FRAME)
