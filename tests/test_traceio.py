"""The trace format: writing, reading, codecs, and answering bad input with one sentence."""
import gzip
import json
import subprocess
import sys

from conftest import ROOT, _env, load_checked, untimed

import pytest

from tracer import traceio


HEADER = {"type": "header", "format": "cotrace", "version": 1, "python": "3.11.7", "backend": "settrace",
          "argv": ["x.py"], "started": "2026-01-01T00:00:00+00:00"}
OBJ = {"type": "object", "id": 1, "kind": "generator", "name": "g", "qualname": "g", "file": "x.py", "line": 1,
       "label": "g#1"}
ACTOR = {"type": "object", "id": 2, "kind": "function", "name": "<module>", "qualname": "<module>",
         "file": "x.py", "line": 1, "label": "<module>"}


def ev(seq, kind, value=None, via=None):
    return {"type": "event", "seq": seq, "t": seq * 10, "ev": kind, "obj": 1, "by": 2, "via": via,
            "value": value, "line": 2, "thread": "MainThread", "task": None}


FOOTER = {"type": "footer", "events": 2, "dropped": 0, "suspended": [], "exit": 0, "error": None}


def write(path, records, tail=""):
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail, encoding="utf-8")
    return path


def test_round_trip_of_a_recorded_trace(tmp_path):
    path = tmp_path / "t.trace.jsonl"
    calls = []
    w = traceio.TraceWriter(str(path), {k: v for k, v in dict(HEADER, version=2).items() if k != "type"},
                            encode_value=lambda v: calls.append(v) or repr(v), batch=2)
    w.append(("o", 1, "generator", "g", "g", "x.py", 1, "g#1", None))
    w.append(("o", 2, "function", "<module>", "<module>", "x.py", 1, "<module>", "MainThread"))
    w.append(("e", 1, 5, "start", 1, 2, "next", None, False, 1, "MainThread", None, False, None))
    w.append(("e", 2, 9, "yield", 1, 2, None, 42, True, 2, "MainThread", None, False, None))
    w.append(("e", 3, 10, "resume", 1, 2, "send", 10 ** 20, True, 2, "MainThread", None, False, None))
    w.append(("e", 4, 11, "yield", 1, 2, None, 'a "quoted"\n\u202e\ud800 value', False, 2, "MainThread", None, False, None))
    w.append(("e", 5, 12, "close", 1, 2, "close", None, False, 2, "MainThread", None, True, None))
    w.close({"events": 5, "dropped": 0, "suspended": [], "exit": 0, "error": None})
    trace = traceio.load(str(path))
    assert calls == [10 ** 20]          # small ints are written directly, the rest via the encoder
    assert [e["ev"] for e in trace.events] == ["start", "yield", "resume", "yield", "close"]
    assert trace.events[1]["value"] == "42" and "synthetic" not in path.read_text().splitlines()[4]
    assert trace.events[2]["value"] == repr(10 ** 20)
    assert trace.events[3]["value"] == 'a "quoted"\n\u202e\ud800 value'   # exact, even a lone surrogate
    assert trace.events[4]["synthetic"] is True
    assert trace.objects[2]["thread"] == "MainThread"
    assert trace.footer["events"] == 5 and trace.warnings == []
    # version 2 leaves out the type, null fields and the main thread's name;
    # the reader gives them back
    lines = path.read_text().splitlines()
    assert lines[3] == '{"seq":1,"t":5,"ev":"start","obj":1,"by":2,"via":"next","line":1}'
    assert all("null" not in line and "MainThread" not in line for line in lines[3:8])
    assert trace.events[0]["thread"] == "MainThread" and trace.events[0]["task"] is None
    assert trace.events[0]["value"] is None and trace.events[0]["on"] is None


def test_version_1_missing_thread_stays_unknown(tmp_path):
    path = write(tmp_path / "v1.trace.jsonl", [dict(HEADER, version=1), OBJ, ACTOR,
                                                {"type": "event", "seq": 1, "ev": "start", "obj": 1, "by": 2}])
    assert traceio.load(str(path)).events[0]["thread"] is None


def test_gzip_trace_is_read(tmp_path):
    path = tmp_path / "t.trace.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for r in (HEADER, OBJ, ACTOR, ev(1, "start"), ev(2, "yield", "1"), FOOTER):
            fh.write(json.dumps(r) + "\n")
    assert [e["ev"] for e in traceio.load(str(path)).events] == ["start", "yield"]


def test_missing_footer_and_truncated_last_line_are_accepted(tmp_path):
    path = write(tmp_path / "cut.trace.jsonl", [HEADER, OBJ, ACTOR, ev(1, "start")], tail='{"type": "event", "se')
    trace = traceio.load(str(path))
    assert len(trace.events) == 1 and trace.footer is None
    assert any(":5: truncated last line" in w for w in trace.warnings)
    assert any("no footer" in w for w in trace.warnings)


def test_nulls_may_be_omitted(tmp_path):
    short = {"type": "event", "seq": 1, "ev": "start", "obj": 1}
    trace = traceio.load(str(write(tmp_path / "s.trace.jsonl", [HEADER, OBJ, short])))
    assert trace.events[0]["value"] is None and trace.events[0]["by"] is None


BAD = [
    ("empty", [], "", ":1: empty file"),
    ("not-json", [HEADER], "this is not json\n" + json.dumps(FOOTER) + "\n", ":2: not a JSON line"),
    ("no-header", [OBJ], "", ":1: not a cotrace trace"),
    ("future-version", [dict(HEADER, version=99)], "", ":1: trace format version 99 is not supported"),
    ("unknown-event", [HEADER, OBJ, ACTOR, ev(1, "teleport")], "", ":4: unknown event kind 'teleport'"),
    ("undefined-object", [HEADER, ACTOR, ev(1, "start")], "", ":3: event refers to object 1 before its definition"),
    ("bad-seq", [HEADER, OBJ, ACTOR, dict(ev(1, "start"), seq="one")], "", ":4: event field 'seq' has the wrong type"),
    ("bool-seq", [HEADER, OBJ, ACTOR, dict(ev(1, "start"), seq=True)], "", ":4: event field 'seq' has the wrong type"),
    ("number-value", [HEADER, OBJ, ACTOR, ev(1, "start", value=5)], "", ":4: event field 'value' has the wrong type"),
    ("list-by", [HEADER, OBJ, ACTOR, dict(ev(1, "start"), by=[2])], "", ":4: event field 'by' has the wrong type"),
    ("bad-via", [HEADER, OBJ, ACTOR, ev(1, "start", via="teleport")], "", ":4: unknown via 'teleport'"),
    ("duplicate-id", [HEADER, OBJ, OBJ], "", ":3: object 1 is defined twice"),
    ("bool-id", [HEADER, dict(OBJ, id=True)], "", ":2: object field 'id' has the wrong type"),
    ("footer-events", [HEADER, OBJ, ACTOR, dict(FOOTER, events="2")], "", ":4: footer field 'events' has the wrong type"),
    ("footer-suspended", [HEADER, OBJ, ACTOR, dict(FOOTER, suspended=None)], "", ":4: footer field 'suspended' has the wrong type"),
    ("suspended-lists", [HEADER, OBJ, ACTOR, dict(FOOTER, suspended=[[1]])], "", ":4: footer field 'suspended' must be a list of object ids"),
    ("argv-numbers", [dict(HEADER, argv=[1, 2])], "", ":1: header field 'argv' must be a list of strings"),
    ("deep-json", [HEADER], "[" * 100000 + "\n", ":2: JSON nested too deeply"),
    ("after-footer", [HEADER, OBJ, ACTOR, FOOTER, ev(1, "start")], "", ":5: data after the footer"),
    ("array-line", [HEADER], "[1, 2]\n", ":2: expected a JSON object"),
    ("second-header", [HEADER, HEADER], "", ":2: a second header"),
    ("bad-kind", [HEADER, dict(OBJ, kind="spaceship")], "", ":2: object with unknown kind 'spaceship'"),
    # well-formed records that make no sense together (the order rule)
    ("resume-before-start", [HEADER, OBJ, ACTOR, ev(1, "resume")], "", ":4: seq 1: resume of object 1 before its start"),
    ("two-yields", [HEADER, OBJ, ACTOR, ev(1, "start"), ev(2, "yield"), ev(3, "yield")], "",
     ":6: seq 3: yield of object 1 while it is suspended (two exits in a row)"),
    ("two-entries", [HEADER, OBJ, ACTOR, ev(1, "start"), ev(2, "resume")], "",
     ":5: seq 2: resume of object 1 while it is running"),
    ("second-start", [HEADER, OBJ, ACTOR, ev(1, "start"), ev(2, "yield"), ev(3, "start")], "",
     ":6: seq 3: object 1 started a second time"),
    ("after-the-end", [HEADER, OBJ, ACTOR, ev(1, "start"), ev(2, "return"), ev(3, "resume")], "",
     ":6: seq 3: resume of object 1 after its end"),
    ("function-events", [HEADER, OBJ, ACTOR, dict(ev(1, "start"), obj=2)], "",
     ":4: seq 1: a start event on object 2, a function (only generators"),
    ("duplicate-seq", [HEADER, OBJ, ACTOR, ev(1, "start"), ev(1, "yield")], "",
     ":5: seq 1 follows seq 1 (sequence numbers must increase)"),
    ("decreasing-seq", [HEADER, OBJ, ACTOR, ev(5, "start"), ev(3, "yield")], "", ":5: seq 3 follows seq 5"),
    ("footer-unknown-id", [HEADER, OBJ, ACTOR, ev(1, "start"), ev(2, "yield"), dict(FOOTER, suspended=[1, 9])], "",
     ":6: footer field 'suspended' names object 9, which the trace never defined"),
    ("footer-unknown-running", [HEADER, OBJ, ACTOR, dict(FOOTER, running=[7])], "",
     ":4: footer field 'running' names object 7"),
]


@pytest.mark.parametrize("name,records,tail,message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_one_sentence_naming_file_and_line(tmp_path, name, records, tail, message):
    path = write(tmp_path / ("bad-%s.trace.jsonl" % name), records, tail)
    with pytest.raises(traceio.TraceError) as info:
        traceio.load(str(path))
    text = str(info.value)
    assert text.startswith(str(path) + ":") and message in text and "\n" not in text
    # and through the command: one line, exit 2, no traceback
    proc = subprocess.run([sys.executable, "-m", "tracer", "--events", str(path)], capture_output=True, text=True, env=_env())
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr and message in proc.stderr


def test_binary_garbage_and_missing_file(tmp_path):
    path = tmp_path / "bad-binary.trace.jsonl"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(traceio.TraceError, match=r"bad-binary.trace.jsonl:1: not UTF-8"):
        traceio.load(str(path))
    with pytest.raises(traceio.TraceError, match="cannot open trace file"):
        traceio.load(str(tmp_path / "missing.trace.jsonl"))
    gz = tmp_path / "bad-gz.trace.jsonl.gz"
    gz.write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(traceio.TraceError, match="bad-gz.trace.jsonl.gz:1: cannot read"):
        traceio.load(str(gz))


def test_corrupt_gzip_stream(tmp_path):
    gz = tmp_path / "bad-zlib.trace.jsonl.gz"
    gz.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xff\xff\xff\xff")
    with pytest.raises(traceio.TraceError, match=r"bad-zlib.trace.jsonl.gz:1: cannot read"):
        traceio.load(str(gz))


def test_odd_but_valid_files_are_listed(tmp_path):
    hostile = 'v \ud800 \u2028 \x85 \u202e \x1b[31m \n end'
    records = [dict(HEADER, argv=None), dict(OBJ, label="g\u202e#1"), ACTOR,
               dict(ev(1, "start"), thread="t\ud800"), ev(2, "yield", value=hostile), FOOTER]
    path = tmp_path / "odd.trace.jsonl"
    path.write_bytes(("\ufeff" + "".join(json.dumps(r) + "\r\n" for r in records)).encode("utf-8"))
    trace = traceio.load(str(path))
    assert trace.events[1]["value"] == hostile and trace.header["argv"] == []
    proc = subprocess.run([sys.executable, "-m", "tracer", "--events", str(path)], capture_output=True, env=_env())
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode("utf-8")  # valid UTF-8: surrogates and controls are escaped
    assert "\\ud800" in out and "\\u2028" in out and "\\u202e" in out and "\\u001b" in out
    assert "\u202e" not in out and "\x1b" not in out and len(out.splitlines()) == 4


def test_listing_a_recorded_trace(cotrace):
    run = cotrace(ROOT / "samples" / "producer_consumer.py")
    path = run.trace_path("producer_consumer")
    proc = subprocess.run([sys.executable, "-m", "tracer", "--events", str(path)], capture_output=True, text=True, env=_env())
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1].split() == ["1", "main", "->", "consumer#1", "start", "send"]
    assert lines[4].split() == ["4", "producer#1", "->", "consumer#1", "resume", "send", "5"]
    assert lines[-1].startswith("-- 18 events, 0 dropped, exit 0")
    compressed = cotrace("--compress", ROOT / "samples" / "producer_consumer.py")
    gz = compressed.out_dir / "producer_consumer.trace.jsonl.gz"
    assert len(load_checked(gz).events) == 18


def _recorded_zstd(tmp_path, events=5000, batch=256):
    """A zstd trace written by the writer: one frame per batch."""
    path = tmp_path / "z.trace.jsonl.zst"
    w = traceio.TraceWriter(str(path), {k: v for k, v in dict(HEADER, version=2).items() if k != "type"},
                            encode_value=repr, batch=batch)
    w.append(("o", 1, "generator", "g", "g", "x.py", 1, "g#1", None))
    w.append(("o", 2, "function", "<module>", "<module>", "x.py", 1, "<module>", "MainThread"))
    for seq in range(1, events + 1):
        entry = "start" if seq == 1 else "resume"
        w.append(("e", seq, seq * 7, entry if seq % 2 else "yield", 1, 2, "send" if seq % 2 else None,
                  None if seq == 1 else seq, seq > 1, 2, "MainThread", None, False, None))
        if len(w.buf) >= w.batch:
            w.flush()
    w.close({"events": events, "dropped": 0, "suspended": [], "exit": 0, "error": None})
    return path


def test_zstd_is_the_default_and_small(tmp_path):
    assert traceio.DEFAULT_CODEC == "zstd"
    path = _recorded_zstd(tmp_path)
    assert path.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"
    trace = traceio.load(str(path))
    assert len(trace.events) == 5000 and trace.footer["events"] == 5000 and trace.warnings == []
    assert [e["value"] for e in trace.events[:3]] == [None, "2", "3"]
    assert path.stat().st_size / 5000 < 25     # bytes per event on disk


def test_zstd_frames_are_independent(tmp_path):
    # every batch is a whole frame: the standard tool reads the file as one
    # stream of JSON Lines, and each frame decodes on its own
    import zstandard
    path = _recorded_zstd(tmp_path, events=1000, batch=100)
    data = path.read_bytes()
    lines = zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True).read().splitlines()
    assert len(lines) == 1 + 2 + 1000 + 1 + 1   # header, objects, events, aggregates, footer
    first = zstandard.ZstdDecompressor().decompressobj()
    head = first.decompress(data)
    assert first.eof and head.count(b"\n") == 1 and b'"header"' in head   # the header is its own frame


@pytest.mark.parametrize("keep", [0.97, 0.75, 0.5, 0.2])
def test_zstd_trace_cut_anywhere_is_readable(tmp_path, keep):
    # a writer killed in the middle of a frame: what came before is read,
    # with the same warnings as a cut plain trace
    path = _recorded_zstd(tmp_path, events=4000, batch=200)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    trace = traceio.load(str(path))
    assert trace.footer is None and any("no footer" in w for w in trace.warnings)
    assert 0 < len(trace.events) <= 4000
    assert [e["seq"] for e in trace.events] == list(range(1, len(trace.events) + 1))


def test_zstd_trace_cut_in_its_index_is_whole(tmp_path):
    # the last bytes are the index of the aggregates: without it the trace
    # is whole, only its aggregates are found by a pass over the events
    path = _recorded_zstd(tmp_path, events=400, batch=100)
    path.write_bytes(path.read_bytes()[:-3])
    trace = traceio.load(str(path))
    assert len(trace.events) == 400 and trace.footer is not None and trace.warnings == []
    assert traceio.read_tail(str(path)) is None


def test_corrupt_zstd_is_one_sentence(tmp_path):
    path = _recorded_zstd(tmp_path, events=2000, batch=200)
    data = bytearray(path.read_bytes())
    data[len(data) // 2: len(data) // 2 + 16] = b"\xff" * 16
    bad = tmp_path / "bad-zstd.trace.jsonl.zst"
    bad.write_bytes(bytes(data))
    with pytest.raises(traceio.TraceError, match=r"bad-zstd.trace.jsonl.zst:\d+: cannot read trace file"):
        traceio.load(str(bad))
    proc = subprocess.run([sys.executable, "-m", "tracer", "--events", str(bad)], capture_output=True, text=True,
                          env=_env())
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_jsonl_export_and_plain_codec(cotrace, tmp_path):
    run = cotrace(ROOT / "samples" / "producer_consumer.py")
    path = run.trace_path("producer_consumer")
    assert path.name.endswith(".trace.jsonl.zst")
    proc = subprocess.run([sys.executable, "-m", "tracer", "--jsonl", str(path)], capture_output=True, text=True,
                          env=_env())
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert json.loads(lines[0])["type"] == "header" and json.loads(lines[-1])["type"] == "footer"
    plain = cotrace("--codec", "none", ROOT / "samples" / "producer_consumer.py", out=tmp_path / "plain")
    text = (tmp_path / "plain" / "producer_consumer.trace.jsonl").read_text()
    # the same records, modulo times and the start stamp
    def scrub(line):
        rec = untimed(json.loads(line))
        rec.pop("t", None), rec.pop("started", None)
        return rec
    assert [scrub(x) for x in text.splitlines()] == [scrub(x) for x in lines]


def test_big_trace_warns_once(tmp_path, monkeypatch):
    monkeypatch.setattr(traceio, "BIG_TRACE", 2000)
    sizes = []
    path = tmp_path / "big.trace.jsonl"
    w = traceio.TraceWriter(str(path), {"format": "cotrace", "version": 2}, encode_value=repr, batch=10,
                            on_big=sizes.append)
    w.append(("o", 1, "generator", "g", "g", "x.py", 1, "g#1", None))
    for seq in range(1, 500):
        kind = "yield" if seq % 2 == 0 else ("start" if seq == 1 else "resume")
        w.append(("e", seq, seq, kind, 1, None, None, seq, True, 2, "MainThread", None, False, None))
        if len(w.buf) >= w.batch:
            w.flush()
    w.close({"events": 499, "dropped": 0, "suspended": [], "exit": 0, "error": None})
    assert len(sizes) == 1 and sizes[0] >= 2000 and w.bytes == path.stat().st_size


def test_orjson_and_stdlib_decoders_agree(tmp_path):
    # the fast decoder hands anything it refuses to the stdlib one: lone
    # surrogates, NaN; both give the same records (orjson reads an int past
    # 64 bits as a float: cotrace writes none, and a field's type is checked)
    odd = ['{"seq":1,"ev":"yield","obj":1,"value":"\\ud800 x"}',
           '{"seq":3,"ev":"yield","obj":1,"value":"ok","nan":NaN}',
           '{"seq":4,"ev":"yield","obj":1,"value":"\\u2028 \\"q\\" \\u00e9"}']
    traceio._fast_decoder()
    assert traceio._orjson is not None
    for line in odd:
        assert repr(traceio._raw_decode(line)[0]) == repr(json.loads(line))


def test_zstd_lines_split_at_newlines_only(tmp_path):
    # JSON allows a raw U+2028 / U+0085 inside a string (another tool may
    # write one); the zstd reader must not split the line there, and a bad
    # UTF-8 byte is reported on its own line
    import zstandard
    records = [dict(HEADER, version=3), OBJ, ACTOR, ev(1, "start"), ev(2, "yield", "a\u2028b\x85c"), FOOTER]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    path = tmp_path / "sep.trace.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(text.encode("utf-8")))
    trace = traceio.load(str(path))
    assert trace.events[1]["value"] == "a\u2028b\x85c" and trace.footer is not None
    bad = tmp_path / "bad-utf8.trace.jsonl.zst"
    lines = text.encode("utf-8").split(b"\n")
    lines[4] = lines[4].replace(b"yield", b"yi\xffeld")
    bad.write_bytes(zstandard.ZstdCompressor().compress(b"\n".join(lines)))
    with pytest.raises(traceio.TraceError, match=r"bad-utf8.trace.jsonl.zst:5: not UTF-8 text"):
        traceio.load(str(bad))


@pytest.mark.parametrize("core", ["python"] + (["c"] if __import__("tracer.record.core", fromlist=["x"]).c_available()[0]
                                               else []))
def test_an_event_recorded_during_a_flush_is_written_after_its_batch(tmp_path, core):
    # a gc callback while a batch is formatted records an event, and the
    # sink's time-based flush wrote it at once: before the batch it follows
    path = tmp_path / "t.trace.jsonl"
    w = None

    def encode(v):
        if v == 10 ** 20:   # (formatting seq 2's value) an event arrives now, and asks to be written
            w.append(("e", 3, 12, "resume", 1, 2, "send", None, False, 2, "MainThread", None, False, None))
            w.flush()
        return repr(v)

    w = traceio.TraceWriter(str(path), {k: v for k, v in dict(HEADER, version=2).items() if k != "type"},
                            encode_value=encode, core=core)
    w.append(("o", 1, "generator", "g", "g", "x.py", 1, "g#1", None))
    w.append(("o", 2, "function", "<module>", "<module>", "x.py", 1, "<module>", "MainThread"))
    w.append(("e", 1, 5, "start", 1, 2, "next", None, False, 1, "MainThread", None, False, None))
    w.append(("e", 2, 9, "yield", 1, 2, None, 10 ** 20, True, 2, "MainThread", None, False, None))
    w.flush()
    w.close({"events": 3, "dropped": 0, "suspended": [], "exit": 0, "error": None})
    assert [e["seq"] for e in traceio.load(str(path)).events] == [1, 2, 3]
