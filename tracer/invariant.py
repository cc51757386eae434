"""The alternation invariant every trace must satisfy.

Per object, events follow ``start (yield (resume|throw|close))* ... (return|raise)?``:
entries and exits alternate, the first event is a start, and nothing
follows the end.  A trace cut short by ``--max-events`` (``dropped`` > 0) or
by a killed process may stop anywhere, but never breaks the order.

The reader (:class:`tracer.traceio.TraceStream`) refuses a file at the
first event that breaks it; this module lists every such place of a trace
built in memory (the tests' check on what the recorder writes).
"""
from __future__ import annotations

from .traceio import Order, Trace


def violations(trace: Trace) -> list[str]:
    """Every place the trace breaks the invariant, as readable sentences."""
    order = Order(trace.objects)
    problems = []
    for e in trace.events:
        if e["obj"] not in trace.objects:
            problems.append("seq %s: event on undefined object %s" % (e["seq"], e["obj"]))
            continue
        wrong = order.check(e)
        if wrong is not None:
            problems.append(wrong)
    return problems
