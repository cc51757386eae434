"""Who is who in a trace: ids and labels of recorded objects, and the actors
(plain code, the event loop, ``<gc>``, ``<runtime>``) that hand control to
them.  Every id is defined in the trace (an object record) before the first
event that mentions it.
"""
from __future__ import annotations

import itertools
import os

from .. import compat
from ..isolation import isolated
from . import codecache, codeinfo


# private copies: the program may patch these modules (see tracer.isolation)
os = isolated(os)

def relpath(path: str | None) -> str | None:
    """Paths under the working directory are stored relative (stable traces)."""
    if not path or path.startswith("<"):
        return path
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith(os.pardir) else rel


_ASYNCIO_DIR = None


def _asyncio_dir() -> str:
    global _ASYNCIO_DIR
    if _ASYNCIO_DIR is None:
        import importlib.util

        spec = importlib.util.find_spec("asyncio")
        origin = spec.origin if spec and spec.origin else ""
        _ASYNCIO_DIR = os.path.dirname(os.path.realpath(origin)) + os.sep if origin else "\0"
    return _ASYNCIO_DIR


class Actors:
    """Ids, labels and object records; actors are cached per code object and
    thread (``serial``), resumers per code location and thread."""

    def __init__(self, sink, serial_of) -> None:
        self.sink = sink
        self._serial_of = serial_of        # () -> the current thread's serial
        self._ids = itertools.count(1)
        self._labels: dict = {}            # (file, qualname) -> instances so far
        self.special: dict = {}            # ("gc",) / ("runtime",) / ("loop", serial) -> actor id
        self.loops: set = set()            # actor ids of event loops
        self.by_code: dict = {}            # id(code) -> {thread serial: (actor id, is the event loop)}
        self.resumers: dict = {}           # id(code) -> {(lasti, thread serial): (actor id, via)}

    @property
    def objects(self) -> int:
        """How many generator-like objects were given an id."""
        return sum(self._labels.values())

    def new_object(self, code, kind: str) -> int:
        """Id of a new generator, coroutine or async generator (defined in
        the trace as ``qualname#N``)."""
        oid = next(self._ids)
        key = (code.co_filename, code.co_qualname)
        n = self._labels[key] = self._labels.get(key, 0) + 1
        self.sink.define(oid, kind, code.co_name, code.co_qualname, relpath(code.co_filename), code.co_firstlineno,
                         "%s#%d" % (code.co_qualname, n), None)
        return oid

    def special_actor(self, what: str, serial: int | None = None) -> int:
        key = (what, serial)
        aid = self.special.get(key)
        if aid is None:
            aid = self.special[key] = next(self._ids)
            if what == "loop":
                self.loops.add(aid)
                kind, name = "event_loop", "<event loop>"
                thread = self.sink.thread_name()
                label = name if thread == "MainThread" else "%s [%s]" % (name, thread)
            else:
                kind, name, thread = "runtime", "<%s>" % what, None
                label = name
            self.sink.define(aid, kind, name, name, None, None, label, thread)
        return aid

    def for_frame(self, fb) -> tuple[int, bool]:
        """Actor id for plain code running ``fb``; True if it is the event loop."""
        code = fb.f_code
        while code.co_name in compat.COMPREHENSION_NAMES and fb.f_back is not None:
            fb = fb.f_back
            code = fb.f_code
        serial = self._serial_of()
        codecache.watch(code)
        per_thread = self.by_code.setdefault(id(code), {})
        hit = per_thread.get(serial)
        if hit is None:
            filename = code.co_filename
            if filename.startswith(_asyncio_dir()) or os.path.realpath(filename).startswith(_asyncio_dir()):
                aid = self.special_actor("loop", serial)
            else:
                aid = next(self._ids)
                thread = self.sink.thread_name()
                label = code.co_qualname if thread == "MainThread" else "%s [%s]" % (code.co_qualname, thread)
                self.sink.define(aid, "function", code.co_name, code.co_qualname, relpath(filename),
                                 code.co_firstlineno, label, thread)
            hit = per_thread[serial] = (aid, aid == self.special.get(("loop", serial)))
        return hit

    def plain_resumer(self, fb, serial: int) -> tuple[int, str]:
        """(actor id, via) for plain code resuming a generator, cached per
        code location and thread (``serial``): the same line resumes the
        same way."""
        code = fb.f_code
        key = (fb.f_lasti, serial)
        here = self.resumers.get(id(code))
        hit = here.get(key) if here is not None else None
        if hit is None:
            aid, is_loop = self.for_frame(fb)
            codecache.watch(code)  # not always the actor's code (3.11 comprehensions)
            hit = self.resumers.setdefault(id(code), {})[key] = (
                aid, "await" if is_loop else codeinfo.resumer_via(code, fb.f_lasti))
        return hit

    def tables(self) -> tuple:
        """The per-code caches, which forget a code object when it dies (codecache)."""
        return (self.resumers, self.by_code)
