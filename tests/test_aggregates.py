"""The aggregates a recording writes: what the state and flow graphs need.

The recorder's writer keeps them while recording; a reader that finds none
computes them with a pass over the events (tracer.aggregates, the same
code).  They must agree, and a drawing from them must be the drawing from
the events.
"""
import json

import pytest

from conftest import PROGRAMS, SAMPLES
from tracer import aggregates, model, traceio
from tracer.render import textual

SAMPLE_NAMES = ["fib", "producer_consumer", "throw_close", "pipeline", "async_producer_consumer"]
# forever.py runs until it is killed (no footer, so no aggregates)
PROGRAM_NAMES = sorted(p.stem for p in PROGRAMS.glob("*.py") if p.stem != "forever")
ALL = [SAMPLES / (n + ".py") for n in SAMPLE_NAMES] + [PROGRAMS / (n + ".py") for n in PROGRAM_NAMES]


def computed(path) -> dict:
    """The aggregates of a trace from a pass over its events."""
    stream = traceio.TraceStream(str(path))
    agg = aggregates.Aggregator()
    objects = stream.trace.objects
    events = list(stream.events())
    for o in objects.values():
        agg.object(o)
    # one at a time: the writer's batches must not matter
    for e in events:
        loc = (e["ev"], e["obj"], e["by"], e["via"], e["line"], e["thread"], e["task"], e.get("on"))
        agg.events([(e["seq"], agg.slot(loc, e["seq"]), e["obj"], e["value"])])
        agg.switches.event(e.get("t"), e["thread"])
    for rec in stream.trace.notes:   # what happened outside the events (version 4)
        agg.note(rec)
    return json.loads(json.dumps(agg.result()))


def texts(models) -> tuple:
    return (textual.text_states(models.states, "t"), textual.text_flow(models.flow, "t"),
            textual.mermaid_flow(models.flow, "t"), textual.plantuml_states(models.states, "t"))


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_recorded_aggregates_equal_the_events(cotrace, tmp_path, path):
    run = cotrace("--no-diagrams", path)
    trace_path = run.trace_path(path.stem)
    tail = traceio.read_tail(str(trace_path))
    assert tail is not None, "a finished trace has its aggregates at its end"
    written, footer = tail
    assert footer == traceio.load(str(trace_path)).footer
    assert written == computed(trace_path)
    assert written["events"] == footer["events"]
    # and the pictures drawn from them are those drawn from the events
    from_events = model.build(str(trace_path), use_aggregates=False)
    from_tail = model.build(str(trace_path))
    assert texts(from_tail) == texts(from_events)
    assert textual.text_sequence(from_tail.sequence, "t") == textual.text_sequence(from_events.sequence, "t")


def test_gold_traces_draw_the_same_with_and_without_aggregates(tmp_path):
    # a version-2 trace (no aggregates) re-written as version 3 with them
    for name in SAMPLE_NAMES:
        old = SAMPLES.parent / "tests" / "gold" / "traces" / (name + ".trace.jsonl")
        new = _rewrite(old, tmp_path / (name + ".trace.jsonl.zst"))
        assert traceio.read_tail(str(new)) is not None
        a, b = model.build(str(old)), model.build(str(new))
        assert texts(a) == texts(b)
        assert textual.text_sequence(a.sequence, "t") == textual.text_sequence(b.sequence, "t")


def _rewrite(src, dst, events=None):
    """Write the records of ``src`` again with the writer (and its aggregates)."""
    trace = traceio.load(str(src))
    header = {k: v for k, v in trace.header.items() if k != "type"}
    w = traceio.TraceWriter(str(dst), dict(header, version=traceio.FORMAT_VERSION), encode_value=repr, batch=64)
    defined = set()
    for e in trace.events[:events]:
        for i in (e["by"], e["obj"]):
            if i is not None and i not in defined:
                o = trace.objects[i]
                defined.add(i)
                w.append(("o", i, o["kind"], o["name"], o["qualname"], o["file"], o["line"], o["label"],
                          o.get("thread")))
        w.append(("e", e["seq"], e["t"], e["ev"], e["obj"], e["by"], e["via"], e["value"], False, e["line"],
                  e["thread"], e["task"], bool(e.get("synthetic")), e.get("on")))
        if len(w.buf) >= w.batch:
            w.flush()
    footer = {k: v for k, v in trace.footer.items() if k != "type"}
    w.close(footer)
    return dst


def test_a_long_trace_is_drawn_from_a_window(cotrace, tmp_path):
    script = tmp_path / "pingpong.py"
    script.write_text("def c():\n    total = 0\n    while True:\n        total += yield total\n\n"
                      "g = c()\nnext(g)\nfor i in range(3000):\n    g.send(i % 7)\n")
    run = cotrace("--no-diagrams", script)
    path = str(run.trace_path("pingpong"))
    whole = model.build(path)
    window = model.build(path, window=500)
    assert whole.sequence.window is None and window.sequence.window == 500
    assert window.sequence.total_messages == whole.sequence.total_messages == 6002
    assert texts(window) == texts(whole)       # the graphs come from the aggregates
    text = textual.text_sequence(window.sequence, "t")
    assert "drawn from the first 500 of 6002 events" in text
    transitions = {t.action: t for f in whole.states.functions for t in f.transitions.values()}
    assert transitions["send"].count == 3000 and transitions["send"].values == ["0", "1", "2"]


def test_aggregates_are_small_however_long_the_run(cotrace, tmp_path):
    script = tmp_path / "churn.py"
    script.write_text("def g(i):\n    yield i\n    yield i + 1\n\nfor i in range(5000):\n    list(g(i))\n")
    run = cotrace("--no-diagrams", script)
    written, _ = traceio.read_tail(str(run.trace_path("churn")))
    assert written["events"] == 30000         # start, yield, resume, yield, resume, return
    # one function: its first objects as nodes of their own, then one node
    assert len(written["objects"]) <= aggregates.FLOW_AGGREGATE + 3
    assert len(json.dumps(written)) < 5000
    flow = model.flow_from(written)
    assert [n.label for n in flow.nodes] == ["<module>", "g ×5000"]


def test_the_aggregator_forgets_objects_that_ended():
    # its tables stay the size of the code, not of the objects it saw
    agg = aggregates.Aggregator()
    agg.object({"id": 1, "kind": "function", "name": "main", "qualname": "main", "file": "x.py", "line": 1,
                "label": "main"})
    seq = 0
    for oid in range(2, 5002):
        agg.object({"id": oid, "kind": "generator", "name": "g", "qualname": "g", "file": "x.py", "line": 5,
                    "label": "g#%d" % oid})
        for ev, via, value in (("start", "next", None), ("yield", None, "1"), ("resume", "next", None),
                               ("return", None, None)):
            seq += 1
            agg.events([(seq, agg.slot((ev, oid, 1, via, 6, "MainThread", None, None), seq), oid, value)])
    assert agg.events_seen == 20000
    tables = (agg.kinds, agg.objects, agg.fn_of, agg.member_fn, agg.state, agg.pending, agg.first)
    assert max(len(t) for t in tables) <= aggregates.FLOW_AGGREGATE + 3


def test_missing_or_unreachable_aggregates_fall_back_to_the_events(cotrace, tmp_path):
    run = cotrace("--no-diagrams", SAMPLES / "producer_consumer.py")
    path = run.trace_path("producer_consumer")
    data = path.read_bytes()
    cut = tmp_path / "cut.trace.jsonl.zst"
    cut.write_bytes(data[:-30])                 # no index frame: a pass over the events
    assert traceio.read_tail(str(cut)) is None
    assert texts(model.build(str(cut))) == texts(model.build(str(path)))
    plain = cotrace("--no-diagrams", "--codec", "none", SAMPLES / "producer_consumer.py", out=tmp_path / "p")
    ppath = plain.out_dir / "producer_consumer.trace.jsonl"
    lines = ppath.read_text().splitlines()
    assert json.loads(lines[-2])["type"] == "aggregates"
    assert traceio.read_tail(str(ppath))[0] == json.loads(lines[-2])


def test_a_malformed_aggregates_record_is_one_sentence(tmp_path):
    lines = [{"type": "header", "format": "cotrace", "version": 3},
             {"type": "object", "id": 1, "kind": "generator", "name": "g", "qualname": "g", "file": "x.py",
              "line": 1, "label": "g#1"},
             {"seq": 1, "ev": "start", "obj": 1},
             {"type": "aggregates", "version": 2, "events": 1, "objects": [], "functions": [[7, 1, 1, 1]],
              "actors": [], "states": [], "transitions": [], "flow": [], "anomalies": []},
             {"type": "footer", "events": 1, "dropped": 0, "suspended": []}]
    path = tmp_path / "bad-agg.trace.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    with pytest.raises(traceio.TraceError, match="bad-agg.trace.jsonl: the aggregates record is malformed"):
        model.build(str(path))


def ledger_from_events(trace) -> dict:
    """Each generator function's lifetime, counted from the events one by one
    (what model.Ledger must say): (file, qualname, line) -> counts."""
    from collections import Counter

    key_of = {}
    for o in trace.objects.values():
        if o["kind"] in aggregates.RECORDED:
            key_of[o["id"]] = (o.get("file"), o.get("qualname") or o.get("name"), o.get("line"))
    counts: dict = {}
    entered: dict = {}
    seen: set = set()
    exited: set = set()
    for e in trace.events:
        oid = e["obj"]
        if oid not in key_of:
            continue
        c = counts.setdefault(key_of[oid], Counter())
        if oid not in seen:
            seen.add(oid)
            c["objects"] += 1
            c["started"] += e["ev"] == "start"
        if e["ev"] in aggregates.ENTRIES:
            if oid in exited:
                c["resumes"] += 1
            entered[oid] = e
            continue
        exited.add(oid)
        entry = entered.pop(oid, None)
        if e["ev"] == "yield":
            c["yields"] += 1
        elif e["ev"] == "return":
            if entry is not None and entry["ev"] == "close":
                c["collected" if entry["via"] == "gc" else "closed"] += 1
            else:
                c["returned"] += 1
        else:
            c["raised"] += 1
    for oid in trace.footer.get("suspended", []):
        counts.setdefault(key_of[oid], Counter())["suspended"] += 1
    return counts


@pytest.mark.parametrize("path", ALL + sorted((PROGRAMS / "bugs").glob("*.py")), ids=lambda p: p.stem)
def test_the_ledger_counts_what_the_events_say(cotrace, path):
    run = cotrace("--no-diagrams", path)
    trace_path = run.trace_path(path.stem)
    trace = traceio.load(str(trace_path))
    expected = ledger_from_events(trace)
    for use in (True, False):
        models = model.build(str(trace_path), use_aggregates=use)
        got = {}
        for f in models.states.functions:
            led = f.ledger
            got[f.key] = {k: v for k, v in vars(led).items() if v and k != "never_awaited"}
        assert got == {k: dict(v) for k, v in expected.items() if any(v.values())}, path.stem


def test_switch_histograms_give_counts_and_quantiles_within_their_precision():
    sw = aggregates.Switches()
    t = 0
    gaps = [1000] * 50 + [3000] * 49 + [1_000_000]   # the median 1 µs (ish), the p99 3 µs, one long gap
    sw.event(t, "MainThread")
    for g in gaps:
        t += g
        sw.event(t, "MainThread")
    sw.event(t + 50_000, "worker")
    stats = aggregates.switch_stats(sw.result())
    same, changed = stats["same_thread"], stats["thread_change"]
    assert same["count"] == 100 and changed["count"] == 1
    assert abs(same["median"] - 1000) <= 125 and abs(same["p99"] - 3000) <= 375
    assert abs(changed["median"] - 50_000) <= 50_000 / 8
    for gap in (0, 1, 7, 8, 9, 1023, 1024, 10**9):   # every bucket holds its gap within 12.5%
        assert abs(aggregates._bucket_value(aggregates._bucket(gap)) - gap) <= max(gap / 8, 0.5)
    # what the writer feeds (its record tuples) and what a reader feeds (events) agree
    recs = [("e", i, i * 1500, "yield", 1, 2, None, None, False, 3, "MainThread" if i % 3 else "w", None, False, None)
            for i in range(1, 40)] + [("o", 5)]
    a, b = aggregates.Switches(), aggregates.Switches()
    a.batch(recs[:20])
    a.batch(recs[20:])
    for r in recs[:-1]:
        b.event(r[2], r[10])
    assert a.result() == b.result()
    for bad in (None, [], {"same_thread": [[1]]}, {"same_thread": [], "thread_change": [["1", 2]]},
                {"same_thread": [[1, 0]], "thread_change": []}):
        assert aggregates.switch_stats(bad) is None
