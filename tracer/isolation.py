"""Private copies of the library modules cotrace calls while it records.

The traced program may replace module attributes: ``mock.patch(
"os.path.realpath", side_effect=OSError)``, ``os.getpid = ...``,
``json.dumps = ...``, ``time.perf_counter_ns`` returning a float,
``weakref.ref = None``.  Code that looks those up when it runs would then
raise into the program, write an unreadable trace, or stop recording.  So
the modules of the recorder and the trace writer use ``os =
isolated(os)`` (the idea of coverage.py's ``isolate_module``): a snapshot
of the module's attributes taken when cotrace is imported, before the
program runs, submodules (``os.path``, ``json.encoder``) included.

Only modules whose attributes are functions and constants are isolated:
never ``sys`` (``sys.stderr`` and friends change legitimately), and not
``signal`` in the SIGINT guard, which patches it itself.  Mutable objects
(``os.environ``, ``threading._active``) are the same objects, not copies.
"""
from __future__ import annotations

import types
import typing

_COPIES: dict = {}
M = typing.TypeVar("M", bound=types.ModuleType)


def isolated(mod: M) -> M:
    """A module object holding what ``mod`` holds now (memoized)."""
    copy = _COPIES.get(id(mod))
    if copy is not None:
        return copy
    copy = _COPIES[id(mod)] = types.ModuleType(mod.__name__, getattr(mod, "__doc__", None))
    for name, value in list(vars(mod).items()):
        if isinstance(value, types.ModuleType) and (value.__name__.startswith(mod.__name__ + ".") or
                                                     (mod.__name__, name) == ("os", "path")):
            value = isolated(value)  # a submodule (os.path is posixpath or ntpath)
        setattr(copy, name, value)
    return typing.cast(M, copy)
