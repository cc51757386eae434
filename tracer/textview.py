"""A plain-text listing of a trace: one line per event, in order.

What ``cotrace --events TRACE.trace.jsonl`` prints.
"""
from __future__ import annotations

import typing

from .render import escape
from .traceio import ENTRY_EVENTS, Trace


def _clean(text) -> str:
    """One printable line (newlines, controls, bidi characters, lone
    surrogates spelt out)."""
    return "" if text is None else escape.visible(str(text))


def render(trace: Trace) -> str:
    return "".join(line + "\n" for line in lines(trace, trace.events))


def lines(trace: Trace, events) -> typing.Iterator[str]:
    """The listing, line by line, of ``events`` (an iterable: a
    :class:`tracer.traceio.TraceStream`'s, read as they come; ``trace``'s
    objects and footer are looked up when needed, so they may arrive
    meanwhile)."""
    objects = trace.objects
    label: dict = {}

    def name(oid) -> str:
        text = label.get(oid)
        if text is None:
            o = objects.get(oid)
            if o is None:
                return "?"
            text = label[oid] = o.get("label") or o.get("name") or str(oid)
        return text

    h = trace.header
    yield "cotrace trace of %s (Python %s, %s backend)" % (_clean(" ".join(h["argv"])), _clean(h.get("python")),
                                                           _clean(h.get("backend")))
    for e in events:
        who, by = name(e["obj"]), name(e["by"])
        if e["ev"] in ENTRY_EVENTS:
            arrow = "%s -> %s" % (by, who)
            how = e["via"] or ""
        else:
            arrow = "%s -> %s" % (who, by)
            how = ""
        value = "" if e["value"] is None else " " + e["value"]
        if e.get("on") is not None:
            value += " (waits on %s)" % e["on"]
        flags = " (synthetic)" if e.get("synthetic") else ""
        thread = "" if e.get("thread") in (None, "MainThread") else " [%s]" % _clean(e["thread"])
        task = "" if not e.get("task") else " {task %s}" % e["task"]
        yield ("%6d  %-40s %-6s %-10s%s%s%s%s" % (e["seq"], _clean(arrow), e["ev"], how,
                                                  _clean(value), flags, thread, _clean(task))).rstrip()
    f = trace.footer
    if f is None:
        yield "-- no footer: the traced process did not finish cleanly"
    else:
        yield "-- %d events, %s, exit %s%s; still suspended: %s" % (
            f["events"], "stopped at --max-events" if f.get("limit_reached") else "%d dropped" % f["dropped"],
            f.get("exit"),
            (", " + _clean(f["error"])) if f.get("error") else "",
            ", ".join(name(i) if i in objects else str(i) for i in f.get("suspended", [])) or "none")
