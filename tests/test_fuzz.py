"""The reader, fuzzed: mutated traces get a one-line TraceError or are read.

hypothesis mutates real traces (the gold traces, and the same compressed):
bytes flipped, inserted or cut, lines dropped, repeated or swapped, JSON
values replaced by other types or hostile strings, the file cut anywhere.
Reading (:func:`tracer.traceio.load`), building every model
(:func:`tracer.model.build` from the events, and from the aggregates as
drawing does) and drawing the text formats must either succeed or raise TraceError with one
line that names the file: never another exception.  The budget is fixed
(conftest.py's "ci" profile); ``--hypothesis-profile=long`` runs more.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from tracer import model, render, traceio  # noqa: E402

GOLD = sorted((Path(__file__).parent / "gold" / "traces").glob("*.trace.jsonl"))
HOSTILE = ["", "\u0000", "\ud800", "{", "\n", "x" * 5000, "\u202e", "<script>", "-1", "1e309", "NaN"]
JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.sampled_from(HOSTILE),
                        st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.sampled_from(["a", "id"]),
                                                                                  st.integers(), max_size=2))


@st.composite
def mutations(draw):
    source = draw(st.sampled_from(GOLD))
    lines = source.read_bytes().splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        op = draw(st.sampled_from(["drop", "repeat", "swap", "field", "bytes", "cut", "inject"]))
        i = draw(st.integers(0, len(lines) - 1))
        if op == "drop":
            del lines[i]
        elif op == "repeat":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "field":
            try:
                rec = json.loads(lines[i])
            except ValueError:
                continue
            if isinstance(rec, dict) and rec:
                key = draw(st.sampled_from(sorted(rec)))
                rec[key] = draw(JSON_VALUES)
                lines[i] = (json.dumps(rec) + "\n").encode("utf-8", "surrogatepass")
        elif op == "bytes":
            line = bytearray(lines[i])
            if line:
                k = draw(st.integers(0, len(line) - 1))
                line[k] = draw(st.integers(0, 255))
            lines[i] = bytes(line)
        elif op == "cut":
            line = lines[i]
            lines[i] = line[: draw(st.integers(0, max(len(line) - 1, 0)))]
            del lines[i + 1:]
        else:
            lines.insert(i, (json.dumps(draw(JSON_VALUES)) + "\n").encode("utf-8", "surrogatepass"))
    return b"".join(lines), draw(st.sampled_from(["none", "gzip", "zstd"]))


def _encode(data: bytes, codec: str) -> bytes:
    if codec == "gzip":
        import gzip
        return gzip.compress(data)
    if codec == "zstd":
        import zstandard
        return zstandard.ZstdCompressor().compress(data)
    return data


def test_mutated_traces_are_read_or_refused_in_one_line(tmp_path_factory):
    where = tmp_path_factory.mktemp("fuzz")
    counts = {"read": 0, "refused": 0}

    @settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
              max_examples=settings().max_examples * 25)
    @given(mutations())
    def one(case) -> None:
        data, codec = case
        path = where / ("fuzzed" + traceio.SUFFIXES[codec])
        path.write_bytes(_encode(data, codec))
        try:
            traceio.load(str(path))
            model.build(str(path), use_aggregates=False)
            render.render_trace(str(path), ["txt", "mermaid", "plantuml", "dot"], out_dir=str(where / "out"))
            counts["read"] += 1
        except traceio.TraceError as exc:
            text = str(exc)
            assert "\n" not in text and text.startswith(str(path)), text
            counts["refused"] += 1

    one()
    assert counts["refused"] > 0   # the mutations do reach the checks
