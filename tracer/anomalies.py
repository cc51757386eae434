"""The classic generator and coroutine mistakes, named: what counts as an
anomaly, and the words every picture uses for it.

One place decides.  The recorder's aggregator (:mod:`tracer.aggregates`)
counts anomalies per kind, function and line while it writes the trace (so
a run of any length is checked whole, also where a drawing reads only a
window of its events); the sequence builder (:mod:`tracer.model`) marks the
drawn messages with the same rules (:func:`of_exit`); the footer adds what
only the end of the run knows (objects still suspended, the program's own
uncaught exception).

Kinds (``docs/trace-format.md``, "anomalies"):

* ``ignored-generator-exit``: ``close()``, or finalization by the garbage
  collector, answered by a ``yield``.  CPython then raises
  ``RuntimeError: generator ignored GeneratorExit`` in the closer (or prints
  "Exception ignored in ..." when it finalizes).
* ``finalization-raised``: finalization (the collector's close) answered by
  an exception: CPython prints "Exception ignored in ..." and the exception
  is lost.
* ``stopiteration``: a ``StopIteration`` that escaped a generator's frame,
  turned into ``RuntimeError`` (PEP 479) at the line it escaped from.
* ``failed-resumption``: a resumption CPython refused: ``send()`` of a value
  into a generator that never ran, "generator already executing",
  ``cannot reuse already awaited coroutine``, and the like.
* ``caught-throw``: an exception sent in by ``throw()`` that the generator
  caught and went on (yielded again): deliberate in a hand-written
  scheduler, a lost signal in most code.
* ``never-awaited``: a coroutine finalized before it ever ran (CPython's
  "coroutine ... was never awaited" RuntimeWarning), at the line the
  warning names: usually a call that lacks its ``await``.  Not an event
  pattern: the recorder writes an ``anomaly`` record for it
  (tracer.record.unawaited).
* ``never-retrieved``: an asyncio task finalized with an exception nobody
  retrieved (asyncio's "Task exception was never retrieved"), at the line
  the exception left its coroutine.  An ``anomaly`` record too
  (tracer.record.unawaited.UnretrievedHook).
* ``still-suspended``: objects suspended when the program ended: their
  ``finally`` blocks are left to interpreter shutdown.
* ``uncaught-exception``: the program itself ended by an exception.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# kind -> (name shown in pictures, severity)
KINDS = {
    "ignored-generator-exit": ("ignored GeneratorExit", "error"),
    "finalization-raised": ("exception during finalization", "error"),
    "stopiteration": ("StopIteration became RuntimeError", "error"),
    "failed-resumption": ("failed resumption", "error"),
    "caught-throw": ("thrown exception caught", "warning"),
    "never-awaited": ("coroutine never awaited", "error"),
    "never-retrieved": ("task exception never retrieved", "error"),
    "still-suspended": ("still suspended at exit", "warning"),
    "uncaught-exception": ("uncaught exception", "error"),
}
ORDER = {kind: i for i, kind in enumerate(KINDS)}
NOTED = frozenset({"never-awaited", "never-retrieved"})   # written as anomaly records, not found in events
RAISES = frozenset({"finalization-raised", "stopiteration", "failed-resumption"})  # a raise that is one

# CPython's own words for a resumption it refused (Objects/genobject.c)
_REFUSED = re.compile(
    r"^(TypeError|ValueError|RuntimeError)\(['\"]("
    r"can't send non-None value to a just-started (generator|coroutine|async generator)"
    r"|(generator|coroutine|async generator) already executing"
    r"|cannot reuse already awaited (coroutine|__anext__\(\)/asend\(\)|aclose\(\)/athrow\(\))"
    r"|anext\(\): asynchronous generator is already running"
    r"|(aclose|athrow|asend)\(\): asynchronous generator is already running"
    r")['\"]\)$")
_PEP479 = re.compile(r"^RuntimeError\(['\"](generator|coroutine|async generator) raised Stop(Async)?Iteration['\"]\)$")


def name(kind: str) -> str:
    return KINDS[kind][0]


def severity(kind: str) -> str:
    return KINDS[kind][1]


def of_raise(value: str | None) -> str | None:
    """The anomaly a ``raise`` with this value is, judged by the value alone."""
    if value is None or not value.startswith(("RuntimeError(", "TypeError(", "ValueError(")):
        return None
    if _PEP479.match(value):
        return "stopiteration"
    if _REFUSED.match(value):
        return "failed-resumption"
    return None


def of_exit(entry_ev: str | None, entry_via: str | None, exit_ev: str, value: str | None) -> str | None:
    """The anomaly an exit is, given how its object was entered last
    (``entry_ev``/``entry_via`` of the entry just before it), or None."""
    if exit_ev == "yield":
        if entry_ev == "close":
            return "ignored-generator-exit"
        if entry_ev == "throw":
            return "caught-throw"
        return None
    if exit_ev == "raise":
        if entry_ev == "close" and entry_via == "gc":
            return "finalization-raised"
        return of_raise(value)
    return None


def explain(kind: str, via: str | None = None, value: str | None = None) -> str:
    """One sentence: what happened and what CPython did about it."""
    if kind == "ignored-generator-exit":
        if via == "gc":
            return ("finalization answered by a yield (a yield in finally?): CPython printed "
                    "'Exception ignored in' and a RuntimeError")
        return "close() answered by a yield: close() raised RuntimeError in the closer"
    if kind == "finalization-raised":
        return "raised %s while being finalized: CPython printed 'Exception ignored in' and lost it" % (
            value or "an exception")
    if kind == "stopiteration":
        return "a StopIteration escaped here and became RuntimeError (PEP 479): catch it, or return"
    if kind == "failed-resumption":
        return "CPython refused the resumption: %s" % (value or "?")
    if kind == "caught-throw":
        return "caught %s sent in by throw() and went on" % (value or "the exception")
    if kind == "never-awaited":
        return "created and dropped without ever running: a call that lacks its await?"
    if kind == "never-retrieved":
        return ("nothing awaited the task or asked for its result, and its exception was lost: asyncio "
                "logged 'Task exception was never retrieved'")
    if kind == "still-suspended":
        return "still suspended when the program ended: its finally blocks are left to interpreter shutdown"
    if kind == "uncaught-exception":
        return "the program ended with %s" % (value or "an exception")
    return kind


@dataclass
class Anomaly:
    kind: str
    file: str | None
    line: int | None
    function: str | None          # qualname of the generator function (None: the program)
    count: int                    # times it happened
    seq: int | None               # the first event it happened at
    text: str                     # explain(...)
    objects: list = field(default_factory=list)   # labels, where known
    key: tuple | None = None      # (file, qualname, line) of its generator function

    @property
    def name(self) -> str:
        return name(self.kind)

    @property
    def severity(self) -> str:
        return severity(self.kind)

    def lint(self) -> str:
        """``file:line: kind: text`` (one line, as a linter says it)."""
        where = "%s:%s" % (self.file or "?", self.line if self.line is not None else "?")
        who = ""
        if self.objects:
            who = " [%s%s]" % (", ".join(self.objects[:3]), ", +%d" % (len(self.objects) - 3)
                               if len(self.objects) > 3 else "")
        if self.seq is None:
            times = " (%d objects)" % self.count if self.count > 1 else ""
        elif self.count > 1:
            times = " (%d times, first at event %d)" % (self.count, self.seq)
        else:
            times = " (event %d)" % self.seq
        fn = " in %s" % self.function if self.function else ""
        return "%s: %s: %s%s%s: %s%s" % (where, self.severity, self.name, fn, who, self.text, times)


def summary(found: list) -> str:
    """``2 anomalies: ignored GeneratorExit 1, still suspended at exit 1``."""
    counts: dict = {}
    for a in found:
        counts[a.kind] = counts.get(a.kind, 0) + a.count
    return count_summary(counts)


def count_summary(counts: dict) -> str:
    """The same from counts by kind (a footer's ``anomalies``)."""
    total = sum(counts.values())
    if not total:
        return ""
    return "%d anomal%s: %s" % (total, "y" if total == 1 else "ies",
                                ", ".join("%s %d" % (name(k), counts[k]) for k in sorted(counts, key=lambda k: ORDER[k])))


def from_record(rows: list, objects: dict) -> list:
    """The aggregates' ``anomalies`` rows, ``[kind, obj, line, count, seq,
    via, value, file]`` (``obj``: the first object of the function it
    happened to; ``file``: where ``line`` is, if not in that function's
    file), as Anomaly objects; ``objects`` maps ids to object records."""
    found = []
    for kind, oid, line, count, seq, via, value, file in rows:
        if kind not in KINDS:
            continue
        o = objects.get(oid) or {}
        qualname = o.get("qualname") or o.get("name")
        # a noted anomaly happened after event ``seq``, not at it
        found.append(Anomaly(kind, file or o.get("file"), line, qualname, count, None if kind in NOTED else seq,
                             explain(kind, via, value), key=(o.get("file"), qualname, o.get("line"))))
    return found


def at_exit(footer: dict | None, objects: dict, program: str | None = None) -> list:
    """What the footer says: objects still suspended (one anomaly per
    function), the program's uncaught exception (``program``: its file)."""
    if footer is None:
        return []
    found: list = []
    by_fn: dict = {}
    where = _still_suspended(footer)
    for oid in footer.get("suspended") or []:
        o = objects.get(oid)
        if o is None:  # defined past the part of the trace that was read
            by_fn.setdefault((None, None, None, None), []).append("object %s" % oid)
            continue
        line, held = where.get(oid, (None, []))
        label = o.get("label") or str(oid)
        if held:
            label += " held by " + " and ".join(holder_text(h, objects) for h in held)
        # (file, line: the yield it waits at, or the function's, fn, def line)
        key = (o.get("file"), line if line is not None else o.get("line"), o.get("qualname") or o.get("name"), o.get("line"))
        by_fn.setdefault(key, []).append(label)
    for (file, line, fn, def_line), labels in by_fn.items():
        found.append(Anomaly("still-suspended", file, line, fn, len(labels), None,
                             explain("still-suspended"), labels, (file, fn, def_line)))
    error = footer.get("error")
    if error and footer.get("exit") not in (0, None) and not error.startswith(("SystemExit", "KeyboardInterrupt")):
        found.append(Anomaly("uncaught-exception", program, None, None, 1, None,
                             explain("uncaught-exception", value=error)))
    return found


def _still_suspended(footer: dict) -> dict:
    """The footer's ``still_suspended`` rows, ``[obj, line, holders]``, by
    object id: (the line of the yield it waits at, what holds it); rows
    that are not of that shape are ignored (an older or foreign writer)."""
    rows = footer.get("still_suspended")
    found: dict = {}
    if not isinstance(rows, list):
        return found
    for row in rows:
        if isinstance(row, list) and len(row) == 3 and isinstance(row[0], int) and isinstance(row[2], list) \
                and (row[1] is None or isinstance(row[1], int)):
            found[row[0]] = (row[1], [h for h in row[2] if isinstance(h, dict) and isinstance(h.get("type"), str)])
    return found


def holder_text(holder: dict, objects: dict) -> str:
    """``list __main__.kept``, ``global __main__.hh``, ``gen#3``, ``frame f (x.py:4)``, ``a Reader``."""
    kind, where, oid = holder["type"], holder.get("in"), holder.get("obj")
    if isinstance(oid, int):
        o = objects.get(oid)
        return (o.get("label") if o is not None else None) or "object %d" % oid
    if kind == "module global":
        return "global %s" % where
    if isinstance(where, str):
        return "%s %s" % (kind, where)
    owner, key = holder.get("owner"), holder.get("key")
    if isinstance(owner, str):
        return ("%r in a %s" % (key, owner)) if isinstance(key, str) else "a %s in a %s" % (kind, owner)
    if kind == "cell":
        return "a closure's cell"
    return "a %s" % kind


_HOW_TO_RECORD = {"library": "stdlib or site-packages: --all records them",
                  "not included": "outside --include", "excluded": "matched by --exclude"}


def unrecorded(footer: dict | None) -> str:
    """``12 generator functions ran unrecorded (the standard library or
    site-packages: --all records them)``, from the footer's ``unrecorded``;
    "" when there were none (or the footer is older, or missing)."""
    counts_in = (footer or {}).get("unrecorded")
    if not isinstance(counts_in, dict):
        return ""
    counts = {k: v for k, v in counts_in.items() if k in _HOW_TO_RECORD and type(v) is int and v > 0}
    total = sum(counts.values())
    if not total:
        return ""
    return "%d generator function%s ran unrecorded (%s)" % (
        total, "" if total == 1 else "s", "; ".join("%s%s" % (
            "%d " % counts[k] if len(counts) > 1 else "", _HOW_TO_RECORD[k]) for k in _HOW_TO_RECORD if k in counts))


def ordered(found: list) -> list:
    return sorted(found, key=lambda a: (a.seq is None, a.seq or 0, ORDER[a.kind], a.file or "", a.line or 0))
