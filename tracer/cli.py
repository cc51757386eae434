"""The ``cotrace`` command: options in, API calls out, exit as the target did."""
from __future__ import annotations

import atexit
import os
import re
import signal
import sys

import click

from . import PACKAGE_DIR, __version__, anomalies, compat, model, render, textview, traceio
from .render import escape
from .record import backends
from .record import core as cores
from .defaults import DEFAULT_MAX_MESSAGES
from .runner import Target, TargetError
from .session import RecordOptions, record, summary
from .streams import say

CONTEXT = {"allow_interspersed_args": False, "help_option_names": ["-h", "--help"]}

# cotrace's options that take a value: needed to find where they end
_VALUE_OPTIONS = frozenset({"-o", "--output-dir", "--include", "--exclude", "--max-events", "--repr-limit",
                            "-f", "--format", "--max-messages", "--after-recording", "--in-dir", "--backend",
                            "--codec", "--core", "--redact"})


def split_args(args: list) -> list:
    """Put ``--`` where cotrace's options end: at SCRIPT, or right after
    ``-m MODULE``, so that everything after belongs to the program, even
    options cotrace also has (``cotrace -m tool --help`` is the tool's help)."""
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            return args
        if a == "-m" or a == "--module":
            return args[: i + 2] + ["--"] + args[i + 2:] if i + 1 < len(args) else args
        if a.startswith("-m") and not a.startswith("--"):  # -mMODULE, as python accepts
            return args[:i] + ["-m", a[2:], "--"] + args[i + 1:]
        if a in _VALUE_OPTIONS:
            i += 2
            continue
        if a.startswith("-") and a != "-":
            i += 1
            continue
        if a.endswith(TRACE_SUFFIXES) and os.path.isfile(a) and "--" not in args[i + 1:]:
            # a trace to draw takes no program arguments: options may follow it
            return args[:i] + args[i + 1:] + ["--", a]
        return args[:i] + ["--"] + args[i:]  # SCRIPT (or "-": read it from stdin)
    return args


def _check_patterns(_ctx, _param, value):
    for pattern in value:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise click.BadParameter("%r is not a regular expression (%s)" % (pattern, exc))
    return value


def _print_version(ctx, _param, value) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo("cotrace %s (Python %s; %s)" % (__version__, compat.PY_VERSION, cores.describe()))
    ctx.exit()


@click.command(context_settings=CONTEXT)
@click.option("-m", "--module", "module", metavar="MODULE",
              help="Run library module MODULE as a script, like python -m.")
@click.option("-o", "--output-dir", default="output", show_default=True, type=click.Path(file_okay=False),
              help="Directory for the trace and diagrams (created if missing); a trace drawn again is drawn beside "
                   "itself unless -o is given.")
@click.option("--include", multiple=True, metavar="GLOB",
              help="Record generators only from source files matching GLOB (repeatable).")
@click.option("--exclude", multiple=True, metavar="GLOB",
              help="Never record generators from source files matching GLOB (repeatable).")
@click.option("--all", "record_all", is_flag=True,
              help="Also record generators of the standard library and site-packages.")
@click.option("--max-events", type=click.IntRange(min=0), default=None, metavar="N",
              help="Stop recording after N events; the footer counts the dropped ones.")
@click.option("--repr-limit", type=click.IntRange(min=8), default=200, show_default=True, metavar="N",
              help="Longest recorded value, in characters.")
@click.option("--redact", multiple=True, metavar="REGEX", callback=_check_patterns,
              help="A value whose repr matches REGEX is written as <redacted>, and so is what follows a name "
                   "matching it (a dict key, a keyword field, a program option); repeatable.")
@click.option("--no-default-redact", is_flag=True,
              help="Do not redact the values of names such as password, token, secret or api_key (redacted by "
                   "default).")
@click.option("--no-values", is_flag=True,
              help="Record the conversation without any value: no repr runs, values are left out.")
@click.option("--codec", type=click.Choice(traceio.CODECS), default=None,
              help="How the trace is stored: zstd (default: .trace.jsonl.zst, about 10 bytes per event; zstdcat "
                   "or cotrace --jsonl reads it), gzip (.trace.jsonl.gz) or none (plain .trace.jsonl).")
@click.option("--compress", is_flag=True, help="Same as --codec gzip (kept from earlier versions).")
@click.option("--backend", type=click.Choice(backends.NAMES), default="auto", show_default=True,
              envvar="COTRACE_BACKEND",
              help="How events are recorded: sys.monitoring (3.12+, the fastest), settrace, or auto (monitoring "
                   "where it exists).  Environment: COTRACE_BACKEND.")
@click.option("--core", type=click.Choice(cores.NAMES), default="auto", show_default=True, envvar="COTRACE_CORE",
              help="What handles the frequent events: the C core (built at install where a compiler exists), "
                   "the Python core (the reference), or auto (C where it was built for this Python).  "
                   "Environment: COTRACE_CORE.")
@click.option("-f", "--format", "formats", multiple=True, metavar="FORMAT",
              help="Diagram format, repeatable or comma-separated: svg (default), png, pdf, dot, mermaid, "
                   "plantuml, txt.  See --list-formats.")
@click.option("--no-diagrams", is_flag=True, help="Only record the trace; draw it later with cotrace TRACE.")
@click.option("--list-formats", is_flag=True, help="List the diagram formats and what each needs, and exit.")
@click.option("--max-messages", type=click.IntRange(min=1), default=DEFAULT_MAX_MESSAGES, show_default=True,
              metavar="N", help="Draw at most N messages in a sequence diagram; the rest are counted.")
@click.option("--fold/--no-fold", default=None,
              help="Fold repeated runs of messages into loops (default: when there are more than 60).")
@click.option("--hide-loop", is_flag=True,
              help="asyncio: no event loop lifeline; each task resumes its own coroutines.")
@click.option("--after-recording", hidden=True, default=None)
@click.option("--in-dir", hidden=True, default=None)
@click.option("--events", "list_events", is_flag=True,
              help="With a trace file: print its events, one per line, instead of drawing.")
@click.option("--jsonl", is_flag=True,
              help="With a trace file: write it to stdout as plain JSON Lines (to grep a compressed trace).")
@click.option("--check", is_flag=True,
              help="List the anomalies (the classic generator and coroutine mistakes: an ignored GeneratorExit, "
                   "a StopIteration turned into RuntimeError, a refused resumption, objects left suspended, ...) "
                   "one per line as file:line: severity: what, and exit 1 if there is any (with a script: "
                   "after it ran, unless it failed itself).")
@click.option("-q", "--quiet", is_flag=True, help="No summary line on stderr.")
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version, the Python and the recording cores available here, and exit.")
@click.argument("target", nargs=-1, type=click.UNPROCESSED)
def cli(module, output_dir, include, exclude, record_all, max_events, repr_limit, redact, no_default_redact, no_values,
        codec, compress, backend, core, formats,
        no_diagrams, list_formats, max_messages, fold, hide_loop, after_recording, in_dir, list_events, jsonl, check,
        quiet, target):
    """Run SCRIPT (or -m MODULE) and record every generator and coroutine
    start, suspension and resumption, with the values passed, into
    OUTPUT_DIR/<name>.trace.jsonl.

    \b
    cotrace [OPTIONS] SCRIPT [ARGS]...
    cotrace [OPTIONS] -m MODULE [ARGS]...

    Then draws OUTPUT_DIR/<name>.sequence.svg, .states.svg and .flow.svg
    (or the formats given with -f).

    \b
    cotrace [-f FORMAT...] FILE.trace.jsonl   draws a recorded trace again
    cotrace -f FORMAT                         draws the newest trace in OUTPUT_DIR
    cotrace --events FILE.trace.jsonl         lists a trace, event by event
    cotrace --check FILE.trace.jsonl          lists its anomalies (exit 1 if any)

    Everything after SCRIPT or MODULE is passed to the program untouched.
    cotrace exits with the program's exit status.
    """
    if list_formats:
        return show_formats()
    if in_dir is not None:
        os.chdir(in_dir)
    try:
        names = render.parse_formats(formats or ("svg",))
    except render.RenderError as exc:
        click.echo("cotrace: error: %s" % exc, err=True)
        return 2
    drawing = _Drawing([] if no_diagrams else names, max_messages, fold, quiet, hide_loop, check)
    if click.get_current_context().get_parameter_source("output_dir") == click.core.ParameterSource.COMMANDLINE:
        drawing.out_dir = output_dir  # a trace drawn again goes beside itself unless -o says otherwise
    if module is None and not target:
        if not formats and not list_events and not jsonl and not check:
            raise click.UsageError("give a SCRIPT to run, -m MODULE, or a trace file to draw")
        newest = newest_trace(output_dir)
        if newest is None:
            raise click.UsageError("no trace in %s to draw; run a program first" % output_dir)
        target = (newest,)
    if module is None and len(target) > 1 and target[-1].endswith(TRACE_SUFFIXES) and \
            os.path.isfile(target[-1]):
        raise click.UsageError("a trace file is drawn, not run: it takes no arguments (got %s)"
                               % " ".join(t for t in target[:-1] if t != "--"))
    if module is None and len(target) == 1 and target[0].endswith(TRACE_SUFFIXES):
        if list_events:
            return show_trace(target[0])
        if jsonl:
            return export_jsonl(target[0])
        if check and after_recording is None and not formats:
            return check_trace(target[0])
        return draw_trace(target[0], drawing, after_recording)
    try:
        render.check(names)
    except render.RenderError as exc:
        click.echo("cotrace: error: %s" % exc, err=True)
        return 2
    if module is not None:
        tgt = Target(module=module, args=target)
    else:
        tgt = Target(script=target[0], args=target[1:])
    opts = RecordOptions(output_dir=output_dir, include=include, exclude=exclude, record_all=record_all,
                         max_events=max_events, repr_limit=repr_limit, quiet=True, redact=redact,
                         default_redact=not no_default_redact, no_values=no_values,
                         codec=codec or ("gzip" if compress else traceio.DEFAULT_CODEC),
                         backend=backend, core=core, hold_trace=True)
    # recorded by main(), outside click's call stack: the program should see
    # as few of cotrace's frames below its own as possible
    return _Plan(tgt, opts, drawing)


class _Drawing:
    def __init__(self, names: list, max_messages: int, fold, quiet: bool, hide_loop: bool = False,
                 check: bool = False) -> None:
        self.names, self.max_messages, self.fold, self.quiet = names, max_messages, fold, quiet
        self.hide_loop, self.check = hide_loop, check
        self.out_dir: str | None = None


class _Plan:
    def __init__(self, target: Target, opts: RecordOptions, drawing: _Drawing) -> None:
        self.target, self.opts, self.drawing = target, opts, drawing


def _record(plan: _Plan):
    err = sys.stderr  # the program may replace or close its own
    drawer = _Drawer(plan.drawing)  # readied before the program can disturb this interpreter
    found: list = []  # with --check: the trace, if it has anomalies

    def after(recording) -> None:
        # diagrams even when the program failed, exited or was interrupted;
        # the trace stays locked meanwhile (a run started now takes another name)
        line = summary(recording.trace_path, recording.footer)
        try:
            status = drawer.draw(recording.trace_path, line)
            if status is None and not plan.drawing.quiet:
                say(err, line + "\n")
            if status == 1 and plan.drawing.check:
                found.append(recording.trace_path)
            # each forked child's own trace, drawn the same way
            for name in recording.footer.get("child_traces", ()):
                child = os.path.join(os.path.dirname(recording.trace_path), name)
                tail = traceio.read_tail(child)
                line = summary(child, tail[1]) if tail is not None else "cotrace: forked child -> %s" % child
                if drawer.draw(child, line) is None and not plan.drawing.quiet:
                    say(err, line + "\n")
        finally:
            recording.release()
            # the program's profiler (and tracer) back for the interpreter's
            # shutdown: the first atexit callbacks to run (before the
            # program's own), once cotrace's frames have returned; C
            # functions, so that not even their own frames are seen
            profile, trace = recording.hooks
            if trace is not None:
                atexit.register(sys.settrace, trace)
            if profile is not None:
                atexit.register(sys.setprofile, profile)

    try:
        recording = record(plan.target, plan.opts, on_terminated=after)  # (after: also on SIGTERM)
    except TargetError as exc:
        click.echo(str(exc), err=True)
        return exc.exit_code
    except (backends.BackendError, cores.CoreError) as exc:
        click.echo("cotrace: error: %s" % exc, err=True)
        return 2
    except OSError as exc:
        click.echo("cotrace: cannot write the trace: %s" % exc, err=True)
        return 1
    if recording.footer:  # not in a forked child of the program
        after(recording)
    if recording.outcome.interrupted:
        return _INTERRUPTED
    if found and recording.outcome.exit_arg in (0, None):
        return 1   # --check: the program ran through, but made mistakes
    return recording.outcome.exit_arg


class _Drawer:
    """Draws a fresh trace in a new interpreter: the program just traced may
    have left this one in any state (modules cleared, builtins patched,
    signal handlers, threads).  Everything it needs is taken now, before the
    program runs; the child says the summary line with the diagrams."""

    def __init__(self, drawing: _Drawing) -> None:
        self.spawn, self.waitpid = os.posix_spawn, os.waitpid
        self.env = dict(os.environ)
        root = os.path.dirname(PACKAGE_DIR)
        self.env["PYTHONPATH"] = os.pathsep.join([root] + ([self.env["PYTHONPATH"]]
                                                          if self.env.get("PYTHONPATH") else []))
        self.env.pop("PYTHONSTARTUP", None)
        # -P: the program's directory (or one it moved to) must not shadow modules
        self.argv = [sys.executable, "-P", "-m", "tracer", "--max-messages", str(drawing.max_messages)]
        self.argv += ["--in-dir", os.getcwd()]  # the program may change directory
        self.argv += ["-f", ",".join(drawing.names)] if drawing.names else ["--no-diagrams"]
        if drawing.check:
            self.argv.append("--check")
        self.names, self.check = drawing.names, drawing.check
        if drawing.fold is not None:
            self.argv.append("--fold" if drawing.fold else "--no-fold")
        if drawing.quiet:
            self.argv.append("--quiet")
        if drawing.hide_loop:
            self.argv.append("--hide-loop")

    def draw(self, trace_path: str, line: str) -> int | None:
        """The child's exit status (it said the summary line itself, and
        with --check listed the anomalies: status 1 if any), or None if it
        did not run."""
        if not self.names and not self.check:
            return None
        argv = self.argv + ["--after-recording", line, "--", trace_path]
        try:
            pid = self.spawn(argv[0], argv, self.env)
            while True:
                try:
                    _, status = self.waitpid(pid, 0)
                    return os.waitstatus_to_exitcode(status)
                except InterruptedError:
                    continue
        except Exception:
            return None


def _render(trace_path: str, drawing: _Drawing) -> tuple:
    """Draw the trace: (outputs, one-line error or None, warnings)."""
    from .render.gv import GraphvizError
    try:
        render.check(drawing.names)
        result = render.render_trace(trace_path, drawing.names, out_dir=drawing.out_dir,
                                     max_messages=drawing.max_messages, fold=drawing.fold,
                                     hide_loop=drawing.hide_loop)
    except (traceio.TraceError, render.RenderError, GraphvizError) as exc:
        return [], str(exc), []
    except OSError as exc:
        return [], "cannot write the diagrams of %s: %s" % (trace_path, exc), []
    except Exception as exc:  # a bug in cotrace must not hide the trace
        return [], "internal error while drawing %s: %s: %s" % (trace_path, type(exc).__name__, exc), []
    return result.outputs, None, result.warnings


def draw_trace(path: str, drawing: _Drawing, after: str | None = None) -> int:
    """Draw an existing trace without running anything.  ``after``: the
    recording's summary line, to be said with the diagrams."""
    outputs, error, warnings = _render(path, drawing) if drawing.names else ([], None, [])
    for warning in warnings if after is None else ():
        click.echo("cotrace: warning: %s" % warning, err=True)
    if after is not None:
        if not drawing.quiet:
            click.echo(after + ("; diagrams: " + ", ".join(outputs) if outputs else ""), err=True)
        if error:
            click.echo("cotrace: error: cannot draw the trace: %s" % error, err=True)
        if drawing.check:  # (on stderr: stdout is the program's)
            return 1 if check_trace(path, err=True) else 0
        return 0
    if error:
        click.echo("cotrace: error: %s" % error, err=True)
        return 2
    if not drawing.quiet:
        click.echo("cotrace: diagrams -> %s" % ", ".join(outputs), err=True)
    if drawing.check:
        return check_trace(path)
    return 0


def check_trace(path: str, err: bool = False) -> int:
    """``--check``: the anomalies, one line each, on stdout (``err``: on
    stderr); 1 if any, 2 for a bad trace."""
    try:
        found = model.anomalies_of(path)
    except traceio.TraceError as exc:
        click.echo("cotrace: error: %s" % exc, err=True)
        return 2
    for a in found:
        click.echo(escape.visible(a.lint()), err=err)
    if found:
        click.echo("cotrace: %s in %s" % (anomalies.summary(found), escape.visible(path)), err=True)
        return 1
    click.echo("cotrace: no anomalies in %s" % escape.visible(path), err=True)
    return 0


def export_jsonl(path: str) -> int:
    """The trace as plain JSON Lines on stdout, byte for byte as recorded."""
    try:
        traceio.copy_lines(path, sys.stdout)
    except traceio.TraceError as exc:
        click.echo("cotrace: error: %s" % exc, err=True)
        return 2
    except BrokenPipeError:  # | head
        return 0
    return 0


def newest_trace(directory: str) -> str | None:
    try:
        names = [n for n in os.listdir(directory) if n.endswith(TRACE_SUFFIXES)]
    except OSError:
        return None
    paths = [os.path.join(directory, n) for n in names]
    return max(paths, key=lambda p: (os.path.getmtime(p), p)) if paths else None


def show_formats() -> int:
    for name, fmt in render.FORMATS.items():
        problem = fmt.problem()
        click.echo("%-9s .%-5s %s" % (name, fmt.ext, fmt.what))
        click.echo("%-16s needs: %s%s" % ("", fmt.needs, "" if problem is None else " -- NOT AVAILABLE here"))
    return 0


_INTERRUPTED = object()


def _die_of_sigint() -> None:
    """Exit the way Python does after an uncaught KeyboardInterrupt: killed
    by SIGINT (a shell shows status 130), so that callers see the same."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except (OSError, ValueError):
        pass
    sys.exit(130)


TRACE_SUFFIXES = render.TRACE_SUFFIXES


def show_trace(path: str) -> int:
    """List a recorded trace as it is read (memory stays flat in its length);
    a bad file gets one line naming file and line."""
    stream = None
    try:
        stream = traceio.TraceStream(path)
        chunk: list = []
        for line in textview.lines(stream.trace, stream.events()):
            chunk.append(line)
            if len(chunk) >= 4096:
                click.echo("\n".join(chunk))
                chunk = []
        if chunk:
            click.echo("\n".join(chunk))
    except traceio.TraceError as exc:
        click.echo("cotrace: error: %s" % exc, err=True)
        return 2
    finally:
        if stream is not None:
            stream.close()
    for warning in stream.trace.warnings:
        click.echo("cotrace: warning: %s" % warning, err=True)
    return 0


def main(argv=None) -> None:
    """Console entry point: exits with the target's status."""
    args = split_args(list(sys.argv[1:] if argv is None else argv))
    try:
        rv = cli.main(args=args, prog_name="cotrace", standalone_mode=False)
    except click.exceptions.Exit as exc:  # --help, --version
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    if isinstance(rv, _Plan):
        # registered before the program runs, so it runs after the
        # program's own atexit handlers, as the interpreter's exit does
        atexit.register(_exit_by_sigint_if_interrupted)
        rv = _record(rv)
    if rv is _INTERRUPTED:
        _STATE["interrupted"] = True
        sys.exit(130)
    sys.exit(rv)


_STATE = {"interrupted": False}


def _exit_by_sigint_if_interrupted() -> None:
    if _STATE["interrupted"]:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        _die_of_sigint()
