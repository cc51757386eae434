"""Run a target exactly as ``python SCRIPT ARGS`` / ``python -m MODULE ARGS``.

The target gets a fresh ``__main__`` module with the globals CPython gives
one, ``sys.argv`` and ``sys.path[0]`` as CPython sets them, and its
exceptions are reported through ``sys.excepthook`` with cotrace's own frames
removed.  The outcome is returned, not acted on, so that the caller can
finish the trace before exiting the way the target did.
"""
from __future__ import annotations

import builtins
import importlib.machinery
import os
import runpy
import sys
import threading
import types
from dataclasses import dataclass

from . import compat
from . import PACKAGE_DIR
from .record import core as cores


class TargetError(Exception):
    """The target cannot be started (missing file, unknown module, syntax).

    ``str()`` is what Python itself prints; ``exit_code`` what it exits with.
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Outcome:
    exit_code: int
    exit_arg: object = None            # what to pass to sys.exit() at the very end
    error: str | None = None           # "KeyError: 'x'" for an uncaught exception
    interrupted: bool = False
    profile: object = None             # the profile function the program left on (set aside: see run)


class Target:
    """A script path or module name plus its arguments."""

    def __init__(self, script: str | None = None, module: str | None = None, args=()) -> None:
        if (script is None) == (module is None):
            raise ValueError("give exactly one of script and module")
        self.script = script
        self.module = module
        self.args = list(args)

    @property
    def stem(self) -> str:
        if self.module is not None:
            return self.module
        assert self.script is not None
        if self.script == "-":
            return "stdin"
        base = os.path.basename(self.script.rstrip(os.sep))
        return os.path.splitext(base)[0] or base

    def prepare(self):
        """Compile the target and build its ``__main__`` (before tracing)."""
        main = types.ModuleType("__main__")
        g = main.__dict__
        g["__annotations__"] = {}
        g["__builtins__"] = builtins
        if self.script == "-":  # the program on stdin, like `python -`
            code = self._compile(sys.stdin.buffer.read(), "<stdin>")
            g.update(__file__="<stdin>", __cached__=None, __package__=None, __spec__=None,
                     __loader__=importlib.machinery.BuiltinImporter)
            argv0, path0 = "-", None if _SAFE_PATH else ""
        elif self.script is not None:
            # absolute but not normalised: python keeps "./x.py" as "<cwd>/./x.py"
            path = self.script if os.path.isabs(self.script) else os.path.join(os.getcwd(), self.script)
            argv0 = self.script
            if os.path.isdir(path) or (os.path.isfile(path) and _is_zipfile(path)):
                # a directory or zip file with __main__.py
                sys.path[0] = path0 = path
                spec, code = _module_details(runpy._get_main_module_details)  # type: ignore[attr-defined]
                _set_module_globals(g, spec)
            else:
                try:
                    with open(path, "rb") as fh:
                        source = fh.read()
                except OSError as exc:
                    raise TargetError("%s: can't open file %r: [Errno %s] %s"
                                      % (sys.executable, path, exc.errno, exc.strerror), 2) from None
                code = self._compile(source, path)
                g.update(__file__=path, __cached__=None, __package__=None, __spec__=None,
                         __loader__=importlib.machinery.SourceFileLoader("__main__", path))
                path0 = None if _SAFE_PATH else os.path.dirname(os.path.realpath(path))
        else:
            path0 = None if _SAFE_PATH else os.getcwd()
            if path0 is not None:
                sys.path[0] = path0  # so that the module and its package are found
            spec, code = _module_details(runpy._get_module_details, self.module)  # type: ignore[attr-defined]
            _set_module_globals(g, spec)
            argv0 = spec.origin
        g["__doc__"] = None
        g["__name__"] = "__main__"
        return main, code, argv0, path0

    @staticmethod
    def _compile(source: bytes, filename: str):
        try:
            return compile(source, filename, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            raise TargetError(_syntax_message(exc)) from None

    def run(self, prepared, before=None) -> Outcome:
        main, code, argv0, path0 = prepared
        sys.argv[:] = [argv0] + self.args
        if path0 is not None:  # (None: -P / PYTHONSAFEPATH, python prepends nothing)
            sys.path[0] = path0
        sys.modules["__main__"] = main
        # the program's first frame has cotrace's below it, python's own
        # (runpy's two for -m or a directory) or none: it gets as many more
        # levels of depth, so its recursion ends where it would untraced
        # (a script or stdin: none, as __spec__ says; -m, a directory or zip: runpy's)
        # (+ 2: _execute's frame, then the program's own first one)
        credit = _depth() + 2 - (1 if main.__dict__.get("__spec__") is None else 3)
        credited = cores.recursion_credit(credit)
        aside: list = [None]
        outcome = self._execute(main, code, before, aside)
        outcome.profile = aside[0]
        if credited:
            cores.recursion_credit(-credit)
        return outcome

    @staticmethod
    def _execute(main, code, before, aside: list) -> Outcome:
        try:
            if before is not None:
                before()
            try:
                exec(code, main.__dict__)
            finally:
                # a profiler the program left on would see cotrace's own
                # code finish the trace and draw: set aside the moment the
                # program's code ends, for the caller to put back for the
                # interpreter's shutdown (tracer.session's release)
                aside[0] = sys.getprofile()
                sys.setprofile(None)
            _join_threads()
        except SystemExit as exc:
            return _system_exit(exc)
        except KeyboardInterrupt as exc:
            _report(exc)
            try:
                _join_threads()  # the interpreter waits for them too
            except BaseException:
                pass
            return Outcome(130, 130, "KeyboardInterrupt", interrupted=True)
        except BaseException as exc:
            _report(exc)
            try:
                _join_threads()
            except BaseException:
                pass
            return Outcome(1, 1, _describe(exc))
        return Outcome(0, 0)


def _depth() -> int:
    """Frames on the stack, this function's caller's included."""
    frame: types.FrameType | None = sys._getframe(1)
    n = 0
    while frame is not None:
        n += 1
        frame = frame.f_back
    return n


def _module_details(finder, *args):
    """(spec, code) from one of runpy's finders (what ``python -m`` and
    ``python DIR`` use), with failures reported the way python reports them."""
    try:
        _name, spec, code = finder(*args, runpy._Error)  # type: ignore[attr-defined]
    except runpy._Error as exc:  # type: ignore[attr-defined]  # "No module named x"
        raise TargetError("%s: %s" % (sys.executable, exc)) from None
    except SyntaxError as exc:
        raise TargetError(_syntax_message(exc)) from None
    except BaseException as exc:  # a package __init__ failed while being imported
        raise TargetError(_traceback_text(exc)) from None
    return spec, code


def _set_module_globals(g: dict, spec) -> None:
    g.update(__file__=spec.origin, __cached__=spec.cached, __package__=spec.parent,
             __spec__=spec, __loader__=spec.loader)


def _join_threads() -> None:
    """Wait for non-daemon threads, as the interpreter does before exiting."""
    me = threading.current_thread()
    while True:
        others = [t for t in threading.enumerate() if t is not me and not t.daemon and t.is_alive()]
        if not others:
            return
        for t in others:
            t.join()


def _system_exit(exc: SystemExit) -> Outcome:
    code = exc.code
    if code is None:
        return Outcome(0, None)
    if isinstance(code, int):
        return Outcome(code & 0xFF if code >= 0 else code & 0xFF, code)
    return Outcome(1, code)  # sys.exit("message"): Python prints it and exits 1


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = "<unprintable>"
    if isinstance(exc, KeyError) and exc.args:
        try:
            text = repr(exc.args[0])
        except Exception:
            pass
    name = type(exc).__qualname__
    return "%s: %s" % (name, text) if text else name


def _strip(tb):
    """Drop cotrace's frames from a traceback: the runner's at the top, and
    the SIGINT wrapper's at the bottom when a Ctrl-C ended the program."""
    own = PACKAGE_DIR + os.sep
    kept = []
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(own):
            kept.append(tb)
        tb = tb.tb_next
    for a, b in zip(kept, kept[1:] + [None]):
        a.tb_next = b
    return kept[0] if kept else None


def _report(exc: BaseException) -> None:
    """Print an uncaught exception the way the interpreter does
    (PyErr_Print): set sys.last_*, call sys.excepthook, and if the hook
    itself fails, say so and print both."""
    tb = _strip(exc.__traceback__)
    exc.__traceback__ = tb
    sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, tb
    if compat.SETS_LAST_EXC:
        sys.last_exc = exc  # type: ignore[attr-defined]
    try:
        sys.excepthook(type(exc), exc, tb)
    except BaseException as hook_exc:
        hook_exc.__traceback__ = _strip(hook_exc.__traceback__)
        if hook_exc.__context__ is exc:  # we call the hook from an except block; python does not
            hook_exc.__context__ = None
        try:
            sys.stderr.write("Error in sys.excepthook:\n")
            sys.__excepthook__(type(hook_exc), hook_exc, hook_exc.__traceback__)
            sys.stderr.write("\nOriginal exception was:\n")
            sys.__excepthook__(type(exc), exc, tb)
        except BaseException:
            pass


def _traceback_text(exc: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(type(exc), exc, _strip(exc.__traceback__))).rstrip()


def _syntax_message(exc: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception_only(type(exc), exc)).rstrip()


# python -P / PYTHONSAFEPATH=1: nothing is prepended to sys.path for a script,
# -m or stdin (cotrace's own start prepended nothing either, so its
# sys.path[0] is not cotrace's to replace)
_SAFE_PATH = bool(getattr(sys.flags, "safe_path", False))


def _is_zipfile(path: str) -> bool:
    """True for a zip application: asked of zipimport, as python itself
    does (its path hook), which is imported at start-up anyway; the zipfile
    module would add a few ms to every recording."""
    import zipimport

    try:
        zipimport.zipimporter(path)
    except (zipimport.ZipImportError, OSError):
        return False
    return True

