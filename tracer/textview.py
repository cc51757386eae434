"""A plain-text listing of a trace: one line per event, in order.

What ``cotrace --events TRACE.trace.jsonl`` prints.
"""
from __future__ import annotations

from .render import escape
from .traceio import ENTRY_EVENTS, Trace


def _clean(text) -> str:
    """One printable line (newlines, controls, bidi characters, lone
    surrogates spelt out)."""
    return "" if text is None else escape.visible(str(text))


def render(trace: Trace) -> str:
    label = {oid: o.get("label") or o.get("name") or str(oid) for oid, o in trace.objects.items()}
    rows = []
    for e in trace.events:
        who, by = label[e["obj"]], label.get(e["by"], "?")
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
        rows.append(("%6d  %-40s %-6s %-10s%s%s%s%s" % (e["seq"], _clean(arrow), e["ev"], how,
                                                       _clean(value), flags, thread, _clean(task))).rstrip())
    h, f = trace.header, trace.footer
    lines = ["cotrace trace of %s (Python %s, %s backend)" % (_clean(" ".join(h["argv"])),
                                                              _clean(h.get("python")), _clean(h.get("backend")))]
    lines += rows
    if f is None:
        lines.append("-- no footer: the traced process did not finish cleanly")
    else:
        lines.append("-- %d events, %s, exit %s%s; still suspended: %s" % (
            f["events"], "stopped at --max-events" if f.get("limit_reached") else "%d dropped" % f["dropped"],
            f.get("exit"),
            (", " + _clean(f["error"])) if f.get("error") else "",
            ", ".join(label.get(i, str(i)) for i in f.get("suspended", [])) or "none"))
    return "\n".join(lines) + "\n"
