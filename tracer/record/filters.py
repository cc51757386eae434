"""Which source files' generators are recorded."""
from __future__ import annotations

import fnmatch
import os
import site
import sysconfig

from .. import PACKAGE_DIR
from ..isolation import isolated


# private copies: the program may patch these modules (see tracer.isolation)
os = isolated(os)

def _library_dirs() -> tuple[str, ...]:
    dirs = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            dirs.add(os.path.realpath(path))
    try:
        dirs.update(os.path.realpath(p) for p in site.getsitepackages())
    except AttributeError:  # virtualenv's old site module
        pass
    user = getattr(site, "getusersitepackages", lambda: None)()
    if user:
        dirs.add(os.path.realpath(user))
    # a venv's site-packages lives outside the stdlib; make sure both count
    return tuple(sorted(d.rstrip(os.sep) + os.sep for d in dirs))


class Filters:
    """Decides per source file; the recorder caches the answer per code object.

    Precedence: cotrace's own files are never recorded; then ``--exclude``;
    then, if any ``--include`` is given, only matching files are recorded;
    otherwise the default records everything outside the standard library
    and site-packages (``--all`` records those too).
    """

    def __init__(self, include=(), exclude=(), record_all: bool = False) -> None:
        self.include = tuple(include)
        self.exclude = tuple(exclude)
        self.record_all = record_all
        self._libs = _library_dirs()
        self._own = PACKAGE_DIR + os.sep
        self._stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
        self.matched: set = set()   # --include patterns that matched a file

    def is_library(self, path: str) -> bool:
        if path.startswith("<frozen"):
            return True
        return path.startswith(self._libs)

    def _path(self, filename: str) -> str:
        if filename.startswith("<frozen "):
            # 3.11+ freezes os, posixpath, ... ; match them as their source file
            name = filename[len("<frozen "):-1]
            return os.path.join(self._stdlib, *name.split(".")) + ".py"
        if filename.startswith("<"):
            return filename
        return os.path.realpath(filename)

    @staticmethod
    def _matches(path: str, filename: str, pat: str) -> bool:
        """A pattern matches the whole path, the file name as the code
        object has it, or a tail of the path from a directory on, component
        by component (``bug.py``: a file of that name anywhere; ``app/*.py``:
        a .py file right in a directory named app; a last component ``*``
        or ``**``, as in ``networkx/*``: anything below such a directory)."""
        if fnmatch.fnmatch(path, pat) or fnmatch.fnmatch(filename, pat):
            return True
        if pat.startswith(("/", "*")):
            return False
        want = pat.split("/")
        parts = path.split(os.sep)
        below = want[-1] in ("*", "**")
        n = len(want)
        for start in range(len(parts) - n + 1):
            tail = parts[start:]
            if (len(tail) == n or below) and all(fnmatch.fnmatch(p, w)
                                                 for p, w in zip(tail[:n - 1] if below else tail, want)):
                return True
        return False

    def wants(self, filename: str) -> bool:
        return self.reason(filename) is None

    def reason(self, filename: str) -> str | None:
        """Why frames of ``filename`` are not recorded: ``"own"`` (cotrace's
        code), ``"excluded"``, ``"not included"``, ``"library"``; None when
        they are.  (Once per code object: the recorder caches it.)"""
        path = self._path(filename)
        if path.startswith(self._own):
            return "own"
        if any(self._matches(path, filename, pat) for pat in self.exclude):
            return "excluded"
        if self.include:
            for pat in self.include:
                if self._matches(path, filename, pat):
                    self.matched.add(pat)
                    return None
            return "not included"
        return None if self.record_all or not self.is_library(path) else "library"

    def unmatched(self) -> list:
        """The --include patterns that matched no file whose generators ran."""
        return [pat for pat in self.include if pat not in self.matched]
