"""One recording: target + recorder + trace file, start to footer.

The CLI only translates options into a :class:`RecordOptions` and calls
:func:`record`; tests call it directly too.
"""
from __future__ import annotations

import datetime
import functools
import os
import signal
import sys
import typing
from dataclasses import dataclass, field

from . import __version__, anomalies, compat, traceio
from .record import backends
from .record import core as cores
from .record.filters import Filters
from .redact import Redactor
from .record.saferepr import SafeRepr
from .render.escape import visible
from .runner import Outcome, Target
from .streams import say


@dataclass
class RecordOptions:
    output_dir: str = "output"
    include: tuple = ()
    exclude: tuple = ()
    record_all: bool = False
    max_events: int | None = None
    repr_limit: int = 200
    codec: str = traceio.DEFAULT_CODEC   # see traceio.CODECS
    quiet: bool = False
    backend: str = "auto"         # see tracer.record.backends
    core: str = "auto"            # see tracer.record.core
    hold_trace: bool = False      # the trace stays locked until Recording.release() (the command draws from it)
    redact: tuple = ()            # --redact patterns (see tracer.redact)
    default_redact: bool = True   # redact the values of tracer.defaults.REDACT_NAMES
    no_values: bool = False       # --no-values


@dataclass
class Recording:
    trace_path: str
    outcome: Outcome
    footer: dict = field(default_factory=dict)
    release: typing.Callable[[], None] = lambda: None   # unlock the trace (RecordOptions.hold_trace)
    # the (profile, trace) functions the program left on, set aside while
    # cotrace finishes: put back by record() itself unless hold_trace
    hooks: tuple = (None, None)


def trace_path_for(target: Target, opts: RecordOptions, suffix: str = "") -> str:
    ext = traceio.SUFFIXES[opts.codec]
    return os.path.join(opts.output_dir, target.stem + suffix + ext)


def record(target: Target, opts: RecordOptions, stderr=None, on_terminated=None) -> Recording:
    """Run ``target`` under the recorder; always leaves a trace with a footer.

    ``on_terminated(recording)`` runs when the program is killed by SIGTERM
    or replaced by ``os.exec*`` (after the footer is written, just before the
    process dies or becomes another program): what the caller would have
    done after a normal end (the diagrams).

    Raises :class:`tracer.runner.TargetError` (before anything is written)
    when the target cannot be started.
    """
    stderr = stderr or sys.stderr
    recorder_class = backends.recorder_class(opts.backend)  # BackendError before anything runs
    core = cores.resolve(opts.core)                          # CoreError, likewise
    redactor = Redactor(opts.redact, opts.default_redact)
    prepared = target.prepare()
    os.makedirs(opts.output_dir, exist_ok=True)
    path = trace_path_for(target, opts)
    header = {
        "format": traceio.FORMAT_NAME, "version": traceio.FORMAT_VERSION, "python": compat.PY_VERSION,
        "backend": recorder_class.backend, "core": core, "argv": redactor.argv([prepared[2]] + list(target.args)),
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cotrace": __version__, "target": target.stem, "repr_limit": opts.repr_limit,
        "cwd": os.getcwd(),   # what the objects' relative file names are relative to
        # what was hidden (never the patterns: one may spell the secret)
        "values": ("none" if opts.no_values else "redacted" if redactor.patterns
                   else "names" if redactor.active else "all"),
    }
    def make_repr() -> SafeRepr:
        return SafeRepr(opts.repr_limit, redactor=redactor, no_values=opts.no_values)

    safe_repr = make_repr()
    writer = None

    def on_big(size: int) -> None:
        say(stderr, "cotrace: warning: the trace %s has passed %s; --max-events N or --include GLOB "
                     "records less\n" % (writer.path if writer else path, human_size(size)))

    recorder = None

    def on_error(why: str) -> None:
        if recorder is not None:
            recorder.stop_writing(why)

    for n in range(1, 100):
        try:
            writer = traceio.TraceWriter(path, header, encode_value=safe_repr, on_big=on_big, core=core,
                                         on_error=on_error)
            break
        except traceio.TraceBusy:
            # the same program is being recorded right now: take another name
            path = trace_path_for(target, opts, "-%d" % (n + 1))
    if writer is None:
        raise OSError("every trace file name for %s is in use" % target.stem)
    def make_recorder(writer, safe_repr):
        made = recorder_class(writer, Filters(opts.include, opts.exclude, opts.record_all),
                              max_events=opts.max_events, stderr=stderr, safe_repr=safe_repr, core=core)
        made.forks_recorded = True   # (by ForkRecorder, into traces of their own)
        return made

    recorder = make_recorder(writer, safe_repr)
    forks = ForkRecorder(make_recorder, make_repr, header, path, core, stderr)
    outcome = Outcome(1, 1, "cotrace: recording did not finish")
    footer: dict = {}

    left: list = []   # the program's profile and trace functions, set aside while cotrace finishes

    def finish(outcome: Outcome) -> None:
        """Stop recording and write the footer (once)."""
        if footer:
            return
        if forks.finish_child(outcome.exit_code, outcome.error):
            return   # a forked child of the program, which recorded itself, ends here
        # a profiler (or tracer) the program left on would see cotrace's own
        # code finish the trace and draw: off until restore() (or the
        # command, at exit) puts it back for the interpreter's shutdown
        profile, trace = recorder.program_hooks()
        left[:] = [outcome.profile or profile, trace]
        sys.setprofile(None)
        info = recorder.stop()
        sys.settrace(None)
        footer.update(footer_fields(info, outcome.exit_code, outcome.error, safe_repr))
        if writer.owned:
            traces = forks.traces()
            if traces:
                footer["child_traces"] = traces
        # a failed write (disk full, say) is in the footer if the footer
        # could be written; the program's exit status stands either way
        try:
            whole = writer.close(footer, keep_lock=opts.hold_trace)
        except OSError as exc:
            whole, writer.error = False, writer.error or str(exc)
        if not whole and writer.owned:   # (a forked child writes nothing)
            say(stderr, "cotrace: warning: the trace %s has no footer: %s\n" % (path, writer.error))

    def cut_short(gone: Outcome) -> None:
        """The process is about to end without returning here: the trace is
        finished first, and the caller draws (``on_terminated``)."""
        finish(gone)
        if not writer.owned:
            return
        if not opts.quiet:
            say(stderr, summary(path, footer, writer.bytes) + "\n")
        if on_terminated is not None:
            on_terminated(Recording(path, gone, footer, writer.release, tuple(left) or (None, None)))

    def terminated() -> None:
        # SIGTERM, the program's own handling of it left as python's (dying
        # at once, running none of its code)
        cut_short(Outcome(-signal.SIGTERM, None, "terminated by SIGTERM"))

    def replaced() -> None:
        # os.exec*: the process becomes another program, which no footer
        # would follow; its exit status is not known here
        cut_short(Outcome(None, None, "replaced by os.exec*"))  # type: ignore[arg-type]

    def restore() -> None:
        """Put back the profile and trace functions the program left on."""
        if left:
            profile, trace = left
            left.clear()
            if trace is not None:
                sys.settrace(trace)
            if profile is not None:
                sys.setprofile(profile)

    recorder.guard.on_terminate = terminated
    recorder.on_exec = replaced
    def start() -> None:
        recorder.start()
        forks.watch()

    try:
        outcome = target.run(prepared, start)
    finally:
        finish(outcome)
    if not writer.owned:  # a forked child of the program ends here, silently
        restore()
        return Recording(path, outcome, {})
    for pattern in footer.get("unmatched") or ():
        say(stderr, "cotrace: warning: --include %s matched no file whose generators or coroutines ran "
                    "(a pattern matches a whole path or any tail of one: 'pkg/*', 'bug.py')\n" % visible(repr(pattern)))
    if not opts.quiet:
        say(stderr, summary(path, footer, writer.bytes) + "\n")
    hooks = tuple(left) or (None, None)
    if not opts.hold_trace:
        restore()
    return Recording(path, outcome, footer, writer.release, hooks)


def footer_fields(info: dict, exit_code, error, safe_repr: SafeRepr) -> dict:
    """The footer, from what Recorder.stop() returned and how the program ended."""
    footer = {"events": info["events"], "dropped": info["dropped"], "suspended": info["suspended"],
              "running": info["running"], "objects": info["objects"], "exit": exit_code,
              "error": _error_text(error, safe_repr)}
    for key in ("still_suspended", "unrecorded", "unmatched", "limit_reached", "lost", "recorder_error", "children"):
        if info.get(key):
            footer[key] = info[key]
    return footer


class ForkRecorder:
    """Records each forked child of the program (``os.fork``, multiprocessing's
    fork start method) into a trace of its own beside the parent's,
    ``<stem>.pid<PID>.trace...``, whose header names the parent (``parent``:
    its pid and trace file); the parent's footer lists them
    (``child_traces``).  In the child, right after the fork (once the
    inherited recorder has uninstalled itself), a new recorder starts; the
    child's trace is finished when the child ends: by returning through the
    runner, by ``os._exit`` (how multiprocessing's children end: wrapped in
    the child only), or by SIGTERM (a Pool's terminate)."""

    def __init__(self, make_recorder, make_repr, header: dict, parent_path: str, core: str, stderr) -> None:
        self.make_recorder, self.make_repr = make_recorder, make_repr
        self.header, self.core, self.stderr = header, core, stderr
        self.parent_path = os.path.abspath(parent_path)
        # <stem> and <suffix> of the parent's <stem><suffix>: a child's is <stem>.pid<PID><suffix>
        self._stem, self._suffix = self.parent_path, ""
        for suffix in traceio.TRACE_SUFFIXES:
            if self.parent_path.endswith(suffix):
                self._stem, self._suffix = self.parent_path[: -len(suffix)], suffix
        self.child: tuple | None = None      # (pid, writer, recorder, safe_repr) while a child records
        self._real_exit: typing.Any = None

    def watch(self) -> None:
        from .record.guards import after_fork
        after_fork(self._forked, late=True)

    def path_for(self, pid: int) -> str:
        return "%s.pid%d%s" % (self._stem, pid, self._suffix)

    def _forked(self) -> None:
        pid = os.getpid()
        if self.child is not None and self.child[0] != pid:
            self.child = None   # a grandchild: its parent's recording is not its own
        # a SIGTERM while the recording starts (a Pool terminated at once)
        # waits until the recorder's own handler can finish the trace
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            self._start_child(pid)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def _start_child(self, pid: int) -> None:
        try:
            path = self.path_for(pid)
            header = dict(self.header, pid=pid, parent={"pid": os.getppid(), "trace": os.path.basename(self.parent_path)},
                          started=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
            safe_repr = self.make_repr()
            made: list = []   # the recorder, for a write that fails (disk full): it stops as the parent's does
            writer = traceio.TraceWriter(path, header, encode_value=safe_repr, core=self.core,
                                         on_error=lambda why: made and made[0].stop_writing(why))
            recorder = self.make_recorder(writer, safe_repr)
            made.append(recorder)
            recorder.forks_recorded = True
            recorder.guard.on_terminate = self._terminated
            recorder.start(forked=True)
        except Exception as exc:
            say(self.stderr, "cotrace: warning: the forked child %d is not recorded: %s\n" % (pid, exc))
            return
        self.child = (pid, writer, recorder, safe_repr)
        real = self._real_exit = os._exit

        @functools.wraps(real)
        def _exit(status):
            self.finish_child(status, None)
            real(status)

        setattr(os, "_exit", _exit)

    def _terminated(self) -> None:
        self.finish_child(-signal.SIGTERM, "terminated by SIGTERM")

    def finish_child(self, exit_code, error) -> bool:
        """In a recording child: write its footer (once); True if this process is one."""
        child = self.child
        if child is None or child[0] != os.getpid():
            return False   # (the parent, at its end: nothing to block)
        # a SIGTERM now (a Pool terminating the worker as it exits) waits
        # until the footer is written.  Blocked before the child is taken:
        # a SIGTERM handled between the two found no child left to finish,
        # and the worker died without its footer
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            child = self.child
            if child is None or child[0] != os.getpid():
                return False
            self.child = None
            _, writer, recorder, safe_repr = child
            if self._real_exit is not None and getattr(os._exit, "__wrapped__", None) is self._real_exit:
                setattr(os, "_exit", self._real_exit)
            info = recorder.stop()
            writer.close(footer_fields(info, exit_code, error, safe_repr))
        except Exception as exc:
            say(self.stderr, "cotrace: warning: the trace of the forked child %d is incomplete: %s\n"
                % (os.getpid(), exc))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return True

    def traces(self) -> list:
        """The children's traces written by this run, by file name (in the parent, at its end)."""
        directory = os.path.dirname(self.parent_path)
        stem = os.path.basename(self._stem) + ".pid"
        found = []
        try:
            names = os.listdir(directory)
        except OSError:
            return []
        for name in names:
            if not name.startswith(stem) or not name.endswith(traceio.TRACE_SUFFIXES):
                continue
            try:
                stream = traceio.TraceStream(os.path.join(directory, name))
                stream.close()
            except traceio.TraceError:
                continue
            parent = stream.trace.header.get("parent")
            if isinstance(parent, dict) and parent.get("trace") == os.path.basename(self.parent_path) \
                    and stream.trace.header.get("started", "") >= self.header.get("started", ""):
                found.append(name)
        return sorted(found, key=lambda n: (len(n), n))


def _error_text(error: str | None, safe_repr: SafeRepr) -> str | None:
    """The program's uncaught exception as the footer records it: redacted,
    and only its type with --no-values (its message is a value)."""
    if error is None:
        return None
    if safe_repr.no_values:
        return error.split(":", 1)[0]
    return safe_repr.redact(error)


def human_size(size: int) -> str:
    """``512 B``, ``3.4 kB``, ``24.1 MB``, ``1.2 GB`` (powers of 1000, as ls -h --si)."""
    if size < 1000:
        return "%d B" % size
    scaled = float(size)
    for unit in ("kB", "MB", "GB"):
        scaled /= 1000
        if scaled < 1000 or unit == "GB":
            break
    return "%.1f %s" % (scaled, unit)


def summary(path: str, footer: dict, size: int | None = None) -> str:
    """The one line said after a recording."""
    if size is None:
        try:
            size = os.path.getsize(path)
        except OSError:
            size = None
    if footer.get("limit_reached"):
        dropped = ", recording stopped at --max-events (later events not recorded or counted)"
    else:
        dropped = ", %d dropped (--max-events)" % footer["dropped"] if footer["dropped"] else ""
    if footer.get("recorder_error"):
        dropped += ", incomplete: " + footer["recorder_error"]
    traces = footer.get("child_traces") or []
    if traces:
        dropped += ", %d forked child process%s recorded in %s" % (
            len(traces), "" if len(traces) == 1 else "es", ", ".join(traces[:3]) + (", ..." if len(traces) > 3 else ""))
    children = footer.get("children") or {}
    if children:
        count = sum(children.values())
        dropped += ", %d child process%s not recorded (%s)" % (
            count, "" if count == 1 else "es", ", ".join("%s %d" % kv for kv in sorted(children.items())))
    switches = footer.get("thread_switches")
    if type(switches) is int and switches > 0:
        dropped += ", %d thread switch%s between events" % (switches, "" if switches == 1 else "es")
    if not footer["objects"] and anomalies.unrecorded(footer):
        dropped += ", " + anomalies.unrecorded(footer)
    # (the path comes from the script's name: no raw control characters)
    counts = {k: v for k, v in (footer.get("anomalies") or {}).items() if k in anomalies.KINDS}
    found = ""
    if counts:  # (still suspended objects are counted before)
        found = "; %s (cotrace --check lists them)" % anomalies.count_summary(counts)
    return ("cotrace: %d events, %d objects%s, %d still suspended -> %s%s%s"
            % (footer["events"], footer["objects"], visible(dropped), len(footer["suspended"]), visible(path),
               " (%s)" % human_size(size) if size is not None else "", found))
