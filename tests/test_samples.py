"""The samples, traced for real: exact events and values."""
from conftest import SAMPLES, simple

import pytest



def test_producer_consumer_exact_sequence(cotrace):
    run = cotrace(SAMPLES / "producer_consumer.py")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["consumer wants more: True", "consumer wants more: True",
                                       "consumer wants more: False", "done"]
    trace = run.trace("producer_consumer")
    C, P, M, GC = "consumer#1", "producer#1", "main", "<gc>"
    expected = [
        (C, "start", M, "send", None),          # c.send(None) primes the consumer
        (C, "yield", M, None, "True"),
        (P, "start", M, "for", None),           # the for loop starts the producer
    ]
    for n, answer in ((5, "True"), (4, "True"), (3, "False")):
        if n != 5:
            expected.append((P, "resume", M, "for", "None"))
        expected += [
            (C, "resume", P, "send", str(n)),   # producer -> consumer: send(n)
            (C, "yield", P, None, answer),      # consumer -> producer: yield answer
            (P, "yield", M, None, answer),      # producer -> main: yield answer
        ]
    # main() returns; both generators are still suspended and get finalized
    expected += [
        (P, "close", GC, "gc", None), (P, "return", GC, None, None),
        (C, "close", GC, "gc", None), (C, "return", GC, None, None),
    ]
    assert simple(trace) == expected
    assert trace.footer["exit"] == 0
    assert trace.footer["suspended"] == []
    assert {o["label"]: o["kind"] for o in trace.objects.values()} == {
        C: "generator", P: "generator", M: "function", GC: "runtime"}
    consumer = next(o for o in trace.objects.values() if o["label"] == C)
    assert consumer["file"].endswith("producer_consumer.py") and consumer["line"] == 17
    assert all(e["thread"] == "MainThread" and e["task"] is None for e in trace.events)
    yields = [e["line"] for e in trace.events if e["ev"] == "yield" and e["obj"] == consumer["id"]]
    assert yields == [22, 22, 22, 28]


def test_fib(cotrace):
    run = cotrace(SAMPLES / "fib.py", "10")
    assert run.stdout == "0 1 1 2 3 5 8\n"
    events = simple(run.trace("fib"))
    values = [v for (obj, ev, _, _, v) in events if ev == "yield" and obj == "fib#1"]
    assert values == ["0", "1", "1", "2", "3", "5", "8"]
    # str.join (C code) drives the generator expression, which drives fib
    # with its for loop and yields str(n) for each number
    assert events[0] == ("<genexpr>#1", "start", "<module>", "other", None)
    assert events[1] == ("fib#1", "start", "<genexpr>#1", "for", None)
    assert ("<genexpr>#1", "yield", "<module>", None, "'8'") in events
    assert ("fib#1", "return", "<genexpr>#1", None, "'past 10'") in events
    assert events[-1] == ("<genexpr>#1", "return", "<module>", None, "None")


def test_three_level_yield_from_with_return_values(cotrace):
    run = cotrace(SAMPLES / "pipeline.py")
    assert run.stdout.split() == ["3", "1", "4", "read", "3"]
    events = simple(run.trace("pipeline"))
    R, C, N, MOD = "report#1", "clean#1", "read_numbers#1", "<module>"
    expected = [(R, "start", MOD, "for", None), (C, "start", R, "yield from", None),
                (N, "start", C, "yield from", None)]
    for i, v in enumerate(("3", "1", "4")):
        if i:
            expected += [(R, "resume", MOD, "for", "None"), (C, "resume", R, "yield from", "None"),
                         (N, "resume", C, "yield from", "None")]
        expected += [(N, "yield", C, None, v), (C, "yield", R, None, v), (R, "yield", MOD, None, v)]
    expected += [(R, "resume", MOD, "for", "None"), (C, "resume", R, "yield from", "None"),
                 (N, "resume", C, "yield from", "None"),
                 (N, "return", C, None, "3"), (C, "return", R, None, "30"),
                 (R, "yield", MOD, None, "'read 3'"), (R, "resume", MOD, "for", "None"),
                 (R, "return", MOD, None, "30")]
    assert events == expected


def test_throw_close_finally(cotrace):
    run = cotrace(SAMPLES / "throw_close.py")
    assert run.returncode == 0
    assert "w1 reset because of bad" in run.stdout
    W1, W2, W3, M, GC = "worker#1", "worker#2", "worker#3", "main", "<gc>"
    assert simple(run.trace("throw_close")) == [
        (W1, "start", M, "next", None), (W1, "yield", M, None, "0"),
        (W1, "resume", M, "send", "5"), (W1, "yield", M, None, "5"),
        (W1, "throw", M, "throw", "ValueError('bad')"), (W1, "yield", M, None, "0"),
        (W1, "resume", M, "send", "2"), (W1, "yield", M, None, "2"),
        (W1, "close", M, "close", None), (W1, "return", M, None, None),
        (W2, "start", M, "next", None), (W2, "yield", M, None, "0"),
        (W2, "close", GC, "gc", None), (W2, "return", GC, None, None),
        (W3, "start", M, "next", None), (W3, "yield", M, None, "0"),
        (W3, "throw", M, "throw", "KeyError('not handled')"), (W3, "raise", M, None, "KeyError('not handled')"),
    ]


@pytest.mark.parametrize("name", ["fib", "producer_consumer", "pipeline", "throw_close", "async_producer_consumer"])
def test_every_sample_runs_like_python(cotrace, python, name):
    path = SAMPLES / (name + ".py")
    plain = python(path)
    traced = cotrace(path)
    assert (traced.returncode, traced.stdout, traced.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    assert traced.trace(name).footer is not None
