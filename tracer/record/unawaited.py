"""Coroutines that were never awaited: CPython's own "coroutine ... was
never awaited" case, seen as it happens.

A coroutine that is finalized before it ever ran leaves no frame event (it
never started), so no backend sees it.  CPython reports it by calling
``warnings._warn_unawaited_coroutine(coro)`` from the finalizer
(``_PyErr_WarnUnawaitedCoroutine`` in Python/_warnings.c, which looks the
function up on the ``warnings`` module at each call).  While recording, that
attribute is CPython's own function (the same code object) with other
globals: a dict whose one name, ``warn``, is looked up through cotrace,
which notes the coroutine (the function's argument) and the frame the
warning will name, and answers with the ``warnings`` module's ``warn`` of
the moment.  The call itself is CPython's, from CPython's frame: the program
sees the same warning, attributed to the same line, filtered by the same
filters, and with ``-W error`` the same exception and traceback (which
CPython prints as unraisable); no frame of cotrace's is on the stack then.

The copy is made only where the function is the one this was written for
(its only global besides builtins is ``warn``, its argument ``coro``, as in
3.11-3.13); anywhere else nothing is installed and such coroutines are not
noted.
"""
from __future__ import annotations

import builtins
import dis
import sys
import types
import warnings

_getframe = sys._getframe

_GLOBAL_LOADS = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})


def _globals_of(fn) -> set:
    return {i.argval for i in dis.get_instructions(fn) if i.opname in _GLOBAL_LOADS}


class _Globals(dict):
    """The copy's globals: looking up ``warn`` notes the call.  (A dict
    subclass: CPython's LOAD_GLOBAL then goes through ``__getitem__``.)"""

    def __init__(self, module, note) -> None:
        super().__init__(__builtins__=builtins, __name__=module.__name__)
        self._namespace = module.__dict__
        self._note = note

    def __getitem__(self, name):
        if name != "warn":
            return dict.__getitem__(self, name)
        try:
            caller = _getframe(1)                        # the function's frame
            coro = caller.f_locals.get("coro")
            self._note(coro, caller.f_back)              # the frame stacklevel=2 names
        except Exception:  # never in the program's way
            pass
        return self._namespace["warn"]


class UnawaitedHook:
    """Installs the copy; ``on_unawaited(coro, frame)`` is called for each
    coroutine never awaited (``frame``: where the warning points, or None)."""

    def __init__(self, on_unawaited) -> None:
        self.on_unawaited = on_unawaited
        self._module = warnings
        self._original: types.FunctionType | None = None
        self._installed: types.FunctionType | None = None

    def install(self) -> bool:
        module = self._module
        original = module.__dict__.get("_warn_unawaited_coroutine")
        if not isinstance(original, types.FunctionType) or original.__code__.co_freevars:
            return False
        code = original.__code__
        if _globals_of(original) - set(vars(builtins)) != {"warn"} or code.co_varnames[:1] != ("coro",):
            return False
        copy = types.FunctionType(code, _Globals(module, self.on_unawaited), original.__name__,
                                  original.__defaults__, original.__closure__)
        copy.__qualname__ = original.__qualname__
        copy.__doc__ = original.__doc__
        copy.__module__ = original.__module__
        self._original, self._installed = original, copy
        module._warn_unawaited_coroutine = copy  # type: ignore[attr-defined]
        return True

    def remove(self) -> None:
        module = self._module
        if self._installed is not None and module.__dict__.get("_warn_unawaited_coroutine") is self._installed:
            module._warn_unawaited_coroutine = self._original  # type: ignore[attr-defined]
        self._installed = self._original = None
