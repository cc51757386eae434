"""Real validators for rendered output: an XML parser, Graphviz, PlantUML and
Mermaid (in headless chromium). Used as `import validators` from any test
module in tests/ (pytest puts tests/ on sys.path).

A checker whose tool is missing skips the test, telling how to install it
(.ci/setup-validators); with COTRACE_REQUIRE_VALIDATORS=1 (CI) it fails
instead, so a CI run cannot pass by skipping.
"""
from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
JS_DIR = HERE / "js"
CHROMIUM = "/usr/bin/chromium"
SVG_NS = "{http://www.w3.org/2000/svg}"
TIMEOUT = 300  # seconds for one batch


def require(tool: str) -> None:
    """Skip (or, under COTRACE_REQUIRE_VALIDATORS=1, fail) when tool is missing.

    tool: "dot", "plantuml" or "mermaid" (node, chromium and tests/js/node_modules).
    """
    missing = _missing(tool)
    if not missing:
        return
    msg = f"{tool} validator: {', '.join(missing)} not installed; run .ci/setup-validators"
    if os.environ.get("COTRACE_REQUIRE_VALIDATORS") == "1":
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


def _missing(tool: str) -> list[str]:
    if tool == "dot":
        return [] if shutil.which("dot") else ["dot (graphviz)"]
    if tool == "plantuml":
        return [n for n in ("plantuml", "java") if not shutil.which(n)]
    if tool == "mermaid":
        out = [] if shutil.which("node") else ["node"]
        if not os.access(CHROMIUM, os.X_OK):
            out.append(CHROMIUM)
        for pkg in ("mermaid", "playwright-core"):
            if not (JS_DIR / "node_modules" / pkg / "package.json").exists():
                out.append(f"tests/js/node_modules/{pkg}")
        return out
    raise ValueError(f"unknown validator tool {tool!r}")


def _excerpt(text: str, limit: int = 3000) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n... ({len(text)} chars)"


# -- SVG ----------------------------------------------------------------------

def check_svg(text: str) -> None:
    """Well-formed XML with an <svg> root, no script, event handler or foreignObject."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise AssertionError(f"SVG is not well-formed XML: {e}\n{_excerpt(text)}") from None
    assert root.tag == SVG_NS + "svg", f"root element is {root.tag!r}, not an SVG <svg>"
    for el in root.iter():
        local = el.tag.rsplit("}", 1)[-1] if isinstance(el.tag, str) else ""
        assert local.lower() != "script", "SVG contains a <script> element"
        assert local.lower() != "foreignobject", "SVG contains a <foreignObject> element"
        for name in el.attrib:
            attr = name.rsplit("}", 1)[-1]
            assert not attr.lower().startswith("on"), \
                f"SVG element <{local}> has an event attribute {attr}={el.attrib[name]!r}"


def svg_text(svg: str) -> str:
    """All character data of an SVG (entities decoded), without <style>,
    <script>, <title>, <desc> and comments: what a viewer draws. Works on
    XML and on the HTML-serialized SVG that Mermaid returns."""
    parser = _TextOnly()
    parser.feed(svg)
    parser.close()
    return "".join(parser.parts)


class _TextOnly(html.parser.HTMLParser):
    _SKIP = {"style", "script", "title", "desc"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self._SKIP:
            self._skipping += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


# -- Graphviz -----------------------------------------------------------------

def check_dot(text: str) -> str:
    """Compile DOT with the real `dot -Tsvg`; no error or syntax warning;
    the SVG passes check_svg. Returns the SVG."""
    require("dot")
    proc = subprocess.run(["dot", "-Tsvg"], input=text.encode("utf-8"),
                          capture_output=True, timeout=TIMEOUT)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0 and "Error" not in err and "Warning: syntax" not in err, \
        f"dot failed (exit {proc.returncode}): {err}\n--- source ---\n{_excerpt(text)}"
    svg = proc.stdout.decode("utf-8")
    check_svg(svg)
    return svg


# -- PlantUML -----------------------------------------------------------------

_PUML_ERROR = re.compile(r"Error line (\d+) in file: (.*)")


def check_plantuml(texts: list[str]) -> list[str]:
    """Render each @startuml..@enduml source with the real plantuml, all in
    one JVM start; assert no syntax error; return the SVGs (each passes
    check_svg)."""
    require("plantuml")
    if not texts:
        return []
    with tempfile.TemporaryDirectory(prefix="cotrace-puml-") as tmp:
        paths = []
        for i, text in enumerate(texts):
            p = Path(tmp) / f"d{i:04d}.puml"
            p.write_text(text, encoding="utf-8")
            paths.append(p)
        env = {**os.environ, "JAVA_TOOL_OPTIONS": "-Djava.util.prefs.userRoot=" + tmp}
        proc = subprocess.run(
            ["plantuml", "-tsvg", "-charset", "UTF-8", "-stdrpt:1", "-nbthread", "auto",
             *map(str, paths)],
            capture_output=True, env=env, timeout=TIMEOUT)
        err = proc.stderr.decode("utf-8", "replace")
        problems = []
        for m in _PUML_ERROR.finditer(err):
            i = int(Path(m.group(2).strip()).stem[1:])
            line = int(m.group(1))
            src = texts[i].splitlines()
            bad = src[line - 1] if 0 < line <= len(src) else "?"
            problems.append(f"diagram {i}, line {line}: {bad!r}\n--- source ---\n"
                            f"{_excerpt(texts[i])}")
        for m in re.finditer(r"^\S*Exception\b.*$", err, re.M):
            problems.append(f"plantuml crashed: {m.group(0)}")
        assert not problems and proc.returncode == 0, \
            f"plantuml (exit {proc.returncode}) found errors:\n" + "\n".join(problems) + \
            f"\n--- stderr ---\n{_excerpt(err)}"
        svgs = []
        for i, p in enumerate(paths):
            out = p.with_suffix(".svg")
            assert out.exists(), f"plantuml wrote no SVG for diagram {i}:\n{_excerpt(texts[i])}"
            svg = out.read_text(encoding="utf-8")
            assert "An error has occured" not in svg, \
                f"plantuml drew an error for diagram {i}:\n{_excerpt(svg_text(svg))}" \
                f"\n--- source ---\n{_excerpt(texts[i])}"
            try:
                check_svg(svg)
            except AssertionError as e:
                raise AssertionError(f"diagram {i}: {e}") from None
            svgs.append(svg)
    return svgs


# -- Mermaid ------------------------------------------------------------------

_TOO_BIG = "Maximum text size in diagram exceeded"


def check_mermaid(texts: list[str]) -> list[str]:
    """Parse and render each source with the real mermaid in headless
    chromium, one browser start for the batch; assert all succeed; return
    the SVGs (HTML-serialized, as mermaid.render gives them)."""
    if not texts:
        require("mermaid")
        return []
    results = _in_browser("check_mermaid.mjs", texts)
    for i, r in enumerate(results):  # mermaid draws this instead of failing (maxTextSize, 50000)
        if r["ok"] and _TOO_BIG in r["svg"]:
            r.update(ok=False, error=f"{_TOO_BIG} ({len(texts[i])} chars)")
    failures = [f"diagram {i}: {r['error']}\n--- source ---\n{_excerpt(texts[i])}"
                for i, r in enumerate(results) if not r["ok"]]
    assert not failures, "mermaid rejected:\n" + "\n\n".join(failures)
    for i, r in enumerate(results):
        bad = _active_html(r["svg"])
        assert not bad, f"diagram {i}: mermaid's SVG has active content {bad}" \
            f"\n--- source ---\n{_excerpt(texts[i])}"
    return [r["svg"] for r in results]


def _active_html(markup: str) -> list[str]:
    """<script> elements and on* attributes in (HTML-serialized) markup."""
    found: list[str] = []

    class Scan(html.parser.HTMLParser):
        def handle_starttag(self, tag: str, attrs: list) -> None:
            if tag == "script":
                found.append("<script>")
            found.extend(f"<{tag} {k}=...>" for k, _ in attrs if k.startswith("on"))

    Scan().feed(markup)
    return found


# -- text as a browser lays it out ---------------------------------------------


def measure_svg(texts: list[str]) -> list[dict]:
    """Each SVG's text boxes as headless chromium lays them out (one browser
    start for the batch): [{width, height, texts: [{text, x, y, w, h}]}]."""
    if not texts:
        require("mermaid")
        return []
    return _in_browser("measure_svg.mjs", texts)


def measure_nodes(texts: list[str]) -> list[dict]:
    """Each Graphviz SVG's nodes as headless chromium lays them out: the box
    of each node's outline and of its texts, and the texts outside nodes
    (tests/js/measure_nodes.mjs)."""
    if not texts:
        require("mermaid")
        return []
    return _in_browser("measure_nodes.mjs", texts)


GAP = 2.0   # px: the least room between two labels side by side


def check_graph_labels(named: dict, slack: float = 0.5) -> None:
    """Every node label of each Graphviz SVG (name -> source) inside its
    node's outline, every text inside the picture, as chromium draws them
    with the fonts the SVG names."""
    names = list(named)
    for name, measured in zip(names, measure_nodes([named[n] for n in names])):
        assert measured["nodes"], name
        for node in measured["nodes"]:
            box = node["shape"]
            assert box is not None, (name, node["title"])
            for t in node["texts"]:
                assert box["x"] - slack <= t["x"] and t["x"] + t["w"] <= box["x"] + box["w"] + slack, \
                    "%s: the label %r (x %.1f..%.1f) overflows its node %r (x %.1f..%.1f)" % (
                        name, t["text"], t["x"], t["x"] + t["w"], node["title"], box["x"], box["x"] + box["w"])
                assert box["y"] - slack <= t["y"] and t["y"] + t["h"] <= box["y"] + box["h"] + slack, \
                    (name, node["title"], t, box)
        texts = measured["others"] + [t for n in measured["nodes"] for t in n["texts"]]
        for t in texts:
            assert -slack <= t["x"] and t["x"] + t["w"] <= measured["width"] + slack, (name, t)
        # no text outside the nodes (edge labels: several self-loops on one
        # state; titles) drawn over another text (a node's own lines are stacked by Graphviz)
        others = measured["others"]
        for i, a in enumerate(others):
            for b in others[i + 1:] + [t for n in measured["nodes"] for t in n["texts"]]:
                if b.get("group", -1) == a["group"]:
                    continue   # the lines of one label
                across = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
                down = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
                # (touching counts: "×2throw(" reads as one word)
                assert not (across > -GAP and down > 1.0), \
                    "%s: %r and %r are drawn over each other (or touch)" % (name, a["text"], b["text"])


def _in_browser(script: str, texts: list[str]) -> list:
    """Run a tests/js checker over a batch (one browser start): its answer
    per text.  It needs what check_mermaid needs (node, chromium, tests/js)."""
    require("mermaid")
    with tempfile.TemporaryDirectory(prefix="cotrace-js-") as tmp:
        src = Path(tmp) / "sources.json"
        src.write_text(json.dumps(texts), encoding="utf-8")
        proc = subprocess.run(["node", str(JS_DIR / script), str(src)], capture_output=True, timeout=TIMEOUT)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, f"{script} failed (exit {proc.returncode}): {err}"
    results = json.loads(proc.stdout)
    assert len(results) == len(texts), f"{script} answered for a different batch"
    return results


def check_scene_layouts(scenes: dict, min_texts: int = 3) -> None:
    """Draw each named scene as SVG and measure it in chromium, with the
    font the SVG asks for: every text inside the picture, no two texts
    overlapping, none wider than the layout planned (CJK excepted: no CJK
    font here, the fallback glyphs differ)."""
    from tracer.render import draw, scene

    names = list(scenes)
    planned = [{t.text: t.width for t in scenes[n].shapes if isinstance(t, scene.Text)} for n in names]
    for name, measured, widths in zip(names, measure_svg([draw.to_svg(scenes[n]) for n in names]), planned):
        texts = [t for t in measured["texts"] if t["w"] > 0]
        assert len(texts) >= min_texts, name
        for t in texts:
            assert t["x"] >= 0 and t["x"] + t["w"] <= measured["width"] + 0.5, (name, t)
            assert t["y"] >= 0 and t["y"] + t["h"] <= measured["height"] + 0.5, (name, t)
            if not any(ord(c) > 0x2e7f for c in t["text"]):
                assert t["w"] <= widths[t["text"]] + 1.0, (name, t["text"], t["w"], widths[t["text"]])
        texts.sort(key=lambda t: t["y"])
        for i, a in enumerate(texts):
            for b in texts[i + 1:]:
                if b["y"] >= a["y"] + a["h"]:
                    break
                assert not _overlap(a, b), (name, a, b)


def _overlap(a, b) -> bool:
    return a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] \
        and b["y"] < a["y"] + a["h"]
