"""What the program does that cotrace must know at once, seen through audit
events (PEP 578): the processes it starts, and a trace function it installs.

cotrace records the process it runs, not its children: a forked child runs
on untraced (its events would interleave with the parent's in one file), a
new interpreter starts without cotrace.  So that the trace does not pass
over them in silence, the ones that raise an audit event are counted
(``os.fork``/``os.forkpty``, ``subprocess.Popen``, ``os.posix_spawn`` and
``os.spawn*``, ``os.system``), and ``os.exec*``, which replaces the process
and so would leave the trace without its footer, finishes the recording
first.  multiprocessing's spawn and forkserver start methods raise no
audit event for their processes: a spawned process (and the forkserver and
resource tracker helpers) is started by ``_posixsubprocess.fork_exec``,
which cotrace wraps to count it (by the module that called it), and a
process the forkserver forks is asked for by connecting to the
forkserver's socket (the ``socket.connect`` event to that address).

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
CONNECT = "socket.connect"
_EVENTS = frozenset(CHILDREN) | {EXEC, SETTRACE, CONNECT}
_WATCHERS: list = []   # weak references to bound methods watcher(kind, detail)
# who called _posixsubprocess.fork_exec (through multiprocessing.util.spawnv_passfds) -> kind
_SPAWNERS = {"multiprocessing.popen_spawn_posix": "multiprocessing spawn",
             "multiprocessing.forkserver": "multiprocessing helper",
             "multiprocessing.resource_tracker": "multiprocessing helper"}


def watch(method) -> None:
    """Call the bound method ``method(kind, detail)`` for each event, for as
    long as its object lives: ``kind`` is one of CHILDREN's values (a child
    started), "exec", or "settrace" (``detail``: the module of the code that
    called sys.settrace)."""
    if not _WATCHERS:
        sys.addaudithook(_hook)
        _wrap_fork_exec()
    _WATCHERS[:] = [ref for ref in _WATCHERS if ref() is not None]
    _WATCHERS.append(weakref.WeakMethod(method))


def _hook(event: str, args: tuple) -> None:
    # an exception out of an audit hook would abort what the program is
    # doing: nothing may escape
    if event not in _EVENTS:
        return
    try:
        _dispatch(event, args)
    except BaseException:
        pass


def _wrap_fork_exec() -> None:
    """Count the processes ``_posixsubprocess.fork_exec`` starts for others
    than subprocess.Popen (which raises its own event): multiprocessing's.
    The wrapper stays (inert while nothing records), like the audit hook."""
    try:
        import _posixsubprocess
    except ImportError:
        return
    real = getattr(_posixsubprocess, "fork_exec", None)
    if real is None or getattr(real, "__cotrace_wrapped__", False):
        return

    def fork_exec(*args, **kwargs):
        pid = real(*args, **kwargs)
        try:
            kind = _spawner()
            if kind is not None:
                _notify(kind, None)
        except BaseException:
            pass
        return pid

    fork_exec.__name__, fork_exec.__qualname__, fork_exec.__doc__ = real.__name__, real.__name__, real.__doc__
    fork_exec.__module__ = "_posixsubprocess"
    fork_exec.__cotrace_wrapped__ = True  # type: ignore[attr-defined]
    _posixsubprocess.fork_exec = fork_exec


def _spawner() -> str | None:
    """What kind of process the caller of fork_exec started (None: subprocess's, counted already)."""
    frame = sys._getframe(2)
    name = frame.f_globals.get("__name__")
    if name == "subprocess":
        return None
    if name == "multiprocessing.util" and frame.f_back is not None:
        return _SPAWNERS.get(str(frame.f_back.f_globals.get("__name__")), "multiprocessing helper")
    return "spawn"


def _is_forkserver(address) -> bool:
    """A connection to multiprocessing's forkserver asks it for a new process."""
    mod = sys.modules.get("multiprocessing.forkserver")
    server = getattr(mod, "_forkserver", None)
    return server is not None and address is not None and getattr(server, "_forkserver_address", None) == address


def _caller() -> str | None:
    """The module of the Python code that raised the event (None: from C, e.g. an atexit callback)."""
    try:
        frame = sys._getframe(3)
    except ValueError:
        return None
    name = frame.f_globals.get("__name__")
    return name if isinstance(name, str) else "?"


def _dispatch(event: str, args: tuple) -> None:
    detail = None
    if event == CONNECT:
        if not (len(args) == 2 and _is_forkserver(args[1])):
            return
        kind = "multiprocessing forkserver"
    elif event == SETTRACE:
        caller = _caller()
        if caller is None or caller == "tracer" or caller.startswith("tracer.") or caller == "threading":
            return   # cotrace's own, from C, or threading's bootstrap of a thread (threading.settrace)
        kind, detail = "settrace", caller
    elif event == "os.posix_spawn" and _caller() == "subprocess":
        return   # subprocess.Popen, counted already (3.13 uses posix_spawn where it can)
    else:
        kind = CHILDREN.get(event, "exec")
    _notify(kind, detail)


def _notify(kind: str, detail) -> None:
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
