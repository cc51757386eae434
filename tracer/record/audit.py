"""What the program does that cotrace must know at once, seen through audit
events (PEP 578): the processes it starts, and a trace function it installs.

cotrace records the process it runs, not its children: a forked child runs
on untraced (its events would interleave with the parent's in one file), a
new interpreter starts without cotrace.  So that the trace does not pass
over them in silence, the ones that raise an audit event are counted
(``os.fork``/``os.forkpty``, ``subprocess.Popen``, ``os.posix_spawn`` and
``os.spawn*``, ``os.system``), and ``os.exec*``, which replaces the process
and so would leave the trace without its footer, finishes the recording
first.  (multiprocessing's spawn and forkserver start methods start their
processes from C without an audit event: they are not counted.)

``sys.settrace`` called by the program's code (coverage.py under
pytest-cov, a debugger) replaces the settrace backend's trace function:
the recorder says so when it happens, naming who did it.

An audit hook cannot be removed: there is one for the process, kept weakly
(it keeps no recorder alive) and inert while nothing records.
"""
from __future__ import annotations

import sys
import weakref

CHILDREN = {"os.fork": "fork", "os.forkpty": "fork", "subprocess.Popen": "subprocess", "os.posix_spawn": "spawn",
            "os.spawn": "spawn", "os.system": "shell"}
EXEC = "os.exec"
SETTRACE = "sys.settrace"
_EVENTS = frozenset(CHILDREN) | {EXEC, SETTRACE}
_WATCHERS: list = []   # weak references to bound methods watcher(kind, detail)


def watch(method) -> None:
    """Call the bound method ``method(kind, detail)`` for each event, for as
    long as its object lives: ``kind`` is one of CHILDREN's values (a child
    started), "exec", or "settrace" (``detail``: the module of the code that
    called sys.settrace)."""
    if not _WATCHERS:
        sys.addaudithook(_hook)
    _WATCHERS[:] = [ref for ref in _WATCHERS if ref() is not None]
    _WATCHERS.append(weakref.WeakMethod(method))


def _hook(event: str, args: tuple) -> None:
    # an exception out of an audit hook would abort what the program is
    # doing: nothing may escape
    if event not in _EVENTS:
        return
    try:
        _dispatch(event)
    except BaseException:
        pass


def _caller() -> str | None:
    """The module of the Python code that raised the event (None: from C, e.g. an atexit callback)."""
    try:
        frame = sys._getframe(3)
    except ValueError:
        return None
    name = frame.f_globals.get("__name__")
    return name if isinstance(name, str) else "?"


def _dispatch(event: str) -> None:
    detail = None
    if event == SETTRACE:
        caller = _caller()
        if caller is None or caller == "tracer" or caller.startswith("tracer.") or caller == "threading":
            return   # cotrace's own, from C, or threading's bootstrap of a thread (threading.settrace)
        kind, detail = "settrace", caller
    elif event == "os.posix_spawn" and _caller() == "subprocess":
        return   # subprocess.Popen, counted already (3.13 uses posix_spawn where it can)
    else:
        kind = CHILDREN.get(event, "exec")
    for ref in list(_WATCHERS):
        method = ref()
        if method is not None:
            try:
                method(kind, detail)
            except Exception:
                pass   # never the program's concern


def is_coverage(module: str | None) -> bool:
    return bool(module) and module.split(".")[0] in ("coverage", "pytest_cov")  # type: ignore[union-attr]


def owner(module: str | None) -> str:
    """Who a trace function (or the code that installed one) belongs to."""
    if is_coverage(module):
        return "coverage.py (%s)" % module
    return "the program's code (%s)" % (module or "?")


def advice(module: str | None) -> str:
    """What to do about another tool on sys.settrace."""
    if is_coverage(module):
        return ("; run without coverage (under pytest-cov: pytest --no-cov), or on Python 3.12+ with "
                "--backend monitoring, where the two run side by side")
    return "; on Python 3.12+ --backend monitoring is not affected by sys.settrace"


def module_of(fn) -> str:
    mod = getattr(fn, "__module__", None) or getattr(type(fn), "__module__", None)
    return mod if isinstance(mod, str) else "?"
