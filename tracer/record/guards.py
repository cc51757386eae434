"""Process-wide patches a recording needs, each undone by ``remove()``.

* :class:`SigintGuard`: a Ctrl-C that lands inside cotrace's own code is
  postponed until the hook hands control back to the program.
* :class:`GcPhase`: whether the cyclic collector is running (a generator it
  finalizes is closed by ``<gc>``, not by whatever frame happened to run).
* :func:`after_fork`: a forked child runs on untraced.
"""
from __future__ import annotations

import functools
import gc
import os
import signal
import threading
import typing
import weakref
import _thread

from .. import PACKAGE_DIR
from . import saferepr

# Code that runs only inside a hook: every file of this package
# (tracer/record/), and the trace writer and aggregator it calls.  Not the
# runner, session or command, which sit at the bottom of every stack of the
# program.
_RECORD_DIR = os.path.join(PACKAGE_DIR, "record") + os.sep
_WRITER_FILES = frozenset(os.path.join(PACKAGE_DIR, name) for name in ("traceio.py", "aggregates.py"))


def is_hook_code(filename: str) -> bool:
    return filename.startswith(_RECORD_DIR) or filename in _WRITER_FILES


class _Retrip(int):
    """``_Retrip(SIGINT).fire`` runs ``_thread.interrupt_main(SIGINT)``.

    Through a property, because an attribute load, unlike a call, is not
    followed by a check for pending signals: the re-raised interrupt must
    fire in the program after our trace function returns, not inside it.
    """

    fire = property(_thread.interrupt_main)


RETRIP = _Retrip(2)  # signal.SIGINT


class SigintGuard:
    """A signal's Python handler runs at the next "eval breaker" check, which
    may fall inside a cotrace hook, for instance at its very first
    instruction, where no try block can catch the KeyboardInterrupt: the
    interpreter would then unset tracing and raise it in the wrong frame.
    While the default SIGINT handler is installed we wrap it: inside any
    file of this package the interrupt is postponed (``deferred``) to the
    moment the hook hands control back (``deliver``), everywhere else it is
    raised as usual.  Inside means: one of the innermost 64 frames runs
    hook code (:func:`is_hook_code`), so that a value's ``__repr__`` called
    by the recorder counts too.

    The wrapper must stay invisible: programs (asyncio.Runner among them)
    install their own Ctrl-C handling only when getsignal(SIGINT) is
    signal.default_int_handler.  So signal.getsignal and signal.signal
    report default_int_handler wherever the wrapper is installed.

    SIGTERM too, while its disposition is the default (death): python dies
    at once, running none of the program's code, and so does the program
    under cotrace, but first ``on_terminate`` (set by the session) stops the
    recording and writes the footer; postponed like a Ctrl-C when it lands
    in a hook.  signal.getsignal reports SIG_DFL for it.
    """

    def __init__(self, is_active, is_busy=lambda: True) -> None:
        self.deferred = False
        # True while an event is being handled: what is postponed then is
        # delivered when the handler returns (``deliver``); cotrace code that
        # runs outside a handler (a gc callback) has no such moment
        self._is_busy = is_busy
        self.on_terminate: typing.Any = None   # finish the trace before dying by SIGTERM
        self._term_pending = False
        self._is_active = is_active
        self._prev: typing.Any = None
        self._handler: typing.Any = None
        self._term_handler: typing.Any = None

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        try:
            if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
                return
            default = signal.default_int_handler
            is_active, hook_code = self._is_active, is_hook_code

            def in_hook(frame) -> bool:
                f, depth = frame, 0
                while f is not None and depth < 64:
                    if hook_code(f.f_code.co_filename):
                        return True
                    f, depth = f.f_back, depth + 1
                return False

            def on_sigint(signum, frame):
                kick = saferepr.take_kick()
                if kick == "expired":
                    raise saferepr.ReprTimeout()  # the watchdog's: a repr blocked in C
                if kick == "late":
                    return
                if is_active() and in_hook(frame):
                    self.deferred = True
                    return
                default(signum, frame)

            is_busy = self._is_busy

            def on_sigterm(signum, frame):
                if is_active() and in_hook(frame) and is_busy():
                    self._term_pending = self.deferred = True
                    return
                self._terminate()

            real_getsignal, real_signal = signal.getsignal, signal.signal
            ours: dict = {}  # our handler -> what the program is told is installed

            @functools.wraps(real_getsignal)
            def getsignal(signalnum):
                handler = real_getsignal(signalnum)
                return ours.get(handler, handler)

            @functools.wraps(real_signal)
            def set_signal(signalnum, handler):
                previous = real_signal(signalnum, handler)
                return ours.get(previous, previous)

            real_signal(signal.SIGINT, on_sigint)
            ours[on_sigint] = default
            if real_getsignal(signal.SIGTERM) == signal.SIG_DFL:
                real_signal(signal.SIGTERM, on_sigterm)
                ours[on_sigterm] = signal.SIG_DFL
                self._term_handler = on_sigterm
            signal.getsignal, signal.signal = getsignal, set_signal  # type: ignore[assignment]
            self._prev = (real_getsignal, real_signal)
            self._handler = on_sigint
            saferepr.set_kicker(lambda: real_getsignal(signal.SIGINT) is on_sigint)
        except (ValueError, OSError):  # not the main interpreter, or no signals
            pass

    def _terminate(self) -> None:
        """Finish the trace, then die by SIGTERM as python would have."""
        self._term_pending = False
        try:
            if self.on_terminate is not None:
                self.on_terminate()
        except BaseException:  # dying anyway: what could be written is written
            pass
        finally:
            real_signal = self._prev[1] if self._prev is not None else signal.signal
            real_signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            os._exit(128 + signal.SIGTERM)  # (not reached: SIGTERM's default action ends the process)

    def deliver(self) -> None:
        """A Ctrl-C (or SIGTERM) arrived while cotrace ran: deliver it in the program."""
        self.deferred = False
        if self._term_pending:
            self._terminate()
        RETRIP.fire

    def remove(self) -> None:
        if self._prev is None:
            return
        real_getsignal, real_signal = self._prev
        self._prev = None
        saferepr.set_kicker(None)
        signal.getsignal, signal.signal = real_getsignal, real_signal
        try:
            if real_getsignal(signal.SIGINT) is self._handler:
                real_signal(signal.SIGINT, signal.default_int_handler)
            if self._term_handler is not None and real_getsignal(signal.SIGTERM) is self._term_handler:
                real_signal(signal.SIGTERM, signal.SIG_DFL)
        except (ValueError, OSError):
            pass


class GcPhase:
    """``collecting`` is True while the cyclic garbage collector runs."""

    def __init__(self) -> None:
        self.collecting = False

    def _on_gc(self, phase, info) -> None:
        self.collecting = phase == "start"

    def install(self) -> None:
        gc.callbacks.append(self._on_gc)

    def remove(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)


_FORK_HOOKS: list = []   # weak references to bound methods


_LATE_FORK_HOOKS: list = []


def after_fork(method, late: bool = False) -> None:
    """Run the bound method ``method()`` in a forked child, for as long as
    its object lives (os.register_at_fork cannot unregister: one hook of
    cotrace's for the process, kept weakly so that it keeps no recorder).
    ``late``: after every other (a recording of the child starts once the
    inherited recorders have uninstalled themselves)."""
    if not _FORK_HOOKS and not _LATE_FORK_HOOKS:
        os.register_at_fork(after_in_child=_run_fork_hooks)
    hooks = _LATE_FORK_HOOKS if late else _FORK_HOOKS
    hooks[:] = [ref for ref in hooks if ref() is not None]
    hooks.append(weakref.WeakMethod(method))


def _run_fork_hooks() -> None:
    for ref in list(_FORK_HOOKS) + list(_LATE_FORK_HOOKS):
        method = ref()
        if method is not None:
            try:
                method()
            except Exception:
                pass
