"""One recording: target + recorder + trace file, start to footer.

The CLI only translates options into a :class:`RecordOptions` and calls
:func:`record`; tests call it directly too.
"""
from __future__ import annotations

import datetime
import os
import signal
import sys
import typing
from dataclasses import dataclass, field

from . import __version__, compat, traceio
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
    redact: tuple = ()            # --redact patterns (see tracer.record.redact)
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
    safe_repr = SafeRepr(opts.repr_limit, redactor=redactor, no_values=opts.no_values)
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
    recorder = recorder_class(writer, Filters(opts.include, opts.exclude, opts.record_all),
                              max_events=opts.max_events, stderr=stderr, safe_repr=safe_repr, core=core)
    outcome = Outcome(1, 1, "cotrace: recording did not finish")
    footer: dict = {}

    left: list = []   # the program's profile and trace functions, set aside while cotrace finishes

    def finish(outcome: Outcome) -> None:
        """Stop recording and write the footer (once)."""
        if footer:
            return
        # a profiler (or tracer) the program left on would see cotrace's own
        # code finish the trace and draw: off until release() puts it back,
        # for the interpreter's shutdown, as it sees it untraced
        profile, trace = recorder.program_hooks()
        left[:] = [outcome.profile or profile, trace]
        sys.setprofile(None)
        info = recorder.stop()
        sys.settrace(None)
        footer.update({"events": info["events"], "dropped": info["dropped"], "suspended": info["suspended"],
                       "running": info["running"], "objects": info["objects"], "exit": outcome.exit_code,
                       "error": _error_text(outcome.error, safe_repr)})
        if info["limit_reached"]:
            footer["limit_reached"] = True
        if info["lost"]:
            footer["lost"] = info["lost"]
        if info["recorder_error"]:
            footer["recorder_error"] = info["recorder_error"]
        if info["children"]:
            footer["children"] = info["children"]
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
    try:
        outcome = target.run(prepared, recorder.start)
    finally:
        finish(outcome)
    if not writer.owned:  # a forked child of the program ends here, silently
        restore()
        return Recording(path, outcome, {})
    if not opts.quiet:
        say(stderr, summary(path, footer, writer.bytes) + "\n")
    hooks = tuple(left) or (None, None)
    if not opts.hold_trace:
        restore()
    return Recording(path, outcome, footer, writer.release, hooks)


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
    children = footer.get("children") or {}
    if children:
        count = sum(children.values())
        dropped += ", %d child process%s not recorded (%s)" % (
            count, "" if count == 1 else "es", ", ".join("%s %d" % kv for kv in sorted(children.items())))
    # (the path comes from the script's name: no raw control characters)
    return ("cotrace: %d events, %d objects%s, %d still suspended -> %s%s"
            % (footer["events"], footer["objects"], visible(dropped), len(footer["suspended"]), visible(path),
               " (%s)" % human_size(size) if size is not None else ""))
