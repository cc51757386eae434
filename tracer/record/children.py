"""The processes the program starts, seen through audit events (PEP 578).

cotrace records the process it runs, not its children: a forked child runs
on untraced (its events would interleave with the parent's in one file), a
new interpreter starts without cotrace.  So that the trace does not pass
over them in silence, the ones that raise an audit event are counted
(``os.fork``/``os.forkpty``, ``subprocess.Popen``, ``os.posix_spawn`` and
``os.spawn*``, ``os.system``), and ``os.exec*``, which replaces the process
and so would leave the trace without its footer, finishes the recording
first.  (multiprocessing's spawn and forkserver start methods start their
processes from C without an audit event: they are not counted.)

An audit hook cannot be removed: there is one for the process, kept weakly
(it keeps no recorder alive) and inert while nothing records.
"""
from __future__ import annotations

import sys
import weakref

KINDS = {"os.fork": "fork", "os.forkpty": "fork", "subprocess.Popen": "subprocess", "os.posix_spawn": "spawn",
         "os.spawn": "spawn", "os.system": "shell"}
EXEC = "os.exec"
_EVENTS = frozenset(KINDS) | {EXEC}
_WATCHERS: list = []   # weak references to bound methods watcher(kind, args)


def watch(method) -> None:
    """Call the bound method ``method(kind, args)`` for each child started
    (``kind`` from KINDS' values, or "exec"), for as long as its object lives."""
    if not _WATCHERS:
        sys.addaudithook(_hook)
    _WATCHERS[:] = [ref for ref in _WATCHERS if ref() is not None]
    _WATCHERS.append(weakref.WeakMethod(method))


def _hook(event: str, args: tuple) -> None:
    if event not in _EVENTS:
        return
    if event == "os.posix_spawn" and sys._getframe(1).f_globals.get("__name__") == "subprocess":
        return   # subprocess.Popen, counted already (3.13 uses posix_spawn where it can)
    kind = KINDS.get(event, "exec")
    for ref in list(_WATCHERS):
        method = ref()
        if method is not None:
            try:
                method(kind, args)
            except Exception:
                pass   # never the program's concern
