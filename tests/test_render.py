"""Diagrams: gold files per sample and format, validity by the real tools,
and every renderer over hand-made edge cases.

Gold workflow: ``python -m pytest tests/test_render.py --update-gold``
re-records the samples into tests/gold/traces/ with the running Python and
rewrites tests/gold/expected/; review the diff before committing it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tracer import model, render
from tracer.render import draw, scene, textual

from conftest import ROOT, SAMPLES, untimed_text
from validators import check_dot, check_mermaid, check_plantuml, check_scene_layouts, check_svg, svg_text

GOLD = ROOT / "tests" / "gold"
SAMPLE_NAMES = ("producer_consumer", "fib", "throw_close", "pipeline", "async_producer_consumer")
# formats whose output is cotrace's own text, compared byte for byte
GOLD_FORMATS = ("svg", "dot", "mermaid", "plantuml", "txt")
TEXT_FORMATS = ("dot", "mermaid", "plantuml", "txt")


@pytest.fixture(scope="session")
def gold_traces(request):
    traces = GOLD / "traces"
    if request.config.getoption("--update-gold"):
        traces.mkdir(parents=True, exist_ok=True)
        for name in SAMPLE_NAMES:
            subprocess.run([sys.executable, "-m", "tracer", "-q", "--no-diagrams", "-o", str(traces),
                            "samples/%s.py" % name], cwd=ROOT, check=True, capture_output=True)
    return traces


def _render_into(trace: Path, out: Path, names) -> list:
    out.mkdir(parents=True, exist_ok=True)
    here = os.getcwd()
    os.chdir(ROOT)  # source lines of the samples are found relative to the repository
    try:
        return render.render_trace(str(trace), list(names), out_dir=str(out)).outputs
    finally:
        os.chdir(here)


ASYNC_SAMPLES = ("async_producer_consumer",)   # these also have a task view


def _view_count(formats, tasks: bool) -> int:
    """Files drawn per trace: three views per format, plus the task view in
    the formats that have one when the trace has asyncio tasks."""
    return sum(len(render.FORMATS[f].views) if tasks else len(render.VIEWS) for f in formats)


@pytest.mark.parametrize("sample", SAMPLE_NAMES)
def test_gold(sample, gold_traces, tmp_path, request):
    """Rendering a committed trace gives exactly the committed pictures
    (the graph SVGs come from Graphviz and are checked for validity only)."""
    outputs = _render_into(gold_traces / ("%s.trace.jsonl" % sample), tmp_path, GOLD_FORMATS)
    expected_dir = GOLD / "expected"
    compared = 0
    for path in outputs:
        name = os.path.basename(path)
        if name.endswith((".states.svg", ".flow.svg")):
            check_svg(Path(path).read_text(encoding="utf-8"))
            continue
        expected = expected_dir / name
        if request.config.getoption("--update-gold"):
            expected_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, expected)
        assert expected.exists(), "no gold file %s: run pytest --update-gold" % expected
        got = Path(path).read_bytes()
        assert got == expected.read_bytes(), (
            "%s differs from its gold file; if the change is intended run "
            "python -m pytest tests/test_render.py --update-gold and review the diff" % name)
        compared += 1
    assert compared == _view_count(GOLD_FORMATS, sample in ASYNC_SAMPLES) - 2


def test_producer_consumer_reads_like_the_textbook(gold_traces):
    m = model.build(str(gold_traces / "producer_consumer.trace.jsonl"))
    label = {a.id: a.label for a in m.sequence.actors}
    said = [(label[x.src], label[x.dst], x.ev, model.message_text(x.verb, x.values()))
            for x in m.sequence.items]
    assert said[:8] == [
        ("main", "consumer#1", "start", "send(None)"),
        ("consumer#1", "main", "yield", "yield True"),
        ("main", "producer#1", "start", "for"),
        ("producer#1", "consumer#1", "resume", "send(5)"),
        ("consumer#1", "producer#1", "yield", "yield True"),
        ("producer#1", "main", "yield", "yield True"),
        ("main", "producer#1", "resume", "for"),
        ("producer#1", "consumer#1", "resume", "send(4)"),
    ]
    assert said[12:14] == [("consumer#1", "producer#1", "yield", "yield False"),
                           ("producer#1", "main", "yield", "yield False")]
    assert [a.label for a in m.sequence.actors] == ["main", "consumer#1", "producer#1", "<gc>"]
    consumer = m.states.functions[0]
    assert consumer.name == "consumer" and consumer.instances == 1
    assert consumer.states["L22"].label == "line 22: n = yield bool(wanted)"
    moves = {(t.src, t.dst): (t.action, t.count, t.values) for t in consumer.transitions.values()}
    assert moves[("L22", "L22")] == ("send", 2, ["5", "4"])
    assert moves[("L22", "L28")] == ("send", 1, ["3"])
    assert moves[("L28", "closed")] == ("close()", 1, [])


@pytest.fixture(scope="module")
def every_format(gold_traces, tmp_path_factory) -> dict:
    """Every sample drawn in every format: extension -> [paths]."""
    out = tmp_path_factory.mktemp("every-format")
    by_ext: dict = {}
    for sample in SAMPLE_NAMES:
        for path in _render_into(gold_traces / ("%s.trace.jsonl" % sample), out, list(render.FORMATS)):
            by_ext.setdefault(path.rsplit(".", 1)[1], []).append(Path(path))
    return by_ext


def test_every_format_is_valid(every_format):
    """What the real tools say: Graphviz compiles every DOT file and draws
    PNG and PDF; every SVG parses and holds no script; text fits 100 columns."""
    assert len(every_format["svg"]) == 3 * len(SAMPLE_NAMES) + len(ASYNC_SAMPLES)
    for p in every_format["svg"]:
        check_svg(p.read_text(encoding="utf-8"))
    for p in every_format["dot"]:
        check_dot(p.read_text(encoding="utf-8"))
    for p in every_format["png"]:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for p in every_format["pdf"]:
        assert p.read_bytes()[:5] == b"%PDF-" and b"%%EOF" in p.read_bytes()[-1024:]
    for p in every_format["txt"]:
        assert max(len(line) for line in p.read_text(encoding="utf-8").splitlines()) <= 100


def test_plantuml_and_mermaid_accept_every_sample(every_format):
    """The real PlantUML and the real Mermaid (in chromium), one batch each."""
    check_plantuml([p.read_text(encoding="utf-8") for p in every_format["puml"]])
    check_mermaid([p.read_text(encoding="utf-8") for p in every_format["mmd"]])


# -- hand-made edge cases -------------------------------------------------------------------

HEADER = {"type": "header", "format": "cotrace", "version": 1, "python": "3.12.1", "backend": "settrace",
          "argv": ["edge.py"], "target": "edge"}
HOSTILE = ['"quoted" <b>&amp;</b> ]] --> ;; #59; %% \\l \\N',
           "<script>alert(1)</script>", "line\nbreak\x00nul\u202eevil\u200b", "\udc80 \ufffe",
           "@enduml }{ | ` ${x}", "x" * 3000, "漢字" * 40]


def _obj(i, label, kind="generator", **kw):
    rec = {"type": "object", "id": i, "kind": kind, "name": label.split("#")[0], "qualname": label.split("#")[0],
           "file": "edge.py", "line": 10 + i, "label": label}  # one function per object unless line= says
    rec.update(kw)
    return rec


class Events:
    def __init__(self):
        self.seq = 0
        self.rows: list = []

    def __call__(self, ev, obj, by, via=None, value=None, line=None, **kw):
        self.seq += 1
        row = {"type": "event", "seq": self.seq, "ev": ev, "obj": obj, "by": by, "via": via, "value": value,
               "line": line, "thread": "MainThread", "task": None}
        row.update(kw)
        self.rows.append(row)


def _write(path: Path, records, footer=True) -> Path:
    lines = [json.dumps(HEADER)] + [json.dumps(r) for r in records]
    if footer:
        lines.append(json.dumps({"type": "footer", "events": sum(r["type"] == "event" for r in records),
                                 "dropped": 0, "objects": 1, "suspended": [], "running": [], "exit": 0}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _edge_cases(tmp: Path) -> dict:
    cases = {}
    cases["empty"] = _write(tmp / "empty.trace.jsonl", [])
    cases["plain"] = _write(tmp / "plain.trace.jsonl", [_obj(1, "main", "function")])
    e = Events()
    e("start", 2, 1, "next")
    cases["one"] = _write(tmp / "one.trace.jsonl", [_obj(1, "main", "function"), _obj(2, "g#1")] + e.rows)
    # 50 generators delegating with yield from, a value up and a send down
    e = Events()
    objs = [_obj(1, "main", "function")] + [_obj(i, "level%d#1" % i) for i in range(2, 52)]
    e("start", 2, 1, "next")
    for i in range(3, 52):
        e("start", i, i - 1, "yield from")
    for i in range(51, 1, -1):
        e("yield", i, i - 1 if i > 2 else 1, value="'deep'", line=20)
    for round_ in range(3):
        e("resume", 2, 1, "send", value=str(round_))
        for i in range(3, 52):
            e("resume", i, i - 1, "yield from", value=str(round_))
        for i in range(51, 1, -1):
            e("yield", i, i - 1 if i > 2 else 1, value="'deep'", line=20)
    cases["deep"] = _write(tmp / "deep.trace.jsonl", objs + e.rows)
    # hostile labels and values everywhere, threads and tasks, synthetic events, a cut-off end
    e = Events()
    objs = [_obj(1, HOSTILE[0], "function"), _obj(2, HOSTILE[1] + "#1"), _obj(3, HOSTILE[6] + "#1", "coroutine"),
            _obj(4, "w [t\u202e]", "function", thread="t\u202e")]
    for i, text in enumerate(HOSTILE):
        if i == 0:
            e("start", 2, 1, "send", line=11)
        else:
            e("resume", 2, 1, "send", value=text)
        e("yield", 2, 1, value=text, line=12 + i)
    e("start", 3, 4, "await", thread="t\u202e", task=HOSTILE[2])
    e("yield", 3, 4, value="<Future pending>", line=30, thread="t\u202e", task=HOSTILE[2])
    e("throw", 3, 4, "throw", value="ValueError(%r)" % HOSTILE[0], synthetic=True, thread="t\u202e",
      task=HOSTILE[2])
    e("raise", 3, 4, value="ValueError(%r)" % HOSTILE[0], thread="t\u202e", task=HOSTILE[2])
    # an event loop driving a task with a hostile name, waiting on a hostile label
    objs += [_obj(5, "<event loop>", "event_loop", thread="MainThread"), _obj(6, HOSTILE[4] + "#1", "coroutine")]
    e("start", 6, 5, "await", task=HOSTILE[3])
    e("yield", 6, 5, value="<Future pending>", on=HOSTILE[4], line=40, task=HOSTILE[3])
    e("resume", 6, 5, "await", value="None", task=HOSTILE[3])
    e("yield", 6, 5, value="None", on=HOSTILE[5], line=41, task=HOSTILE[3])
    e("resume", 6, 5, "await", value="None", task=HOSTILE[3])
    e("return", 6, 5, value=HOSTILE[1], line=42, task=HOSTILE[3])
    cases["hostile"] = _write(tmp / "hostile.trace.jsonl", objs + e.rows)
    # the process was killed: no footer, a cut last line
    path = _write(tmp / "cut.trace.jsonl", [_obj(1, "main", "function"), _obj(2, "g#1")] + Events().rows,
                  footer=False)
    e = Events()
    e("start", 2, 1, "next")
    e("yield", 2, 1, value="1", line=3)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("\n".join(json.dumps(r) for r in e.rows) + '\n{"type": "event", "seq": 3, "ev": "res')
    cases["cut"] = path
    return cases


def test_every_renderer_survives_the_edge_cases(tmp_path):
    cases = _edge_cases(tmp_path)
    puml, mmd = [], []
    drawings = [(name, trace, False) for name, trace in cases.items()] + [("hostile", cases["hostile"], True)]
    for name, trace, hide_loop in drawings:
        outputs = render.render_trace(str(trace), list(render.FORMATS), out_dir=str(tmp_path / name / str(hide_loop)),
                                      hide_loop=hide_loop).outputs
        assert len(outputs) == _view_count(render.FORMATS, name == "hostile"), name  # hostile has tasks
        for path in outputs:
            data = Path(path).read_bytes()
            assert data, path
            if path.endswith(".svg"):
                text = data.decode("utf-8")
                check_svg(text)
                for hostile in ("<script", "\u202e", "\x00", "\ufffe"):
                    assert hostile not in text, (path, hostile)
            elif path.endswith(".dot"):
                check_dot(data.decode("utf-8"))
            elif path.endswith(".puml"):
                puml.append(data.decode("utf-8"))
            elif path.endswith(".mmd"):
                mmd.append(data.decode("utf-8"))
            elif path.endswith(".txt"):
                text = data.decode("utf-8")
                assert all(len(line) <= 100 for line in text.splitlines()), path
                assert "\u202e" not in text and "\x00" not in text
    check_plantuml(puml)
    check_mermaid(mmd)


def test_hostile_values_are_drawn_literally(tmp_path):
    trace = _edge_cases(tmp_path)["hostile"]
    outputs = render.render_trace(str(trace), ["svg"], out_dir=str(tmp_path / "out")).outputs
    drawn = svg_text(Path(outputs[0]).read_text(encoding="utf-8"))
    assert "send(<script>alert(1)</script>)" in drawn
    assert "yield \"quoted\" <b>&amp;</b> ]] --> ;; #59; %% \\l \\N" in drawn
    assert "line\\nbreak\\u0000nul\\u202eevil\\u200b" in drawn


def test_deep_delegation_and_folding(tmp_path):
    trace = _edge_cases(tmp_path)["deep"]
    folded = model.build(str(trace), fold=True)
    seq = folded.sequence
    assert len(seq.actors) == 51
    loops = [i for i in seq.items if isinstance(i, model.Loop)]
    assert loops and loops[0].count == 3 and len(list(loops[0].messages())) == 100
    assert seq.items[0].verb == "next()" and seq.total_messages == 4 * 100
    text = textual.text_sequence(seq, "deep")
    assert "loop ×3" in text
    plain = model.build(str(trace), fold=False, max_messages=120).sequence
    assert len(plain.items) == 120 and plain.elided == 280
    assert "280 more messages not drawn (--max-messages 120)" in textual.text_sequence(plain, "deep")


def test_cut_trace_is_drawn_with_a_note(tmp_path):
    trace = _edge_cases(tmp_path)["cut"]
    m = model.build(str(trace))
    assert m.sequence.truncated and [x.ev for x in m.sequence.items] == ["start", "yield"]
    assert any("truncated last line" in w for w in m.warnings)
    assert m.sequence.suspended == [2]
    assert "did not finish cleanly" in textual.text_sequence(m.sequence, "cut")


def _generator_per_iteration(path: Path, events_of) -> Path:
    """main runs 38 fresh generators of one function in turn (objects 2..39);
    ``events_of(events, i)`` records what object i does."""
    e = Events()
    objs = [_obj(1, "main", "function")]
    for i in range(2, 40):
        objs.append(_obj(i, "g#%d" % (i - 1), line=3))
        events_of(e, i)
    return _write(path, [objs[0]] + _interleave(objs[1:], e.rows))


def test_a_fresh_generator_per_iteration_folds(tmp_path):
    """for i in range(N): list(g()) folds into one loop, though each g is a new object."""
    def run(e, i):
        e("start", i, 1, "other")
        e("yield", i, 1, value=str(i), line=3)
        e("resume", i, 1, "other", value="None")
        e("return", i, 1)
    trace = _generator_per_iteration(tmp_path / "fresh.trace.jsonl", run)
    seq = model.build(str(trace)).sequence
    assert len(seq.items) == 1 and seq.items[0].count == 38
    assert [a.label for a in seq.actors] == ["main", "g#1"]
    assert seq.items[0].body[1].values() == ["2", "3", "4"]


def _interleave(objs, rows):
    """Each object record right before its first event."""
    out, pending = [], {o["id"]: o for o in objs}
    for r in rows:
        if r["obj"] in pending:
            out.append(pending.pop(r["obj"]))
        out.append(r)
    return out


def test_round_robin_instances_are_not_folded_together(tmp_path):
    """Two live consumers served in turn stay two lifelines."""
    e = Events()
    objs = [_obj(1, "main", "function"), _obj(2, "c#1", line=4), _obj(3, "c#2", line=4)]
    e("start", 2, 1, "send")
    e("yield", 2, 1, line=5)
    e("start", 3, 1, "send")
    e("yield", 3, 1, line=5)
    for n in range(40):
        for c in (2, 3):
            e("resume", c, 1, "send", value=str(n))
            e("yield", c, 1, value="True", line=5)
    trace = _write(tmp_path / "rr.trace.jsonl", objs + e.rows)
    seq = model.build(str(trace)).sequence
    assert [a.label for a in seq.actors] == ["main", "c#1", "c#2"]
    loop = next(i for i in seq.items if isinstance(i, model.Loop))
    assert {m.dst for m in loop.messages() if m.entry} == {2, 3} and loop.count == 40


def _png_facts(data: bytes) -> tuple:
    """(width, height, distinct byte values of the pixel data) of a PNG,
    decoded with zlib: the file is whole and draws more than a blank."""
    import struct
    import zlib
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8]) + (body[9],)   # width, height, colour type
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    assert size is not None and kind == b"IEND"
    pixels = zlib.decompress(idat)
    channels = {2: 3, 6: 4, 0: 1, 4: 2}[size[2]]
    assert len(pixels) == size[1] * (1 + size[0] * channels)
    return size[0], size[1], len(set(pixels))


def test_svg_and_png_need_no_system_graphviz(tmp_path, cotrace):
    """With no dot on PATH, svg still works (WebAssembly Graphviz) and png
    too (that SVG drawn by resvg, at its size); pdf fails before running
    anything, saying how to install Graphviz."""
    bindir = Path(sys.executable).parent
    env = {"PATH": str(bindir)}
    assert shutil.which("dot", path=env["PATH"]) is None
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "tracer", "-o", str(out), str(SAMPLES / "producer_consumer.py")],
                          capture_output=True, text=True, env=dict(os.environ, **env), cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for view in ("sequence", "states", "flow"):
        svg = (out / ("producer_consumer.%s.svg" % view)).read_text(encoding="utf-8")
        check_svg(svg)
        root = ET.fromstring(svg)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "line 22: n = yield bool(wanted)" in svg_text((out / "producer_consumer.states.svg").read_text())
    proc = subprocess.run([sys.executable, "-m", "tracer", "-f", "png", "-o", str(out),
                           str(SAMPLES / "producer_consumer.py")],
                          capture_output=True, text=True, env=dict(os.environ, **env), cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for view in ("sequence", "states", "flow"):
        root = ET.fromstring((out / ("producer_consumer.%s.svg" % view)).read_text(encoding="utf-8"))
        px = [float(root.get(k).removesuffix("pt")) * (4 / 3 if root.get(k).endswith("pt") else 1)
              for k in ("width", "height")]
        width, height, values = _png_facts((out / ("producer_consumer.%s.png" % view)).read_bytes())
        assert (abs(width - px[0]) <= 1 and abs(height - px[1]) <= 1), (view, width, height, px)
        assert values > 16, view   # text and shapes, not a blank canvas
    proc = subprocess.run([sys.executable, "-m", "tracer", "-f", "pdf", "-o", str(out),
                           str(SAMPLES / "producer_consumer.py")],
                          capture_output=True, text=True, env=dict(os.environ, **env), cwd=ROOT, timeout=300)
    assert proc.returncode == 2 and "apt-get install graphviz" in proc.stderr
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1


def test_redraw_newest_trace_and_errors(cotrace, tmp_path):
    run = cotrace(SAMPLES / "fib.py")
    out = run.out_dir
    assert (out / "fib.sequence.svg").exists()
    proc = subprocess.run([sys.executable, "-m", "tracer", "-o", str(out), "-f", "txt,mermaid"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert (out / "fib.sequence.txt").read_text().startswith("fib — sequence")
    assert (out / "fib.states.mmd").exists()
    proc = subprocess.run([sys.executable, "-m", "tracer", "-f", "gif", str(out / "fib.trace.jsonl")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr == (
        "cotrace: error: unknown format 'gif'; valid formats: svg, png, pdf, dot, mermaid, plantuml, txt\n")
    bad = tmp_path / "bad.trace.jsonl"
    bad.write_text('{"type": "header", "format": "cotrace", "version": 1}\n{"type": "event", "seq": 1}\n')
    proc = subprocess.run([sys.executable, "-m", "tracer", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "cotrace: error: %s:2: event without 'ev'" % bad
    assert not list(tmp_path.glob("bad.*.svg")) and not list(tmp_path.glob(".bad*"))
    gz = cotrace("--compress", "--no-diagrams", SAMPLES / "fib.py", out=tmp_path / "gz")
    assert not list((tmp_path / "gz").glob("*.svg"))
    proc = subprocess.run([sys.executable, "-m", "tracer", "-f", "txt", str(gz.out_dir / "fib.trace.jsonl.gz")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "gz" / "fib.sequence.txt").read_text() == (out / "fib.sequence.txt").read_text()
    proc = subprocess.run([sys.executable, "-m", "tracer", "--list-formats"], capture_output=True, text=True)
    assert proc.returncode == 0 and all(name in proc.stdout for name in render.FORMATS)


def test_a_failed_program_still_gets_diagrams(cotrace, tmp_path):
    script = tmp_path / "boom.py"
    script.write_text("def g():\n    yield 1\n    raise KeyError('x')\n\nfor _ in g():\n    pass\n")
    run = cotrace(script, quiet=False)
    assert run.returncode == 1 and "KeyError" in run.stderr
    assert "diagrams:" in run.stderr.strip().splitlines()[-1]
    svg = (run.out_dir / "boom.sequence.svg").read_text(encoding="utf-8")
    assert "raise KeyError(&#39;x&#39;)" in svg or "raise KeyError('x')" in svg_text(svg)


def test_writes_are_atomic(tmp_path, monkeypatch):
    target = tmp_path / "x.svg"
    target.write_bytes(b"old")

    class Boom(Exception):
        pass

    def fail(*a, **k):
        raise Boom()

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(Boom):
        render.write_atomic(str(target), b"new")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["x.svg"]


def test_sequence_text_fits_as_a_browser_draws_it(gold_traces, tmp_path):
    """The layout measures text by character cells; chromium, with the
    font the SVG asks for, must agree: every text inside the picture, no
    two texts overlapping, no text wider than the layout planned."""
    traces = [gold_traces / ("%s.trace.jsonl" % s) for s in SAMPLE_NAMES]
    cases = _edge_cases(tmp_path)
    traces += [cases["hostile"], cases["deep"], cases["cut"]]
    traces += [cases["hostile"], gold_traces / "async_producer_consumer.trace.jsonl"]  # event loop hidden
    scenes = {}
    for i, trace in enumerate(traces):
        models = model.build(str(trace), fold=True, hide_loop=i >= len(traces) - 2)
        scenes["%s%s" % (trace.name, " (loop hidden)" if i >= len(traces) - 2 else "")] = \
            scene.sequence(models.sequence, models.title)
    check_scene_layouts(scenes, min_texts=3)


def test_graph_labels_fit_their_nodes_on_both_graphviz_paths(gold_traces, tmp_path, monkeypatch):
    """Graphviz sizes each node from its own estimate of the label's width:
    as chromium draws the SVG (with the font it names), every label must be
    inside its node's outline, with the system Graphviz and with the
    WebAssembly one a bare ``pip install`` uses (which has no font files:
    without care, monospace labels overflowed their boxes)."""
    from tracer.render import gv
    from validators import check_graph_labels

    traces = [gold_traces / ("%s.trace.jsonl" % s) for s in SAMPLE_NAMES]
    cases = _edge_cases(tmp_path)
    traces += [cases["hostile"], cases["deep"]]
    svg = render.FORMATS["svg"]
    pictures = {}
    here = os.getcwd()
    os.chdir(ROOT)  # source lines of the samples are found relative to the repository
    try:
        for trace in traces:
            models = model.build(str(trace))
            for view in ("states", "flow"):
                pictures["%s %s (system Graphviz)" % (trace.name, view)] = svg.render(models, view).decode()
        with monkeypatch.context() as patch:
            patch.setattr(gv, "system_dot", lambda: None)
            for trace in traces:
                models = model.build(str(trace))
                for view in ("states", "flow"):
                    out = svg.render(models, view).decode()
                    assert "Courier" not in out  # laid out with Courier's widths, drawn in the font the graphs use
                    pictures["%s %s (WebAssembly Graphviz)" % (trace.name, view)] = out
    finally:
        os.chdir(here)
    for text in pictures.values():
        check_svg(text)
    check_graph_labels(pictures)


def test_mermaid_stays_under_its_size_limit(tmp_path):
    """Mermaid refuses sources over 50,000 characters: long conversations of
    punctuation-heavy values are cut, with a note saying so."""
    e = Events()
    objs = [_obj(1, "main", "function"), _obj(2, "g#1")]
    e("start", 2, 1, "send")
    for i in range(600):
        e("yield", 2, 1, value="'%s%d'" % ("<&>;" * 12, i), line=5)
        e("resume", 2, 1, "send", value="[%d, {'a': (1, 2)}]" % i)
    e("yield", 2, 1, value="1", line=5)
    trace = _write(tmp_path / "big.trace.jsonl", objs + e.rows)
    text = textual.mermaid_sequence(model.build(str(trace), fold=False).sequence, "big")
    assert len(text) < 50000 and "more messages not drawn #40;Mermaid#39;s 50,000" in text
    # cut before a loop: no stray "end"; many suspended objects: their notes fit too
    e = Events()
    objs = [_obj(1, "<module>", "function")] + [_obj(i, "g#%d" % (i - 1), line=3) for i in range(2, 182)]
    for i in range(2, 182):
        e("start", i, 1, "next")
        e("yield", i, 1, value="'%s%d'" % ("<[{(" * 20, i), line=3)
    for _ in range(5):
        e("resume", 2, 1, "next", value="None")
        e("yield", 2, 1, value="'%s2'" % ("<[{(" * 20), line=3)
    footer = {"type": "footer", "events": len(e.rows), "dropped": 0, "objects": 180,
              "suspended": list(range(2, 182)), "running": [], "exit": 0}
    trace = _write(tmp_path / "cut-loop.trace.jsonl", objs + e.rows + [footer], footer=False)
    text = textual.mermaid_sequence(model.build(str(trace)).sequence, "cut")
    lines = [x.strip() for x in text.splitlines()]
    assert len(text) < 50000 and lines.count("end") == sum(x.startswith("loop ×") for x in lines) == 0
    assert sum(x.endswith(": suspended at the end") for x in lines) == 180
    check_mermaid([text])


@pytest.mark.parametrize("sample", SAMPLE_NAMES)
def test_fresh_recordings_draw_the_gold_pictures(sample, cotrace):
    """The running Python records the samples so that they draw as the gold
    files do; 3.13 closes some generators without entering them, which
    cotrace records as synthetic events (marked, otherwise the same)."""
    run = cotrace("-f", "txt", SAMPLES / ("%s.py" % sample), cwd=ROOT)
    for view in ("sequence", "states", "flow"):
        name = "%s.%s.txt" % (sample, view)
        got = (run.out_dir / name).read_text(encoding="utf-8")
        if sys.version_info >= (3, 13):
            got = got.replace(" (synthetic)", "").replace(
                "(synthetic): a transfer CPython reported no event for, recorded by cotrace\n", "")
        # (the hand-overs' times are the run's own: their counts must match)
        assert untimed_text(got) == untimed_text((GOLD / "expected" / name).read_text(encoding="utf-8")), name


def test_folding_never_reorders_drops_or_mixes_messages():
    """Random conversations over a few kinds of message: the folded items,
    unrolled, are the conversation again (up to the cap, the rest counted);
    a drawn message only borrows values from messages of its own kind; at
    most the cap of messages is drawn."""
    import random
    for trial in range(3000):
        rnd = random.Random(trial)
        kinds, n, cap = rnd.randint(1, 4), rnd.randint(0, 90), rnd.choice([5, 17, 1000])
        seq = [rnd.randrange(kinds) for _ in range(n)]
        folder = model._Folder(cap)
        for i, k in enumerate(seq):
            # the value says the kind and (in the examples) nothing else
            folder.feed(("kind", k), model.Message(i, 1, 2, "resume", "send", "%d.%d" % (k, i % 3)))
        folder.finish()
        got = list(model.unrolled(folder.items))
        assert [int(m.value.split(".")[0]) for m in got] == seq[:len(got)], (trial, seq)
        assert len(got) + folder.elided == n, (trial, seq)
        drawn = list(model.drawn_messages(folder.items))
        assert len(drawn) <= cap
        for m in drawn:
            assert all(v.split(".")[0] == m.value.split(".")[0] for v in m.values()), (trial, seq, m)


def test_none_values_in_folded_iterations(tmp_path):
    def first_returns_5(e, i):
        e("start", i, 1, "for")
        e("yield", i, 1, value=str(i), line=3)
        e("resume", i, 1, "for", value="None")
        e("return", i, 1, value="5" if i == 2 else None)
    trace = _generator_per_iteration(tmp_path / "nones.trace.jsonl", first_returns_5)
    seq = model.build(str(trace)).sequence
    ret = list(seq.items[0].messages())[-1]
    assert model.message_text(ret.verb, ret.values()) == "return 5 | None"

    def first_returns_none(e, i):
        e("start", i, 1, "for")
        e("return", i, 1, value=None if i == 2 else "5")
    trace = _generator_per_iteration(tmp_path / "nones2.trace.jsonl", first_returns_none)
    seq = model.build(str(trace)).sequence
    ret = list(seq.items[0].messages())[-1]
    assert model.message_text(ret.verb, ret.values()) == "return None | 5"
    render.render_trace(str(trace), list(render.FORMATS), out_dir=str(tmp_path / "out"))


def test_odd_but_valid_traces(tmp_path):
    """Negative line numbers, a null sender, a self-message: every format
    still draws and validates.  (An object first seen resuming, without a
    start, is refused by the reader: tests/test_traceio.py.)"""
    e = Events()
    objs = [_obj(1, "main", "function"), _obj(2, "g#1", line=1), _obj(3, "g#2", line=1)]
    e("start", 3, 1, "next")
    e("yield", 3, 1, value="0", line=-1)
    e("start", 2, 1, "send", value="None")
    e("yield", 2, None, value="1", line=-1)
    e("close", 2, 2, "close")
    e("return", 2, 1)
    e("resume", 3, 1, "next", value="None")
    e("yield", 3, 1, value="2", line=-1)
    trace = _write(tmp_path / "odd.trace.jsonl", objs + e.rows)
    models = model.build(str(trace))
    g = models.states.functions[0]
    assert g.instances == 2
    outputs = render.render_trace(str(trace), list(render.FORMATS), out_dir=str(tmp_path / "out")).outputs
    for path in outputs:
        if path.endswith(".dot"):
            svg = check_dot(Path(path).read_text(encoding="utf-8"))
            if ".states." in path:
                assert "line -1" in svg_text(svg)
    check_plantuml([Path(p).read_text(encoding="utf-8") for p in outputs if p.endswith(".puml")])
    check_mermaid([Path(p).read_text(encoding="utf-8") for p in outputs if p.endswith(".mmd")])


def test_a_program_that_changes_directory_still_gets_diagrams(cotrace, tmp_path):
    script = tmp_path / "chd.py"
    script.write_text("import os, sys\ndef g():\n    yield 1\nfor _ in g(): pass\nos.chdir('/')\nsys.exit(3)\n")
    run = cotrace("-f", "txt", script, cwd=tmp_path, out="rel-out")
    assert run.returncode == 3, run.stderr
    assert (tmp_path / "rel-out" / "chd.sequence.txt").read_text(encoding="utf-8").startswith("chd — sequence")


def test_redrawing_a_cut_trace_warns(tmp_path):
    trace = _edge_cases(tmp_path)["cut"]
    proc = subprocess.run([sys.executable, "-m", "tracer", "-f", "txt", str(trace)], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "warning: %s:6: truncated last line ignored" % trace in proc.stderr
    assert "warning: %s: no footer" % trace in proc.stderr


MANY_FUNCTIONS = '''
src = "".join("def g%d():\\n    x = yield %d\\n    yield x\\n\\n" % (i, i) for i in range(22))
exec(compile(src, __file__, "exec"))
for i in range(22):
    g = globals()["g%d" % i]()
    next(g)
    g.send(i)
'''


def _cluster_boxes(svg: str) -> list:
    """(x1, y1, x2, y2) of each cluster of a Graphviz SVG, in cluster order."""
    import re
    root = ET.fromstring(svg)
    boxes = []
    for g in root.iter("{http://www.w3.org/2000/svg}g"):
        if g.get("class") != "cluster":
            continue
        shape = next(c for c in g if c.tag.split("}")[1] in ("path", "polygon"))
        nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", shape.get("d") or shape.get("points"))]
        xs, ys = nums[0::2], nums[1::2]
        boxes.append((min(xs), min(ys), max(xs), max(ys)))
    return boxes


def test_many_state_graphs_wrap_into_rows(cotrace, tmp_path, monkeypatch):
    """Before: dot put every function's cluster side by side (a test
    suite's states graph was 127,583 pt wide, past what rasterizers take).
    Now rows of graphs.STATE_COLUMNS, one below the other, on both Graphviz
    paths."""
    from tracer.render import graphs, gv
    prog = tmp_path / "many.py"
    prog.write_text(MANY_FUNCTIONS)
    run = cotrace("--no-diagrams", prog)
    models = model.build(str(run.trace_path("many")))
    assert len(models.states.functions) == 23   # the 22 and the generator expression
    svgs = [render.FORMATS["svg"].render(models, "states").decode()]
    with monkeypatch.context() as patch:
        patch.setattr(gv, "system_dot", lambda: None)
        svgs.append(render.FORMATS["svg"].render(models, "states").decode())
    for svg in svgs:
        check_svg(svg)
        boxes = _cluster_boxes(svg)
        assert len(boxes) == 23
        rows = [boxes[i:i + graphs.STATE_COLUMNS] for i in range(0, 23, graphs.STATE_COLUMNS)]
        assert len(rows) == 6
        for upper, lower in zip(rows, rows[1:]):   # each row wholly below the one before it
            assert max(b[3] for b in upper) < min(b[1] for b in lower), (upper, lower)
        for row in rows:   # and side by side within it
            xs = sorted(row)
            assert all(a[2] <= b[0] for a, b in zip(xs, xs[1:])), row
    check_dot(graphs.states_dot(models.states, "many"))
