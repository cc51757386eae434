"""The alternation invariant every trace must satisfy.

Per object, events follow ``start (yield (resume|throw|close))* ... (return|raise)?``:
entries and exits alternate, the first event is a start, and nothing
follows the end.  A trace cut short by ``--max-events`` (``dropped`` > 0) or
by a killed process may stop anywhere, but never breaks the order.
"""
from __future__ import annotations

from . import compat
from .traceio import ENTRY_EVENTS, Trace

_RECORDED = compat.RECORDED_KINDS


def violations(trace: Trace) -> list[str]:
    """Every place the trace breaks the invariant, as readable sentences."""
    state: dict = {}
    problems = []
    for e in trace.events:
        oid, ev = e["obj"], e["ev"]
        obj = trace.objects.get(oid, {})
        if obj.get("kind") not in _RECORDED:
            problems.append("seq %s: event %s on non-generator object %s" % (e["seq"], ev, oid))
            continue
        s = state.get(oid)
        label = "seq %s (%s %s)" % (e["seq"], obj.get("label"), ev)
        if s is None:
            if ev != "start":
                problems.append("%s: first event is not a start" % label)
            state[oid] = "in"
        elif s == "done":
            problems.append("%s: event after the end" % label)
        elif ev == "start":
            problems.append("%s: a second start" % label)
        elif ev in ENTRY_EVENTS:
            if s != "out":
                problems.append("%s: entry while already running" % label)
            state[oid] = "in"
        else:
            if s != "in":
                problems.append("%s: exit while not running" % label)
            state[oid] = "out" if ev == "yield" else "done"
    seqs = [e["seq"] for e in trace.events]
    if seqs != sorted(seqs) or len(set(seqs)) != len(seqs):
        problems.append("event sequence numbers are not strictly increasing")
    return problems
