"""One recording: a source feeding the state machine, which writes through
the sink; the process guards and the tool id around them.

:class:`Recorder` is what :mod:`tracer.session` (and tests) drive:
``start()`` installs everything, saving what was installed before;
``stop()`` puts it back and returns the footer fields.  An internal error
disables recording with one warning on stderr; the traced program never
sees an exception from the recorder.
"""
from __future__ import annotations

import gc
import sys
import time
import typing
import _thread

from ..streams import say
from . import audit, codecache, framepeek
from . import core as cores
from .filters import Filters
from .guards import GcPhase, SigintGuard, after_fork
from .machine import Machine
from .saferepr import SafeRepr
from .settrace import SettraceSource
from .sink import Sink
from .toolid import ToolLease
from .unawaited import UnawaitedHook, UnretrievedHook


class Recorder:
    """Records generator control flow of the current process into ``writer``
    (a :class:`tracer.traceio.TraceWriter`).  ``safe_repr`` is the one
    bounded repr of the recording (the writer's ``encode_value`` too)."""

    backend = "settrace"
    source_class: type = SettraceSource

    def __init__(self, writer, filters: Filters | None = None, repr_limit: int = 200,
                 max_events: int | None = None, stderr=None, safe_repr: SafeRepr | None = None,
                 core: str = "python") -> None:
        self.writer = writer
        self.repr = safe_repr or SafeRepr(repr_limit)
        self.stderr = stderr or sys.stderr
        self.error: str | None = None
        self.write_failed = False   # the writer could not write a batch: recording stopped (see stop_writing)
        self.gc = GcPhase()
        self.core = cores.resolve(core)
        self.sink: Sink
        self.machine: Machine
        cmachine = None
        if self.core == "c":
            c = cores.new_core()
            self.sink = cores.CSink(c, writer, self.repr, max_events, self._stop_at_limit)
            self.machine = cmachine = cores.CMachine(c, self.sink, filters or Filters(), self.gc, self._fail)
        else:
            self.sink = Sink(writer, self.repr, max_events, self._stop_at_limit)
            self.machine = Machine(self.sink, filters or Filters(), self.gc, self._fail)
        # (the signal handler runs in the main thread: busy there, it delivers on return)
        self.guard = SigintGuard(lambda: self.machine.active, lambda: self.machine.busy == _thread.get_ident())
        if cmachine is not None:
            cmachine.bind(writer, self.guard)
        self.lease = ToolLease()
        self.source = self.source_class(self.machine, self.guard, self.lease, self._warn)
        self.unawaited = UnawaitedHook(self.machine.never_awaited)
        self.unretrieved = UnretrievedHook(self.machine.never_retrieved)
        self._installed = False
        self._fork_hooked = False
        self.children: dict = {}    # kind -> child processes started while recording (not recorded)
        self._replaced_warned = False
        self.forks_recorded = False  # forked children get traces of their own: not counted as unrecorded
        self.on_exec: typing.Any = None   # finish the trace before os.exec* replaces the process (the session sets it)

    @property
    def active(self) -> bool:
        return self.machine.active

    def start(self, forked: bool = False) -> None:
        """Install the hooks.  ``forked``: in a forked child of the program,
        mid-run (calibrated already, and no collection the program would
        not have had)."""
        if not forked:
            framepeek.calibrate()
            # calibration made a few cycles (generators, frames); collect them
            # now so that the program's first gc.collect() counts only its own
            gc.collect()
        if framepeek.LAYOUT is None:
            self._warn("cannot read sent values on this interpreter (%s); they are recorded as null"
                       % framepeek.FAILURE)
        if self.source.name == "settrace":
            before = sys.gettrace()
            if before is not None:
                # coverage run -m tracer: its tracer is set aside while ours
                # records (calling it from ours would make it take over again)
                owner = audit.module_of(before)
                self._warn("a trace function of %s is installed: the settrace backend replaces it while "
                           "recording, so it sees nothing of the program%s" % (audit.owner(owner), audit.advice(owner)))
        self.sink.t0 = time.perf_counter_ns()
        self.machine.active = True
        main = self.machine.thread_state()
        if not self._fork_hooked:
            after_fork(self._after_fork_in_child)
            audit.watch(self._audited)
            self._fork_hooked = True
        self._installed = True
        for table in self.machine.tables():
            codecache.track(table)
        self.gc.install()
        self.guard.install()
        self.unawaited.install()
        self.unretrieved.reset()
        self.machine.coroutine_seen = None if self.unretrieved.install() else self._coroutine_seen
        try:
            self.source.install(main)
        except BaseException:
            self._uninstall()
            raise

    def _coroutine_seen(self) -> None:
        if self.unretrieved.install():   # asyncio is imported now
            self.machine.coroutine_seen = None

    def program_hooks(self) -> tuple:
        """(profile function, trace function) the program left installed in
        this thread (None for none, and for a trace function of ours)."""
        trace = sys.gettrace()
        return sys.getprofile(), None if trace is None or self.source.is_ours(trace) else trace

    def stop(self) -> dict:
        """Uninstall the hooks and settle the state; return footer fields."""
        if self.active and self.error is None:
            self.error = self.source.broken()
        self._uninstall()
        sink = self.sink
        # settled like a run cut by --max-events: the rest ran unrecorded
        cut = sink.limit_reached or self.write_failed
        defined = sink.last_defined
        upto = getattr(self.writer, "defined_upto", None)
        if upto is not None:
            defined = min(defined, upto)
        suspended, running = self.machine.settle(cut, defined)
        where = self.machine.still_suspended(suspended) if suspended else []
        return {"events": sink.count, "dropped": 0 if self.write_failed else sink.dropped,
                "limit_reached": sink.limit_reached and not self.write_failed,
                "lost": self.machine.lost, "suspended": suspended, "still_suspended": where, "running": running,
                "unrecorded": dict(self.machine.unrecorded, examples=self.machine.unrecorded_names)
                if self.machine.unrecorded else None,
                "unmatched": self.machine.filters.unmatched() or None,
                "objects": self.machine.objects, "recorder_error": self.error, "children": dict(self.children)}

    def stop_writing(self, why: str) -> None:
        """The writer could not write a batch (disk full, say): stop
        recording as --max-events does, so that the file stays a prefix of
        the run; the program runs on.  The writer's own error text goes
        into the footer (TraceWriter.failure)."""
        if self.write_failed:
            return
        self.write_failed = True
        self._warn("cannot write the trace %s (%s); recording stopped, the program runs on"
                   % (getattr(self.writer, "path", "?"), why))
        self.sink.limit = min(self.sink.limit, self.sink.count)

    def _uninstall(self) -> None:
        """Put back every hook start() installed (also after an internal
        error, which only stops recording).  Idempotent."""
        self.machine.active = False
        if not self._installed:
            return
        self._installed = False
        for table in self.machine.tables():
            codecache.untrack(table)
        self.unawaited.remove()
        self.machine.coroutine_seen = None
        self.unretrieved.remove()
        self.guard.remove()
        self.gc.remove()
        self.source.remove()

    def _audited(self, kind: str, detail) -> None:
        """An audit event of tracer.record.audit, in this process."""
        if not self._installed or not self.writer.owned:
            return
        if kind == "exec":
            if self.on_exec is not None:
                self.on_exec()
            return
        if kind == "settrace":
            # coverage.py never chains to the trace function it replaces: say
            # so at once (another tracer may chain to ours, as a debugger
            # does; whether it did is known at the end: source.broken)
            if self.source.name == "settrace" and self.active and not self._replaced_warned \
                    and audit.is_coverage(detail):
                self._replaced_warned = True
                self._warn("%s called sys.settrace and replaced cotrace's trace function: events from here on "
                           "are not recorded%s" % (audit.owner(detail), audit.advice(detail)))
            return
        if kind == "fork" and self.forks_recorded:
            return   # recorded into traces of their own (tracer.session)
        self.children[kind] = self.children.get(kind, 0) + 1

    def _after_fork_in_child(self) -> None:
        # a forked child runs on untraced: its events would interleave with
        # the parent's in the same file
        self._uninstall()

    def _stop_at_limit(self) -> None:
        """--max-events reached: switch the hooks off, so that the rest of
        the program runs at untraced speed (stop() still settles the state
        and writes the footer).  Events after this point are not counted."""
        self.machine.active = False
        self.source.silence()

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = "%s: %s" % (type(exc).__name__, exc)
            self._warn("internal error, recording stopped: %s" % self.error)
        self.machine.active = False  # every hook now returns at once; stop() uninstalls
        try:
            self.source.silence()
        except Exception:
            pass

    def _warn(self, text: str) -> None:
        say(self.stderr, "cotrace: warning: %s\n" % text)
