"""Trace file format v4: the one seam between recording and everything else.

UTF-8 JSON Lines, one object per line::

    {"type": "header", "format": "cotrace", "version": 1, ...}
    {"type": "object", "id": 3, "kind": "generator", ...}      # before its first mention
    {"seq": 17, "t": 5512345, "ev": "resume", "obj": 3, ...}    # an event ("type" left out)
    {"type": "anomaly", "kind": "never-awaited", "obj": 3, ...} # outside any event (version 4)
    {"type": "aggregates", "version": 1, ...}                    # what the graphs need (version 3)
    {"type": "footer", "events": N, "dropped": 0, ...}          # missing if the process was killed

Version history (bump FORMAT_VERSION and keep reading older versions):

* 1 -- first public format (cotrace 0.1).
* 2 -- optional ``on`` on yield events (what an awaiting coroutine waits on);
  ``via`` may also be ``async for``, ``asend`` or ``anext``; events may
  leave out ``type`` and null fields, and a missing ``thread`` is the main
  thread (cotrace 0.2).
  Every version-1 file is a valid version-2 file.
* 3 -- an ``aggregates`` record before the footer (optional: what the state
  and flow graphs need, so that drawing does not read every event); the
  footer's optional ``limit_reached``; the zstd codec (cotrace 0.3).
  Every version-2 file is a valid version-3 file.
* 4 -- ``anomaly`` records: what happened to an object outside any event
  (a coroutine never awaited); the aggregates' ``anomalies``, the footer's
  ``anomalies`` counts (cotrace 0.3).  Every version-3 file is a valid
  version-4 file.

The full description is in ``docs/trace-format.md``.
"""
from __future__ import annotations

import errno
import fcntl
import gzip
import struct
import io
import json
import zlib
import os
import stat
import typing
from dataclasses import dataclass, field

from . import compat
from .aggregates import KEEP, Aggregator
from .isolation import isolated

# private copies: the program may patch these modules (see tracer.isolation)
os = isolated(os)
json = isolated(json)

_zstd: typing.Any
_orjson: typing.Any
try:  # the default codec (a dependency; a build without it writes plain JSON Lines)
    import zstandard as _zstd
    _ZstdError: typing.Any = _zstd.ZstdError
except ImportError:  # pragma: no cover
    _zstd = None
    _ZstdError = OSError
_orjson = None   # a fast decoder, imported when a trace is first read (recording does not need it)
_orjson_tried = False


def _fast_decoder() -> None:
    """Import orjson (a dependency; the stdlib's decoder is the fallback)."""
    global _orjson, _orjson_tried
    if not _orjson_tried:
        _orjson_tried = True
        try:
            import orjson
            _orjson = orjson
        except ImportError:  # pragma: no cover
            pass

FORMAT_NAME = "cotrace"
FORMAT_VERSION = 4
SUPPORTED_VERSIONS = (1, 2, 3, 4)

OBJECT_KINDS = ("generator", "coroutine", "async_generator", "function", "runtime", "event_loop")
EVENT_KINDS = ("start", "resume", "throw", "close", "yield", "return", "raise")
ENTRY_EVENTS = frozenset({"start", "resume", "throw", "close"})
EXIT_EVENTS = frozenset({"yield", "return", "raise"})
VIAS = ("send", "next", "for", "yield from", "await", "throw", "close", "gc", "other",
        "async for", "asend", "anext")  # the last three since version 2

# How a trace file is stored, by codec: the file name says it, the reader
# also recognises it by its first bytes.
#
# zstd (the default): every batch is one Zstandard frame, written whole and
# flushed, so a killed writer leaves every batch but the last decodable, and
# ``zstdcat`` (or ``cotrace --jsonl``) turns the file back into JSON Lines.
# Chosen over gzip for speed and size on cotrace's repetitive lines: 10 B and
# 0.22 us per event on the pipeline workload at level 1, against 15 B and
# 0.70 us for zlib level 1 (lz4: 22 B, 0.15 us).
SUFFIXES = {"zstd": ".trace.jsonl.zst", "gzip": ".trace.jsonl.gz", "none": ".trace.jsonl"}
CODECS = tuple(SUFFIXES)
DEFAULT_CODEC = "zstd" if _zstd is not None else "none"
TRACE_SUFFIXES = tuple(SUFFIXES.values())
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP_MAGIC = b"\x1f\x8b"
BIG_TRACE = 1 << 30   # bytes on disk past which the writer warns once
SMALL_INT = 10 ** 15  # ints stored raw within this bound are written with repr() (see record.saferepr)
NO_VALUE = "\u2026"   # --no-values: every value that travelled is written as this

# The records the recorder's sink hands the writer, as tuples in this order
# (the first element is the record type, "e" or "o").
EVENT_FIELDS = ("seq", "t", "ev", "obj", "by", "via", "value", "raw", "line", "thread", "task", "synthetic", "on")
OBJECT_FIELDS = ("id", "kind", "name", "qualname", "file", "line", "label", "thread")
ANOMALY_FIELDS = ("kind", "obj", "seq", "t", "file", "line", "thread")   # record type "a"
ANOMALY_KINDS = ("never-awaited", "never-retrieved")


def codec_of(path: str) -> str:
    """The codec a trace path's name asks for."""
    for codec, suffix in SUFFIXES.items():
        if suffix != ".trace.jsonl" and path.endswith(suffix):
            return codec
    return "none"


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


def _c_module():
    from .record import core as cores
    cores.resolve("c")
    return cores.module()


def _open_trace_for_writing(path: str) -> int:
    """A descriptor for writing the trace at ``path``, never through a
    symbolic link: a link there is removed (not its target), and one planted
    after that makes the open fail (O_NOFOLLOW); anything but a regular file
    there is refused (a FIFO would block the program).  An existing regular
    file is reused, so that its lock can tell a recording still writing it."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISLNK(st.st_mode):
        os.unlink(path)
    elif st is not None and not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EEXIST, "exists and is not a regular file", path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o666)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EEXIST, "exists and is not a regular file", path)
    return fd


class TraceWriter:
    """Streams records to disk in bounded batches.

    ``append`` is all the hot path does; ``flush`` turns a batch of tuples
    into JSON lines.  A process killed between flushes loses at most one
    batch, and the reader accepts the file without its footer.
    """

    def __init__(self, path: str, header: dict, encode_value, batch: int = 2048, on_big=None,
                 core: str = "python", on_error=None) -> None:
        self.path = path
        # values leave out: --no-values (the Python loop, which can drop them)
        self._no_values = getattr(encode_value, "no_values", False)
        # ints stored raw and written without encode_value within this bound
        # (0 when a --redact pattern must see every number)
        self._small = getattr(encode_value, "small_int", SMALL_INT)
        # core "c": flush's loop and the aggregator's in C (tracer.record._ccore)
        self._fast = _c_module() if core == "c" and not self._no_values else None
        self.bytes = 0           # written to disk so far (compressed)
        self._on_big = on_big    # called once with the size when it passes BIG_TRACE
        self._encode_value = encode_value
        self.batch = batch
        self.buf: list = []
        self.append = self.buf.append
        self.closed = False
        self._pid = os.getpid()
        self._tails: dict = {}   # (ev, obj, by, via, line, thread, task, synthetic, on) -> (JSON, aggregator slot)
        self.aggregator = Aggregator()  # what the state and flow graphs need, written before the footer
        # Locked before it is emptied: two recordings of the same program
        # at once must not write into one file (the second gets TraceBusy).
        fd = _open_trace_for_writing(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise TraceBusy(path) from None
        os.ftruncate(fd, 0)
        self._fd = fd
        self.lock_fd: int | None = None
        self._flushing = False
        # A write that fails (disk full, quota, file size limit) is cut back
        # to the last whole batch, and nothing more is written but the
        # footer: the file stays a readable prefix of the run, which a
        # reader can trust (events missing in the middle would draw a
        # conversation that did not happen).
        self.events_written = 0
        self.error: str | None = None      # why a write failed (the first time)
        self.unwritten = 0                 # events given to the writer that are not in the file
        self.defined_upto: int | None = None   # after a failure: the highest object id with a record in the file
        self._on_error = on_error          # called once, with the error text, when a write first fails
        codec = self._codec = codec_of(path)
        if codec == "zstd" and _zstd is None:
            os.close(fd)
            raise OSError("cannot write %s: the zstandard module is not installed" % path)
        # every batch is encoded on its own and appended whole: a zstd frame,
        # a gzip member (a file of concatenated members is one gzip stream)
        self._encode: typing.Any
        if codec == "gzip":
            self._encode = lambda data: gzip.compress(data, compresslevel=6, mtime=0)
        elif codec == "zstd":
            self._encode = _zstd.ZstdCompressor(level=1).compress
        else:
            self._encode = None
        if not self._write(_dumps(dict(header, type="header")) + b"\n"):
            os.close(fd)
            raise OSError("cannot write %s: %s" % (path, self.error))

    def _write(self, data: bytes, raw: bool = False) -> bool:
        """Append one batch (encoded by the codec unless ``raw``), whole or
        not at all; False if it could not be written (see ``error``)."""
        chunk = data if raw or self._encode is None else self._encode(data)
        view = memoryview(chunk)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            self._failed(exc)
            return False
        before = self.bytes
        self.bytes += len(chunk)
        if self.bytes >= BIG_TRACE > before and self._on_big is not None:
            self._on_big(self.bytes)
        return True

    def _failed(self, exc: OSError) -> None:
        """A write failed: cut what it left back to the last whole batch."""
        try:
            os.ftruncate(self._fd, self.bytes)
            os.lseek(self._fd, self.bytes, os.SEEK_SET)
        except OSError:
            pass
        if self.error is None:
            self.error = exc.strerror or str(exc)
            if self._on_error is not None:
                self._on_error(self.error)

    def flush(self) -> None:
        if self.closed or not self.owned:
            return  # a forked child must not write into its parent's trace
        if self._flushing:
            # an event recorded while this batch is being written (a gc
            # callback during formatting) waits for the next flush: written
            # now, it would land in the file before the batch it follows
            return
        self._flushing = True
        try:
            self._flush()
        finally:
            self._flushing = False

    def _flush(self) -> None:
        buf, self.buf = self.buf, []
        self.append = self.buf.append
        if not buf:
            return
        if self.error is not None:
            self._lose(buf)
            return
        if self._fast is not None:
            # the same loop in C (tracer.record._ccore.format_batch)
            # (and the gaps between its events into the switch accounting)
            data, found = self._fast.format_batch(buf, self._tails, self._tail_for, self._object_line,
                                                  self._encode_value, _json_str, self._small,
                                                  self.aggregator.switches)
            if not self._write(data):
                self._lose(buf)
                return
            self.events_written += len(found)
            self._fast.aggregate(self.aggregator, found, KEEP)
            return
        out: list[str] = []
        add = out.append
        enc = self._encode_value
        js = _json_str
        tails = self._tails
        small = self._small
        no_values = self._no_values
        facts: list = []           # the events as the aggregator takes them
        fact = facts.append
        for rec in buf:
            if rec[0] == "e":
                # the hot record type, formatted directly: what changes from
                # event to event (seq, t, value) first, then the rest of the
                # record, the same for every event of one location, computed
                # once; "type", null fields and the main thread's name are
                # left out (version 2: a record without a type is an event)
                _, seq, t, ev, obj, by, via, value, raw, line, thread, task, synthetic, on = rec
                key = (ev, obj, by, via, line, thread, task, synthetic, on)
                cached = tails.get(key)
                if cached is None:
                    cached = self._tail_for(key, seq)
                tail, slot = cached
                if no_values and (raw or value is not None):
                    value, raw = NO_VALUE, False   # a value travelled here, not shown
                if raw:  # a value stored as it is: None, bool, int, ... (repr'd here, off the hot path)
                    value = repr(value) if (value is None or type(value) is bool or type(value) is int
                                            and -small < value < small) else enc(value)
                elif value is None:  # no value travelled
                    add(f'{{"seq":{seq},"t":{t}{tail}')
                    fact((seq, slot, obj, None))
                    continue
                add(f'{{"seq":{seq},"t":{t},"value":{js(value)}{tail}')
                fact((seq, slot, obj, value))
            else:
                add(self._object_line(rec))
        add("")
        self.aggregator.switches.batch(buf)   # (before the write, as the C loop counts them)
        if not self._write("\n".join(out).encode("utf-8")):
            self._lose(buf)
            return
        self.events_written += len(facts)
        self.aggregator.events(facts)

    def _lose(self, buf: list) -> None:
        """A batch that is not in the file: count its events, and note the
        first object it would have defined (ids only grow)."""
        self.unwritten += sum(1 for rec in buf if rec[0] == "e")
        if self.defined_upto is None:
            first = next((rec[1] for rec in buf if rec[0] == "o"), None)
            if first is not None:
                self.defined_upto = first - 1

    def _tail_for(self, key: tuple, seq: int) -> tuple:
        """(JSON tail, aggregator slot) of an event location, made once."""
        tails = self._tails
        if len(tails) > 50000:  # bounded: a program with endless distinct locations or tasks
            tails.clear()
        ev, obj, by, via, line, thread, task, synthetic, on = key
        hit = tails[key] = (_event_tail(key), self.aggregator.slot((ev, obj, by, via, line, thread, task, on), seq))
        return hit

    def _object_line(self, rec: tuple) -> str:
        """An object record's line (also an anomaly record's: the C loop's
        one callback for every record that is not an event)."""
        if rec[0] == "a":
            return self._anomaly_line(rec)
        _, oid, kind, name, qualname, file, line, label, thread = rec
        d = {"type": "object", "id": oid, "kind": kind, "name": name, "qualname": qualname,
             "file": file, "line": line, "label": label}
        if thread is not None:
            d["thread"] = thread
        self.aggregator.object(d)
        return _dumps(d).decode("ascii")

    def _anomaly_line(self, rec: tuple) -> str:
        _, kind, oid, seq, t, file, line, thread = rec
        d = {"type": "anomaly", "kind": kind, "obj": oid, "seq": seq, "t": t, "file": file, "line": line}
        if thread is not None:
            d["thread"] = thread
        self.aggregator.note(d)
        return _dumps(d).decode("ascii")

    @property
    def owned(self) -> bool:
        """False in a forked child of the recording process."""
        return os.getpid() == self._pid

    def release(self) -> None:
        """Unlock a file closed with ``keep_lock``."""
        fd, self.lock_fd = self.lock_fd, None
        if fd is not None:
            os.close(fd)

    def close(self, footer: dict, keep_lock: bool = False) -> bool:
        """Write the aggregates and the footer, and close the file; False if
        the footer could not be written (the file then ends after its last
        whole batch, and the reader says it has no footer).

        ``footer["events"]`` is set to the number of events in the file.
        After a failed write the aggregates are left out (they would count
        what is not there: a reader makes a pass over the events instead)
        and ``footer["recorder_error"]`` says what happened.
        ``keep_lock``: the file stays locked (a descriptor kept in
        ``lock_fd``) until :meth:`release`, so that a run started meanwhile,
        while this one's diagrams are drawn from the file, takes another
        name instead of truncating it."""
        if self.closed or not self.owned:
            return False
        if keep_lock and self.lock_fd is None:
            self.lock_fd = os.dup(self._fd)  # the lock belongs to the open file, shared by the dup
        try:
            self.flush()
            at = self.bytes
            if self.error is None:
                agg = self.aggregator.result()
                self._write(_dumps(agg) + b"\n")
                counts: dict = {}
                for row in agg["anomalies"]:
                    counts[row[0]] = counts.get(row[0], 0) + row[3]
                if counts:
                    footer["anomalies"] = counts
                changes = sum(n for _, n in agg["switches"]["thread_change"])
                if changes:
                    footer["thread_switches"] = changes
            footer["events"] = self.events_written
            if self.error is not None:
                footer.setdefault("recorder_error", self.failure())
            # the footer is tried even after a failure: space may be back
            written = self._write(_dumps(dict(footer, type="footer")) + b"\n")
            if written and self.error is None and self._codec == "zstd":
                # where the aggregates begin, in a frame zstd itself skips:
                # a reader finds them without decompressing the events
                self._write(_INDEX.pack(_INDEX_MAGIC, _INDEX.size - 8, _INDEX_TAG, at), raw=True)
            return written
        finally:
            self.closed = True
            os.close(self._fd)

    def failure(self) -> str:
        """The footer's words for a failed write."""
        lost = " (%d events not written)" % self.unwritten if self.unwritten else ""
        return "cannot write the trace (%s): recording stopped after event %d%s" % (
            self.error, self.events_written, lost)


# The zstd trace's last frame: a skippable frame (RFC 8878, 3.1.2) holding
# the offset of the frame with the aggregates record.
_INDEX = struct.Struct("<II4sQ")
_INDEX_MAGIC = 0x184D2A5C
_INDEX_TAG = b"CTAG"


def read_tail(path: str) -> tuple[dict, dict] | None:
    """The aggregates and footer records of a finished trace, read from its
    end without going through the events; None when the trace has none or
    they cannot be reached that way (gzip, a killed writer, an older
    cotrace).  A reader that gets None makes a pass over the events."""
    _fast_decoder()
    try:
        _check_regular(path)
        with open(path, "rb") as fh:
            magic = fh.read(4)
            end = fh.seek(0, os.SEEK_END)
            if magic == _ZSTD_MAGIC:
                if _zstd is None or end < _INDEX.size:
                    return None
                fh.seek(end - _INDEX.size)
                tag_magic, size, tag, at = _INDEX.unpack(fh.read(_INDEX.size))
                if (tag_magic, size, tag) != (_INDEX_MAGIC, _INDEX.size - 8, _INDEX_TAG) or not 0 < at < end:
                    return None
                fh.seek(at)
                data = fh.read(end - _INDEX.size - at)
                text = _zstd.ZstdDecompressor().stream_reader(data, read_across_frames=True).read()
            elif magic[:2] == _GZIP_MAGIC:
                return None
            else:
                text = _last_lines(fh, end, 2)
        lines = text.decode("utf-8").rstrip("\n").split("\n")
        if len(lines) != 2:
            return None
        agg, footer = (_raw_decode(line)[0] for line in lines)
    except (OSError, ValueError, RecursionError, _ZstdError):
        return None
    if not (isinstance(agg, dict) and agg.get("type") == "aggregates" and isinstance(footer, dict)
            and footer.get("type") == "footer"):
        return None
    return agg, footer


def _last_lines(fh, end: int, n: int) -> bytes:
    """The last ``n`` lines of a plain file (read backwards in blocks)."""
    pos, data = end, b""
    while pos > 0 and data.count(b"\n") <= n:
        step = min(pos, 1 << 16)
        pos -= step
        fh.seek(pos)
        data = fh.read(step) + data
    return b"\n".join(data.rstrip(b"\n").split(b"\n")[-n:]) + b"\n"


class _ZstdLines:
    """Text lines of a file of concatenated Zstandard frames.  A frame cut
    short by a killed writer gives what it holds (its last line is then
    truncated, which the reader reports).  Decompressed output comes in
    bounded pieces, so a small file that expands without end (a zstd bomb)
    costs bounded memory and ends in the line-length error."""

    def __init__(self, path: str) -> None:
        self._fh = open(path, "rb")
        self._reader = _zstd.ZstdDecompressor().stream_reader(self._fh, read_across_frames=True)
        self._buf = b""
        self._lines: list = []
        self._eof = False

    def _fill(self) -> bool:
        while not self._eof:
            try:
                chunk = self._reader.read(1 << 20)
            except _zstd.ZstdError as exc:
                raise OSError("not a valid zstd stream (%s)" % exc) from None
            if not chunk:
                self._eof = True
                break
            data = self._buf + chunk
            if len(data) > MAX_LINE and b"\n" not in data:
                raise _too_long()
            cut = data.rfind(b"\n") + 1
            if cut:
                # split at "\n" only (a JSON string may hold a raw U+2028),
                # each line decoded when it is read: a UTF-8 error names its line
                lines = data[:cut].split(b"\n")
                lines.pop()
                self._lines = [line + b"\n" for line in reversed(lines)]
                self._buf = data[cut:]
                return True
            self._buf = data
        if self._buf:
            tail, self._buf = self._buf, b""
            self._lines = [tail]
            return True
        return False

    def readline(self, limit: int = -1) -> bytes:
        """The next whole line (``limit``: _lines checks the length itself;
        _fill already refuses a line it cannot end within MAX_LINE)."""
        if not self._lines and not self._fill():
            return b""
        return self._lines.pop()

    def close(self) -> None:
        self._fh.close()


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
    aggregates: dict | None = None                # version 3: what the graphs need (tracer.aggregates)
    notes: list = field(default_factory=list)     # version 4: anomaly records, in order

    @property
    def complete(self) -> bool:
        return self.footer is not None


def _check_regular(path: str) -> None:
    """Refuse what is not a regular file (a FIFO would block, /dev/zero never ends)."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise OSError(errno.EINVAL, "not a regular file")


def _open_text(path: str):
    """The trace's lines as bytes (``readline(limit)``), whatever its codec:
    each is decoded by :func:`_lines`, so that a UTF-8 error names its own line."""
    _check_regular(path)
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic == _ZSTD_MAGIC:
        if _zstd is None:
            raise OSError("the zstandard module is needed to read it")
        return _ZstdLines(path)
    if magic[:2] == _GZIP_MAGIC:
        return gzip.open(path, "rb")
    return open(path, "rb")


# what reading a trace file's lines may raise, whatever its codec
_READ_ERRORS = (UnicodeDecodeError, OSError, gzip.BadGzipFile, zlib.error)


def _open_trace(name: str):
    """The trace's text lines (any codec), or the one-sentence TraceError."""
    try:
        return _open_text(name)
    except OSError as exc:
        raise TraceError("%s: cannot open trace file (%s)" % (name, exc.strerror or exc)) from None


def _read_error(name: str, lineno: int, exc: BaseException) -> TraceError:
    """The one-sentence TraceError for one of _READ_ERRORS at ``lineno``."""
    if isinstance(exc, UnicodeDecodeError):
        return TraceError("%s:%d: not UTF-8 text" % (name, lineno))
    return TraceError("%s:%d: cannot read trace file (%s)" % (name, lineno, exc))


def copy_lines(path: str, out) -> None:
    """Write the JSON Lines of a trace, whatever its codec, to the text
    stream ``out`` as they are stored (no check beyond decoding)."""
    name = os.fspath(path)
    fh = _open_trace(name)
    lineno = 0
    try:
        for line in _lines(fh):
            lineno += 1
            out.write(line)
    except _READ_ERRORS as exc:
        raise _read_error(name, lineno + 1, exc) from None
    finally:
        fh.close()


def load(path: str) -> Trace:
    """Read a whole trace (any supported version, any codec) into memory.

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
    """A trace read one record at a time: the header is read on opening,
    objects as they come, events are yielded by :meth:`events`, and the
    footer and warnings are set once the iteration ends.  Memory stays flat
    in the number of events; the same checks as :func:`load` apply."""

    def __init__(self, path: str) -> None:
        _fast_decoder()
        self.name = name = os.fspath(path)
        self._fh = _open_trace(name)
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
        except _READ_ERRORS as exc:
            raise _read_error(self.name, self._lineno + 1, exc) from None

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

    def close(self) -> None:
        """Stop reading before the end (the footer stays unread)."""
        self._fh.close()

    def events(self) -> typing.Iterator[dict]:
        """Yield the event records in order; objects are added to
        ``self.trace.objects`` before the first event that mentions them."""
        trace, name = self.trace, self.name
        count = 0
        check = Order(trace.objects).check
        try:
            while True:
                rec = self._next_record()
                if rec is None:
                    break
                if trace.footer is not None:
                    raise TraceError("%s:%d: data after the footer" % (name, self._lineno))
                if _record(trace, rec, name, self._lineno):
                    wrong = check(rec)
                    if wrong is not None:
                        raise TraceError("%s:%d: %s" % (name, self._lineno, wrong))
                    count += 1
                    yield rec
        finally:
            self._fh.close()
        if trace.footer is not None and trace.footer["events"] is None:
            trace.footer["events"] = count
        if trace.footer is None:
            trace.warnings.append("%s: no footer; the traced process did not finish cleanly" % name)


class Order:
    """The order rule of docs/trace-format.md, checked one event at a time:
    per object ``start (yield (resume|throw|close))* ... (return|raise)?``
    (entries and exits alternate, nothing follows the end), events only on
    generator-like objects, ``seq`` strictly increasing.  A trace cut short
    may stop anywhere, so only what is there is checked."""

    __slots__ = ("objects", "state", "last_seq")

    def __init__(self, objects: dict) -> None:
        self.objects = objects
        self.state: dict = {}    # id -> _RUNNING, _SUSPENDED or _ENDED
        self.last_seq: int | None = None

    def check(self, e: dict) -> str | None:
        """None, or what is wrong with this event (a phrase)."""
        seq, oid, ev = e["seq"], e["obj"], e["ev"]
        last = self.last_seq
        self.last_seq = seq
        if last is not None and seq <= last:
            return "seq %d follows seq %d (sequence numbers must increase)" % (seq, last)
        state = self.state
        s = state.get(oid)
        if s is None:
            kind = self.objects[oid].get("kind")
            if kind not in _RECORDED_KINDS:
                return "seq %d: a %s event on object %d, a %s (only generators, coroutines and async generators " \
                       "have events)" % (seq, ev, oid, kind)
            if ev != "start":
                return "seq %d: %s of object %d before its start" % (seq, ev, oid)
            state[oid] = _RUNNING
        elif s is _ENDED:
            return "seq %d: %s of object %d after its end" % (seq, ev, oid)
        elif ev in ENTRY_EVENTS:
            if ev == "start":
                return "seq %d: object %d started a second time" % (seq, oid)
            if s is _RUNNING:
                return "seq %d: %s of object %d while it is running (no yield before it)" % (seq, ev, oid)
            state[oid] = _RUNNING
        else:
            if s is not _RUNNING:
                return "seq %d: %s of object %d while it is suspended (two exits in a row)" % (seq, ev, oid)
            state[oid] = _SUSPENDED if ev == "yield" else _ENDED
        return None


_RUNNING, _SUSPENDED, _ENDED = "running", "suspended", "ended"
_RECORDED_KINDS = frozenset(compat.RECORDED_KINDS)


def _raw_decode(line: str):
    if _orjson is not None:
        # about 5x the stdlib's speed; anything it refuses (lone surrogates,
        # NaN, big ints, deep nesting, bad JSON) goes to the stdlib decoder,
        # which accepts what cotrace writes and names what is wrong
        try:
            return _orjson.loads(line), len(line)
        except ValueError:
            pass
    if line[:1] != "{":
        return json.loads(line), len(line)
    return _DECODER.raw_decode(line)


_DECODER = json.JSONDecoder()


# A trace line longer than this is refused (cotrace's own lines are short:
# values are bounded by --repr-limit, the aggregates by the code's size); a
# crafted file (a gzip bomb holding one 8 GB line) then costs bounded memory.
MAX_LINE = 64 << 20


def _lines(fh):
    """Decoded lines of a trace opened by _open_text; OSError for an overlong line."""
    while True:
        try:
            line = fh.readline(MAX_LINE + 1)
        except EOFError:  # a gzip stream cut short: what was read stands
            return
        if not line:
            return
        if len(line) > MAX_LINE:
            raise _too_long()
        yield line.decode("utf-8")


def _too_long() -> OSError:
    return OSError(errno.EFBIG, "a line longer than %d MiB" % (MAX_LINE >> 20))


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
                  "started": _STR + _NULL, "target": _STR + _NULL, "cotrace": _STR + _NULL,
                  "cwd": _STR + _NULL, "values": _STR + _NULL, "pid": _INT + _NULL, "parent": (dict, type(None))}
_OBJECT_FIELDS = {"id": _INT, "kind": _STR, "name": _STR + _NULL, "qualname": _STR + _NULL,
                  "file": _STR + _NULL, "line": _INT + _NULL, "label": _STR + _NULL, "thread": _STR + _NULL}
_EVENT_FIELDS = {"seq": _INT, "ev": _STR, "obj": _INT, "by": _INT + _NULL, "via": _STR + _NULL,
                 "value": _STR + _NULL, "line": _INT + _NULL, "t": _INT + _NULL, "thread": _STR + _NULL,
                 "task": _STR + _NULL, "synthetic": _BOOL + _NULL, "on": _STR + _NULL}
_FOOTER_FIELDS = {"events": _INT, "dropped": _INT, "lost": _INT, "objects": _INT, "suspended": _LIST,
                  "running": _LIST, "exit": _INT + _NULL, "error": _STR + _NULL, "recorder_error": _STR + _NULL,
                  "limit_reached": _BOOL, "children": (dict,), "child_traces": _LIST}
_EVENT_OPTIONAL = ("by", "value", "via", "thread", "task", "line", "t", "synthetic", "on")
_EVENT_SHAPES: dict = {}   # (keys, value types) -> the optional fields it lacks
_EVENT_KIND_SET = frozenset(EVENT_KINDS)
_VIA_SET = frozenset(VIAS)
_ANOMALY_FIELDS = {"kind": _STR, "obj": _INT, "seq": _INT, "t": _INT + _NULL, "file": _STR + _NULL,
                   "line": _INT + _NULL, "thread": _STR + _NULL}
_REQUIRED = {"object": ("id", "kind"), "event": ("seq", "ev", "obj"), "footer": (), "header": (),
             "anomaly": ("kind", "obj", "seq")}


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
    elif kind == "anomaly":
        _check(rec, _ANOMALY_FIELDS, "anomaly", name, lineno)
        if rec["kind"] not in ANOMALY_KINDS:
            raise TraceError("%s:%d: anomaly of unknown kind %r" % (name, lineno, rec["kind"]))
        if rec["obj"] not in trace.objects:
            raise TraceError("%s:%d: anomaly refers to object %d before its definition" % (name, lineno, rec["obj"]))
        for key in ("t", "file", "line", "thread"):
            rec.setdefault(key, None)
        trace.notes.append(rec)
    elif kind == "aggregates":
        if trace.aggregates is not None:
            raise TraceError("%s:%d: a second aggregates record" % (name, lineno))
        if not isinstance(rec.get("version"), int):
            raise TraceError("%s:%d: aggregates record without a version" % (name, lineno))
        trace.aggregates = rec   # checked where it is used (tracer.model falls back to the events)
    elif kind == "footer":
        _check(rec, _FOOTER_FIELDS, "footer", name, lineno)
        for key in ("suspended", "running"):
            if key in rec and not all(type(i) is int for i in rec[key]):
                raise TraceError("%s:%d: footer field %r must be a list of object ids" % (name, lineno, key))
            unknown = [i for i in rec.get(key, ()) if i not in trace.objects]
            if unknown:
                raise TraceError("%s:%d: footer field %r names object %d, which the trace never defined"
                                 % (name, lineno, key, unknown[0]))
        if not all(type(n) is str for n in rec.get("child_traces", [])):
            raise TraceError("%s:%d: footer field 'child_traces' must be a list of file names" % (name, lineno))
        if not all(type(k) is str and type(n) is int for k, n in rec.get("children", {}).items()):
            raise TraceError("%s:%d: footer field 'children' must map kinds to counts" % (name, lineno))
        rec.setdefault("events", None)
        rec.setdefault("dropped", 0)
        rec.setdefault("suspended", [])
        trace.footer = rec
    elif kind == "header":
        raise TraceError("%s:%d: a second header" % (name, lineno))
    else:
        raise TraceError("%s:%d: unknown record type %r" % (name, lineno, kind))
    return False
