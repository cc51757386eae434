"""Trace file format v1: the one seam between recording and everything else.

UTF-8 JSON Lines, one object per line::

    {"type": "header", "format": "cotrace", "version": 1, ...}
    {"type": "object", "id": 3, "kind": "generator", ...}      # before its first mention
    {"seq": 17, "t": 5512345, "ev": "resume", "obj": 3, ...}    # an event ("type" left out)
    {"type": "footer", "events": N, "dropped": 0, ...}          # missing if the process was killed

Version history (bump FORMAT_VERSION and keep reading older versions):

* 1 -- first public format (cotrace 0.1).
* 2 -- optional ``on`` on yield events (what an awaiting coroutine waits on);
  ``via`` may also be ``async for``, ``asend`` or ``anext``; events may
  leave out ``type`` and null fields, and a missing ``thread`` is the main
  thread (cotrace 0.2).
  Every version-1 file is a valid version-2 file.

The full description is in ``docs/trace-format.md``.
"""
from __future__ import annotations

import fcntl
import gzip
import io
import json
import zlib
import os
import typing
from dataclasses import dataclass, field

FORMAT_NAME = "cotrace"
FORMAT_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)

OBJECT_KINDS = ("generator", "coroutine", "async_generator", "function", "runtime", "event_loop")
EVENT_KINDS = ("start", "resume", "throw", "close", "yield", "return", "raise")
ENTRY_EVENTS = frozenset({"start", "resume", "throw", "close"})
EXIT_EVENTS = frozenset({"yield", "return", "raise"})
VIAS = ("send", "next", "for", "yield from", "await", "throw", "close", "gc", "other",
        "async for", "asend", "anext")  # the last three since version 2

def _dumps(obj) -> bytes:
    """Header, object and footer records (rare): ASCII JSON, so that any
    string, even with lone surrogates from a non-UTF-8 file name or argument,
    is written as valid UTF-8."""
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode("ascii")


_json_str = json.encoder.encode_basestring_ascii  # C-accelerated; safe for lone surrogates
_VIA_JSON: dict = {v: json.dumps(v) for v in VIAS}
_VIA_JSON[None] = "null"
MAIN_THREAD = "MainThread"   # an event without "thread" (version 2) ran in the main thread
_END = {False: "}", None: "}", True: ',"synthetic":true}'}


def _event_tail(key: tuple) -> str:
    """The JSON of an event record after its seq, t and value: the fields
    that repeat from one event of a location to the next."""
    ev, obj, by, via, line, thread, task, synthetic, on = key
    js = _json_str
    parts = [',"ev":"%s","obj":%d' % (ev, obj)]
    if by is not None:
        parts.append(',"by":%d' % by)
    if via is not None:
        parts.append(',"via":' + _VIA_JSON[via])
    if line is not None:
        parts.append(',"line":%d' % line)
    if thread is not None and thread != MAIN_THREAD:
        parts.append(',"thread":' + js(thread))
    if task is not None:
        parts.append(',"task":' + js(task))
    if on is not None:
        parts.append(',"on":' + js(on))
    parts.append(_END[synthetic])
    return "".join(parts)


class TraceWriter:
    """Streams records to disk in bounded batches.

    ``append`` is all the hot path does; ``flush`` turns a batch of tuples
    into JSON lines.  A process killed between flushes loses at most one
    batch, and the reader accepts the file without its footer.
    """

    def __init__(self, path: str, header: dict, encode_value, batch: int = 2048) -> None:
        self.path = path
        self._encode_value = encode_value
        self.batch = batch
        self.buf: list = []
        self.append = self.buf.append
        self.closed = False
        self._pid = os.getpid()
        self._tails: dict = {}   # (ev, obj, by, via, line, thread, task, synthetic, on) -> JSON
        # Locked before it is emptied: two recordings of the same program
        # at once must not write into one file (the second gets TraceBusy).
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise TraceBusy(path) from None
        os.ftruncate(fd, 0)
        self._raw = os.fdopen(fd, "wb", buffering=1 << 16)
        self._fh: typing.BinaryIO
        if path.endswith(".gz"):
            self._fh = typing.cast(typing.BinaryIO, gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=6))
        else:
            self._fh = self._raw
        self._fh.write(_dumps(dict(header, type="header")) + b"\n")
        self._fh.flush()

    def flush(self) -> None:
        if self.closed or not self.owned:
            return  # a forked child must not write into its parent's trace
        buf, self.buf = self.buf, []
        self.append = self.buf.append
        if not buf:
            return
        out: list[str] = []
        add = out.append
        enc = self._encode_value
        js = _json_str
        tails = self._tails
        if len(tails) > 50000:  # bounded: a program with endless distinct locations or tasks
            tails.clear()
        for rec in buf:
            if rec[0] == "e":
                # the hot record type, formatted directly: what changes from
                # event to event (seq, t, value) first, then the rest of the
                # record, the same for every event of one location, computed
                # once; "type", null fields and the main thread's name are
                # left out (version 2: a record without a type is an event)
                _, seq, t, ev, obj, by, via, value, raw, line, thread, task, synthetic, on = rec
                key = (ev, obj, by, via, line, thread, task, synthetic, on)
                tail = tails.get(key)
                if tail is None:
                    tail = tails[key] = _event_tail(key)
                if raw:  # a value stored as it is: None, bool, int, ... (repr'd here, off the hot path)
                    value = repr(value) if (value is None or type(value) is bool or type(value) is int
                                            and -1000000000000000 < value < 1000000000000000) else enc(value)
                elif value is None:  # no value travelled
                    add(f'{{"seq":{seq},"t":{t}{tail}')
                    continue
                add(f'{{"seq":{seq},"t":{t},"value":{js(value)}{tail}')
            else:
                _, oid, kind, name, qualname, file, line, label, thread = rec
                d = {"type": "object", "id": oid, "kind": kind, "name": name, "qualname": qualname,
                     "file": file, "line": line, "label": label}
                if thread is not None:
                    d["thread"] = thread
                add(_dumps(d).decode("ascii"))
        add("")
        self._fh.write("\n".join(out).encode("utf-8"))
        self._fh.flush()

    @property
    def owned(self) -> bool:
        """False in a forked child of the recording process."""
        return os.getpid() == self._pid

    def close(self, footer: dict) -> None:
        if self.closed or not self.owned:
            return
        try:
            self.flush()
            self._fh.write(_dumps(dict(footer, type="footer")) + b"\n")
            self._fh.close()
        finally:
            self.closed = True
            if self._fh is not self._raw:
                self._raw.close()


class TraceBusy(OSError):
    """Another recording is writing this trace file right now."""


class TraceError(Exception):
    """A trace file that cannot be read; the message is one sentence."""


@dataclass
class Trace:
    """A loaded trace: what every model and renderer works from."""

    path: str
    header: dict
    objects: dict = field(default_factory=dict)   # id -> object record
    events: list = field(default_factory=list)    # event records in seq order
    footer: dict | None = None
    warnings: list = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.footer is not None


def _open_text(path: str):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="strict")
    return open(path, "r", encoding="utf-8", errors="strict")


def load(path: str) -> Trace:
    """Read a whole v1 trace, plain or gzip-compressed, into memory.

    A missing footer or a truncated last line is accepted with a warning (the
    traced process was killed); anything else that is wrong raises
    :class:`TraceError` naming the file and line.  Big traces should be read
    with :class:`TraceStream` instead.
    """
    reader = TraceStream(path)
    trace = reader.trace
    trace.events = list(reader.events())
    return trace


class TraceStream:
    """A v1 trace read one record at a time: the header is read on opening,
    objects as they come, events are yielded by :meth:`events`, and the
    footer and warnings are set once the iteration ends.  Memory stays flat
    in the number of events; the same checks as :func:`load` apply."""

    def __init__(self, path: str) -> None:
        self.name = name = os.fspath(path)
        try:
            self._fh = _open_text(name)
        except OSError as exc:
            raise TraceError("%s: cannot open trace file (%s)" % (name, exc.strerror or exc)) from None
        self._lineno = 0
        self._lines = _lines(self._fh)
        self._following: str | None = None
        first = self._next_record(allow_truncated=False)
        if first is None:
            self._fh.close()
            raise TraceError("%s:1: empty file, not a cotrace trace" % name)
        self.trace = _header(first, name, self._lineno)

    def _read(self):
        try:
            return next(self._lines, None)
        except UnicodeDecodeError:
            raise TraceError("%s:%d: not UTF-8 text" % (self.name, self._lineno + 1)) from None
        except (OSError, gzip.BadGzipFile, zlib.error) as exc:
            raise TraceError("%s:%d: cannot read trace file (%s)" % (self.name, self._lineno + 1, exc)) from None

    def _next_record(self, allow_truncated: bool = True):
        """The next JSON object, or None at the end of the file."""
        name = self.name
        while True:
            line = self._following if self._lineno else self._read()
            if line is None:
                return None
            self._lineno += 1
            lineno = self._lineno
            self._following = self._read()
            if lineno == 1 and line.startswith("\ufeff"):
                line = line[1:]  # a byte-order mark some editors add
            if not line.strip():
                if self._following is None:
                    return None
                continue
            try:
                rec, end = _raw_decode(line)  # the lines cotrace writes start with "{"
                if end != len(line) and line[end:].strip():
                    raise ValueError("extra data")
            except RecursionError:
                raise TraceError("%s:%d: JSON nested too deeply" % (name, lineno)) from None
            except ValueError:
                if allow_truncated and self._following is None and not line.endswith("\n"):
                    # the last line was cut short by a killed writer
                    self.trace.warnings.append("%s:%d: truncated last line ignored" % (name, lineno))
                    return None
                raise TraceError("%s:%d: not a JSON line" % (name, lineno)) from None
            if not isinstance(rec, dict):
                raise TraceError("%s:%d: expected a JSON object" % (name, lineno))
            return rec

    def events(self) -> typing.Iterator[dict]:
        """Yield the event records in order; objects are added to
        ``self.trace.objects`` before the first event that mentions them."""
        trace, name = self.trace, self.name
        count = 0
        try:
            while True:
                rec = self._next_record()
                if rec is None:
                    break
                if trace.footer is not None:
                    raise TraceError("%s:%d: data after the footer" % (name, self._lineno))
                if _record(trace, rec, name, self._lineno):
                    count += 1
                    yield rec
        finally:
            self._fh.close()
        if trace.footer is not None and trace.footer["events"] is None:
            trace.footer["events"] = count
        if trace.footer is None:
            trace.warnings.append("%s: no footer; the traced process did not finish cleanly" % name)


def _raw_decode(line: str):
    if line[:1] != "{":
        return json.loads(line), len(line)
    return _DECODER.raw_decode(line)


_DECODER = json.JSONDecoder()


def _lines(fh):
    while True:
        try:
            line = fh.readline()
        except EOFError:  # a gzip stream cut short: what was read stands
            return
        if not line:
            return
        yield line


def _header(rec: dict, name: str, lineno: int) -> Trace:
    if rec.get("type") != "header" or rec.get("format") != FORMAT_NAME:
        raise TraceError("%s:%d: not a cotrace trace (no cotrace header)" % (name, lineno))
    version = rec.get("version")
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        raise TraceError("%s:%d: trace format version %r is not supported (this cotrace reads %s)"
                         % (name, lineno, version, ", ".join(map(str, SUPPORTED_VERSIONS))))
    _check(rec, _HEADER_FIELDS, "header", name, lineno)
    if rec.get("argv") is None:
        rec["argv"] = []
    argv = rec["argv"]
    if not all(isinstance(a, str) for a in argv):
        raise TraceError("%s:%d: header field 'argv' must be a list of strings" % (name, lineno))
    return Trace(path=name, header=rec)


# Field -> accepted JSON types (None: null allowed).  bool is not an int here.
_STR, _INT, _NULL, _LIST, _BOOL = (str,), (int,), (type(None),), (list,), (bool,)
_HEADER_FIELDS = {"python": _STR + _NULL, "backend": _STR + _NULL, "argv": _LIST + _NULL,
                  "started": _STR + _NULL, "target": _STR + _NULL, "cotrace": _STR + _NULL}
_OBJECT_FIELDS = {"id": _INT, "kind": _STR, "name": _STR + _NULL, "qualname": _STR + _NULL,
                  "file": _STR + _NULL, "line": _INT + _NULL, "label": _STR + _NULL, "thread": _STR + _NULL}
_EVENT_FIELDS = {"seq": _INT, "ev": _STR, "obj": _INT, "by": _INT + _NULL, "via": _STR + _NULL,
                 "value": _STR + _NULL, "line": _INT + _NULL, "t": _INT + _NULL, "thread": _STR + _NULL,
                 "task": _STR + _NULL, "synthetic": _BOOL + _NULL, "on": _STR + _NULL}
_FOOTER_FIELDS = {"events": _INT, "dropped": _INT, "lost": _INT, "objects": _INT, "suspended": _LIST,
                  "running": _LIST, "exit": _INT + _NULL, "error": _STR + _NULL, "recorder_error": _STR + _NULL,
                  "limit_reached": _BOOL}
_EVENT_OPTIONAL = ("by", "value", "via", "thread", "task", "line", "t", "synthetic", "on")
_EVENT_SHAPES: dict = {}   # (keys, value types) -> the optional fields it lacks
_EVENT_KIND_SET = frozenset(EVENT_KINDS)
_VIA_SET = frozenset(VIAS)
_REQUIRED = {"object": ("id", "kind"), "event": ("seq", "ev", "obj"), "footer": (), "header": ()}


def _check(rec: dict, fields: dict, what: str, name: str, lineno: int) -> None:
    for key in _REQUIRED[what]:
        if key not in rec:
            raise TraceError("%s:%d: %s without %r" % (name, lineno, what, key))
    for key, types in fields.items():
        if key in rec and type(rec[key]) not in types:
            raise TraceError("%s:%d: %s field %r has the wrong type (%s)"
                             % (name, lineno, what, key, type(rec[key]).__name__))


def _record(trace: Trace, rec: dict, name: str, lineno: int) -> bool:
    """Check one record after the header; True if it is an event."""
    kind = rec.get("type")
    if kind is None and "ev" in rec:
        kind = "event"  # version 2 writes events without their type
    if kind == "event":
        # the checks for a shape of fields and types seen before are done:
        # a trace has a handful of shapes, and millions of events
        shape = (tuple(rec), tuple(map(type, rec.values())))
        missing = _EVENT_SHAPES.get(shape)
        if missing is None:
            _check(rec, _EVENT_FIELDS, "event", name, lineno)
            missing = _EVENT_SHAPES[shape] = tuple(key for key in _EVENT_OPTIONAL if key not in rec)
        if rec["ev"] not in _EVENT_KIND_SET:
            raise TraceError("%s:%d: unknown event kind %r" % (name, lineno, rec["ev"]))
        via = rec.get("via")
        if via is not None and via not in _VIA_SET:
            raise TraceError("%s:%d: unknown via %r" % (name, lineno, via))
        objects = trace.objects
        if rec["obj"] not in objects:
            raise TraceError("%s:%d: event refers to object %d before its definition" % (name, lineno, rec["obj"]))
        by = rec.get("by")
        if by is not None and by not in objects:
            raise TraceError("%s:%d: event refers to actor %r before its definition" % (name, lineno, by))
        for key in missing:
            rec[key] = None
        if rec["thread"] is None and "thread" in missing and trace.header["version"] >= 2:
            rec["thread"] = MAIN_THREAD  # version 2 leaves the main thread's name out
        return True
    elif kind == "object":
        _check(rec, _OBJECT_FIELDS, "object", name, lineno)
        if rec["kind"] not in OBJECT_KINDS:
            raise TraceError("%s:%d: object with unknown kind %r" % (name, lineno, rec["kind"]))
        if rec["id"] in trace.objects:
            raise TraceError("%s:%d: object %d is defined twice" % (name, lineno, rec["id"]))
        trace.objects[rec["id"]] = rec
    elif kind == "footer":
        _check(rec, _FOOTER_FIELDS, "footer", name, lineno)
        for key in ("suspended", "running"):
            if key in rec and not all(type(i) is int for i in rec[key]):
                raise TraceError("%s:%d: footer field %r must be a list of object ids" % (name, lineno, key))
        rec.setdefault("events", None)
        rec.setdefault("dropped", 0)
        rec.setdefault("suspended", [])
        trace.footer = rec
    elif kind == "header":
        raise TraceError("%s:%d: a second header" % (name, lineno))
    else:
        raise TraceError("%s:%d: unknown record type %r" % (name, lineno, kind))
    return False
