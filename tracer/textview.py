"""A plain-text listing of a trace: one line per event, in order.

What ``cotrace --events TRACE.trace.jsonl`` prints.
"""
from __future__ import annotations

import typing

from . import anomalies
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
    entered: dict = {}   # object -> (ev, via) of its entry, until it leaves
    noted = [0]   # anomaly records listed so far: each where it was read, between the events
    for e in events:
        if len(trace.notes) > noted[0]:
            yield from _notes(trace, noted, name)
        who, by = name(e["obj"]), name(e["by"])
        mark = ""
        if e["ev"] in ENTRY_EVENTS:
            arrow = "%s -> %s" % (by, who)
            how = e["via"] or ""
            entered[e["obj"]] = (e["ev"], e["via"])
        else:
            arrow = "%s -> %s" % (who, by)
            how = ""
            entry_ev, entry_via = entered.pop(e["obj"], (None, None))
            kind = anomalies.of_exit(entry_ev, entry_via, e["ev"], e["value"])
            if kind is not None:
                mark = "  ⚠ " + anomalies.name(kind)
        value = "" if e["value"] is None else " " + e["value"]
        if e.get("on") is not None:
            value += " (waits on %s)" % e["on"]
        flags = " (synthetic)" if e.get("synthetic") else ""
        thread = "" if e.get("thread") in (None, "MainThread") else " [%s]" % _clean(e["thread"])
        task = "" if not e.get("task") else " {task %s}" % e["task"]
        yield ("%6d  %-40s %-6s %-10s%s%s%s%s" % (e["seq"], _clean(arrow), e["ev"], how,
                                                  _clean(value), flags, thread, _clean(task))).rstrip() + mark
    yield from _notes(trace, noted, name)
    f = trace.footer
    if f is None:
        yield "-- no footer: the traced process did not finish cleanly"
    else:
        yield "-- %d events, %s, exit %s%s; still suspended: %s" % (
            f["events"], "stopped at --max-events" if f.get("limit_reached") else "%d dropped" % f["dropped"],
            f.get("exit"),
            (", " + _clean(f["error"])) if f.get("error") else "",
            ", ".join(name(i) if i in objects else str(i) for i in f.get("suspended", [])) or "none") + (
            "; anomalies: " + ", ".join("%s %d" % (anomalies.name(k), n) for k, n in f["anomalies"].items()
                                        if k in anomalies.KINDS)
            if isinstance(f.get("anomalies"), dict) else "")


def _notes(trace: Trace, noted: list, name) -> typing.Iterator[str]:
    """The anomaly records (version 4) read since the last call."""
    for n in trace.notes[noted[0]:]:
        kind = anomalies.name(n["kind"]) if n["kind"] in anomalies.KINDS else _clean(n["kind"])
        yield "        %s  ⚠ %s at %s:%s" % (_clean(name(n["obj"])), kind, _clean(n.get("file") or "?"),
                                          "?" if n.get("line") is None else n["line"])
    noted[0] = len(trace.notes)
