"""The recorder's parts apart: the state machine fed by a bare test hook,
with no source, no recorder and no trace file; the sink's limit; the
records' declared field order."""
from __future__ import annotations

import sys

import pytest

from tracer import traceio
from tracer.record import framepeek
from tracer.record.filters import Filters
from tracer.record.guards import GcPhase
from tracer.record.machine import Machine, Pending
from tracer.record.saferepr import SafeRepr
from tracer.record.sink import Sink


class ListWriter:
    """What the sink needs of a writer: ``append``, ``buf``, ``batch``, ``flush``."""

    batch = 1 << 30

    def __init__(self) -> None:
        self.buf: list = []
        self.append = self.buf.append

    def flush(self) -> None:
        pass


def run_fed(body, max_events=None):
    """Run ``body()`` with a minimal settrace hook feeding a bare Machine;
    the events and object records it produced, as dicts."""
    framepeek.calibrate()  # how sent values and generator objects are read (Recorder.start does it)
    writer = ListWriter()
    failures: list = []
    limits: list = []
    sink = Sink(writer, SafeRepr(200), max_events, lambda: limits.append(True))
    machine = Machine(sink, Filters(record_all=True), GcPhase(), failures.append)
    machine.active = True
    ts = machine.thread_state()
    here = __file__

    def hook(frame, event, arg):
        code = frame.f_code
        if code.co_filename != here:
            return None
        kind = machine.decisions.get(id(code))
        if kind is None and id(code) not in machine.decisions:
            kind = machine.decide(code)
        if kind is None:
            return None
        machine.handle(ts, frame, event, arg, kind)
        return hook

    sys.settrace(hook)
    try:
        body()
    finally:
        sys.settrace(None)
    machine.active = False
    machine.settle(False, sink.last_defined)
    assert failures == []
    objects = {r[1]: dict(zip(traceio.OBJECT_FIELDS, r[1:])) for r in writer.buf if r[0] == "o"}
    events = [dict(zip(traceio.EVENT_FIELDS, r[1:])) for r in writer.buf if r[0] == "e"]
    for e in events:
        e["obj"] = objects[e["obj"]]["label"]
        e["by"] = objects[e["by"]]["label"] if e["by"] in objects else e["by"]
    return events, limits


def rows(events):
    return [(e["obj"], e["ev"], e["by"], e["via"], e["value"]) for e in events]


def averager():
    total = count = 0
    avg = None
    try:  # (so that 3.13's close() enters the frame: this test has no close hook)
        while True:
            value = yield avg
            total += value
            count += 1
            avg = total / count
    finally:
        pass


def test_entries_and_exits_with_sent_values():
    def body():
        a = averager()
        next(a)
        a.send(10)
        a.send(20)
        a.close()

    events, _ = run_fed(body)
    assert rows(events) == [
        ("averager#1", "start", "test_entries_and_exits_with_sent_values.<locals>.body", "next", None),
        ("averager#1", "yield", "test_entries_and_exits_with_sent_values.<locals>.body", None, None),
        ("averager#1", "resume", "test_entries_and_exits_with_sent_values.<locals>.body", "send", 10),
        ("averager#1", "yield", "test_entries_and_exits_with_sent_values.<locals>.body", None, 10.0),
        ("averager#1", "resume", "test_entries_and_exits_with_sent_values.<locals>.body", "send", 20),
        ("averager#1", "yield", "test_entries_and_exits_with_sent_values.<locals>.body", None, 15.0),
        ("averager#1", "close", "test_entries_and_exits_with_sent_values.<locals>.body", "close", None),
        ("averager#1", "return", "test_entries_and_exits_with_sent_values.<locals>.body", None, None),
    ]
    assert [e["seq"] for e in events] == list(range(1, 9))
    assert all(e["raw"] for e in events if e["value"] is not None)   # scalars: stored as they are


def resetting():
    n = 0
    while True:
        try:
            n += yield n
        except ValueError:
            n = 0


def test_a_held_back_entry_becomes_a_throw():
    # settrace reports a throw() as a call; the pending entry is resolved by
    # the exception event at the same instruction
    def body():
        g = resetting()
        next(g)
        g.send(5)
        g.throw(ValueError("reset"))

    events, _ = run_fed(body)
    assert [(e["ev"], e["via"], e["value"]) for e in events][4:] == [
        ("throw", "throw", "ValueError('reset')"), ("yield", None, 0),
        ("close", "gc", None), ("return", None, None)]     # dropped at the end of body: collected


def inner():
    yield 1
    yield 2


def outer():
    yield from inner()


def test_a_throw_passed_down_a_delegation_chain_is_synthesised():
    def body():
        g = outer()
        next(g)
        try:
            g.throw(KeyError("k"))
        except KeyError:
            pass

    events, _ = run_fed(body)
    synthetic = [(e["obj"], e["ev"]) for e in events if e["synthetic"]]
    assert synthetic == [("outer#1", "throw")]     # C code passed it down: outer never ran
    assert [(e["obj"], e["ev"]) for e in events][-2:] == [("inner#1", "raise"), ("outer#1", "raise")]


def test_the_sink_stops_at_the_limit_once():
    def body():
        a = averager()
        next(a)
        for i in range(20):
            a.send(i)

    events, limits = run_fed(body, max_events=5)
    assert len(events) == 5 and limits == [True]


def test_pending_entries_are_named():
    assert Pending._fields == ("rec", "frame_id", "lasti", "start", "by", "via", "value", "raw", "line", "chain", "t")


def test_every_record_field_round_trips(tmp_path):
    # the sink's tuples and the writer agree on traceio's declared field order
    path = tmp_path / "fields.trace.jsonl"
    w = traceio.TraceWriter(str(path), {"format": "cotrace", "version": traceio.FORMAT_VERSION}, encode_value=repr)
    obj = dict(zip(traceio.OBJECT_FIELDS, (1, "generator", "g", "C.g", "x.py", 3, "C.g#1", "T-1")))
    actor = dict(zip(traceio.OBJECT_FIELDS, (2, "function", "main", "main", "x.py", 9, "main", "MainThread")))
    w.append(("o",) + tuple(obj.values()))
    w.append(("o",) + tuple(actor.values()))
    event = dict(zip(traceio.EVENT_FIELDS, (1, 77, "start", 1, 2, "send", "v'", False, 4, "T-1", "task-9", True,
                                            "Queue.get")))
    w.append(("e",) + tuple(event.values()))
    w.close({"events": 1, "dropped": 0, "suspended": [], "exit": 0, "error": None})
    trace = traceio.load(str(path))
    got = trace.events[0]
    for key, value in event.items():
        if key == "raw":
            continue  # how the value was stored, not a field of the file
        assert got[key] == value, key
    for rec in (obj, actor):
        for key, value in rec.items():
            assert trace.objects[rec["id"]][key] == value, key


@pytest.mark.parametrize("hook_file, deferred", [("record/machine.py", True), ("traceio.py", True),
                                                  ("aggregates.py", True), ("runner.py", False),
                                                  ("session.py", False), ("cli.py", False)])
def test_hook_code_is_the_record_package_and_the_writer(hook_file, deferred):
    import os
    from tracer import PACKAGE_DIR
    from tracer.record.guards import is_hook_code
    assert is_hook_code(os.path.join(PACKAGE_DIR, hook_file)) is deferred
