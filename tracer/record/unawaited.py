"""CPython's own reports of two mistakes, seen as they happen: a coroutine
never awaited, and (asyncio) a task's exception never retrieved.

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
noted.  A task's exception never retrieved is seen the same way, through
asyncio's default exception handler (UnretrievedHook).
"""
from __future__ import annotations

import builtins
import dis
import sys
import types
import typing
import warnings
import _thread

_getframe = sys._getframe

_GLOBAL_LOADS = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})


def _globals_of(fn) -> set:
    return {i.argval for i in dis.get_instructions(fn) if i.opname in _GLOBAL_LOADS}


class NotingGlobals(dict):
    """The globals of a copy of a CPython function: looking up the global
    ``noted`` calls ``note(frame)`` with the copy's running frame, then
    answers, like every other name of ``names``, with the module's value of
    the moment; other names fall through to the builtins.  (A dict
    subclass: CPython's LOAD_GLOBAL then goes through ``__getitem__``.)"""

    def __init__(self, module, noted: str, names: set, note) -> None:
        super().__init__(__builtins__=builtins, __name__=module.__name__)
        self._namespace = module.__dict__
        self._noted, self._names = noted, frozenset(names)
        self._note = note

    def __getitem__(self, name):
        if name == self._noted:
            try:
                self._note(_getframe(1))   # the copy's frame
            except Exception:  # never in the program's way
                pass
        if name in self._names:
            return self._namespace[name]
        return dict.__getitem__(self, name)


def copy_noting(original, module, noted: str, note):
    """CPython's ``original`` (same code, defaults, names) with
    NotingGlobals: ``note(frame)`` runs at each lookup of ``noted``."""
    names = _globals_of(original) - set(vars(builtins))
    copy = types.FunctionType(original.__code__, NotingGlobals(module, noted, names, note), original.__name__,
                              original.__defaults__, original.__closure__)
    copy.__qualname__ = original.__qualname__
    copy.__doc__ = original.__doc__
    copy.__module__ = original.__module__
    copy.__kwdefaults__ = original.__kwdefaults__
    return copy


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
        on_unawaited = self.on_unawaited

        def note(frame) -> None:
            on_unawaited(frame.f_locals.get("coro"), frame.f_back)   # (the frame stacklevel=2 names)

        copy = copy_noting(original, module, "warn", note)
        self._original, self._installed = original, copy
        module._warn_unawaited_coroutine = copy  # type: ignore[attr-defined]
        return True

    def remove(self) -> None:
        module = self._module
        if self._installed is not None and module.__dict__.get("_warn_unawaited_coroutine") is self._installed:
            module._warn_unawaited_coroutine = self._original  # type: ignore[attr-defined]
        self._installed = self._original = None


UNRETRIEVED = "Task exception was never retrieved"   # asyncio's words (futures.py, _asynciomodule.c)


class UnretrievedHook:
    """asyncio's "Task exception was never retrieved", seen where asyncio
    reports it: a task finalized with an exception nobody asked for calls
    its loop's ``call_exception_handler``, which (unless the program set a
    handler of its own) calls ``BaseEventLoop.default_exception_handler``,
    whose every call looks up the global ``logger``.  While recording,
    that method is CPython's own (same code) with NotingGlobals: the lookup
    passes the task and its exception to ``on_unretrieved(task, exc)``, and
    asyncio logs exactly what it would have.  asyncio is usually imported
    after recording starts: :meth:`install` is tried again (the recorder
    does it each time a new coroutine function is first seen) until
    ``asyncio.base_events`` is there.  A loop with its own handler (the
    program's, uvloop's) is not seen."""

    def __init__(self, on_unretrieved) -> None:
        self.on_unretrieved = on_unretrieved
        self._class: typing.Any = None
        self._original: types.FunctionType | None = None
        self._installed: types.FunctionType | None = None
        self._lock = _thread.allocate_lock()   # install (any thread's first coroutine) against remove
        self._removed = False

    def install(self) -> bool:
        """True once installed (or where it never can be, or after remove)."""
        with self._lock:
            if self._installed is not None or self._removed:
                return True
            return self._install()

    def _install(self) -> bool:
        module = sys.modules.get("asyncio.base_events")
        if not isinstance(module, types.ModuleType):
            return False
        cls = module.__dict__.get("BaseEventLoop")
        original = cls.__dict__.get("default_exception_handler") if isinstance(cls, type) else None
        if not isinstance(original, types.FunctionType) or original.__code__.co_freevars \
                or type(original.__globals__) is not dict \
                or original.__code__.co_varnames[:2] != ("self", "context") \
                or _globals_of(original) - set(vars(builtins)) - {"traceback"} != {"logger"}:
            return True   # not the function this was written for: never
        on_unretrieved = self.on_unretrieved

        def note(frame) -> None:
            context = frame.f_locals.get("context")
            if type(context) is dict and dict.get(context, "message") == UNRETRIEVED:
                on_unretrieved(dict.get(context, "future"), dict.get(context, "exception"))

        copy = copy_noting(original, module, "logger", note)
        self._class, self._original, self._installed = cls, original, copy
        type.__setattr__(cls, "default_exception_handler", copy)
        return True

    def remove(self) -> None:
        with self._lock:
            self._removed = True
            cls = self._class
            if cls is not None and cls.__dict__.get("default_exception_handler") is self._installed:
                type.__setattr__(cls, "default_exception_handler", self._original)
            self._class = self._installed = self._original = None

    def reset(self) -> None:
        """Installable again (a recorder started anew)."""
        with self._lock:
            self._removed = False
