"""tracer.render.escape against the real consumers of each format.

Every hostile string goes through each escape into a real diagram (an XML
parser, Graphviz, PlantUML, Mermaid in headless chromium); the diagram must
be accepted, and the text drawn must be exactly visible(s) (round-trip), so
an escape can neither break the diagram nor be interpreted as markup.
One browser start and one JVM start for the whole file.
"""
from __future__ import annotations

import random
import unicodedata
import xml.etree.ElementTree as ET

import pytest
import validators

from tracer.render import escape
from tracer.render.escape import (dot_id, dot_string, mermaid_text, mermaid_title, plantuml_text, shorten, shorten_label,
                                  txt, visible, width, xml_attr, xml_text)

LONG = "x" * 2500 + "<&>\"';#%\\" * 280  # 5020 characters

HOSTILE = [
    "plain", "", "  ", " lead and trail ", "it's \"quoted\"", "'single'",
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<br>x<br/>y",
    "&amp; &lt; &#65; &", "&#65;", "a]b[c", "[*]", "()", "x --> y", "-->", "a;b", "#59; #lt; #35;",
    "%% comment", "%%{init: {}}%%", "line1\nline2", "crlf\r\nend", "nul\x00", "\x1b[31mred",
    "bidi\u202eevil", "zw\u200bsp", "lone\udc80", "non\ufffechar", "a\u2028b\u2029c", "\t tab",
    "private\ue000use", "unassigned\U000e0080", "emoji 🐍🎉", "漢字かな", "wide\u3000space",
    "combining e\u0301", "back\\l\\N\\n\\G\\E\\T\\H\\L\\\\", "\\", "trailing\\",
    "**bold** //it// \"\"mono\"\" --s-- __u__ ~~w~~ ~x",
    "<color:red>red</color> <b>b</b> <size:20>", "<U+0041>", "<U+003C>", "@enduml", "@startuml",
    "}", "{", "|", "a|b|c", "a: b : c", "wrap:hi", "nowrap:hi", "end", "note left", "participant",
    "`md`", "$var %date() !define x", "'comment", "/' x '/", "javascript:alert(1)", "1. item",
    "- item", "ﬂ°°65¶ß ﬂ°lt¶ß", "%s %d %n", "\\n<U+005C>&#92;", LONG,
]


def _random_strings(n: int, seed: int = 20240601) -> list[str]:
    rng = random.Random(seed)
    alphabet = "ab <>&\"';#%:|{}[]()*/_-~$\\@!=\n\t\x00\u202e\u200b\udc80漢🐍ﬂ°¶ß"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(n)]


CASES = HOSTILE + _random_strings(12)
IDS = [f"{i}:{visible(s)[:24]}" for i, s in enumerate(CASES)]
SHORT = [s for s in CASES if s is not LONG]


def _bad_chars(s: str) -> list[str]:
    return [c for c in s if unicodedata.category(c)[0] == "C"
            or unicodedata.category(c) in ("Zl", "Zp")]


# -- visible, txt, width, shorten ----------------------------------------------

@pytest.mark.parametrize("s", CASES, ids=IDS)
def test_visible_is_one_printable_line(s):
    v = visible(s)
    assert not _bad_chars(v)
    assert txt(s) == v
    assert visible(v) == v  # idempotent
    if s.isprintable():
        assert v == s  # printable text is left alone
    for f in (xml_text, xml_attr, dot_string, mermaid_text, plantuml_text):
        assert not _bad_chars(f(s)), f.__name__


def test_visible_spells_out():
    assert visible("a\nb\tc") == "a\\nb\\tc"
    assert visible("\x00\x1b\x7f") == "\\u0000\\u001b\\u007f"
    assert visible("\u202e\u200b\u2028\ufeff") == "\\u202e\\u200b\\u2028\\ufeff"
    assert visible("\udc80\ufffe\ue000") == "\\udc80\\ufffe\\ue000"
    assert visible("\U000e0001\U0010ffff") == "\\U000e0001\\U0010ffff"
    assert visible("é 漢 🐍 \u3000") == "é 漢 🐍 \u3000"


def test_width():
    assert width("") == 0
    assert width("abc") == 3
    assert width("漢字") == 4
    assert width("ｆｕｌｌ") == 8  # fullwidth
    assert width("e\u0301") == 1  # combining mark
    assert width("a\nb") == 4  # of the visible form a\nb
    assert width("\x00") == 6


@pytest.mark.parametrize("s", CASES, ids=IDS)
@pytest.mark.parametrize("w", [1, 2, 3, 5, 10, 80])
def test_shorten(s, w):
    out = shorten(s, w)
    assert width(out) <= w
    assert not _bad_chars(out)
    v = visible(s)
    if width(v) <= w:
        assert out == v
    else:
        assert out.endswith("…") and v.startswith(out[:-1])
        assert width(out) >= w - 1  # cut as late as a wide character allows


def test_shorten_wide():
    assert shorten("漢字かな", 5) == "漢字…"
    assert shorten("漢字かな", 4) == "漢…"
    assert shorten("漢字かな", 8) == "漢字かな"
    assert shorten("abcdef", 1) == "…"
    assert shorten("a\nb", 3) == "a\\…"


@pytest.mark.parametrize("s", CASES, ids=IDS)
@pytest.mark.parametrize("w", [1, 2, 3, 5, 10, 80])
def test_shorten_label_is_bounded_like_shorten(s, w):
    out = shorten_label(s, w)
    assert width(out) <= w and not _bad_chars(out)
    v = visible(s)
    assert out == v if width(v) <= w else "…" in out


def test_shorten_label_keeps_the_number_that_tells_objects_apart():
    # before: labels were cut at the end, so two objects of one long-named
    # function looked the same in text, Mermaid and the diagrams' headers
    a, b = "a_really_long_generator_function_name#12", "a_really_long_generator_function_name#13"
    assert shorten(a, 24) == shorten(b, 24)
    assert shorten_label(a, 24) == "a_really_long_ge…name#12" and shorten_label(b, 24).endswith("#13")
    assert shorten_label("Task-12345: a coroutine with a long name", 24).startswith("Task-12345")
    assert shorten_label("short#1", 24) == "short#1"
    assert shorten_label("漢字漢字漢字漢字漢字漢字漢字漢字#3", 16) == "漢字漢字漢…字#3"
    assert shorten_label("f#" + "9" * 40, 10) == shorten("f#" + "9" * 40, 10)   # a number wider than the room


# -- XML / SVG -----------------------------------------------------------------

@pytest.mark.parametrize("s", CASES, ids=IDS)
def test_xml_round_trip(s):
    doc = (f'<svg xmlns="http://www.w3.org/2000/svg"><text x="1" data-v="{xml_attr(s)}" '
           f"data-w='{xml_attr(s)}'>{xml_text(s)}</text></svg>")
    validators.check_svg(doc)
    el = ET.fromstring(doc)[0]
    assert el.text == (visible(s) or None)
    assert el.get("data-v") == visible(s)
    assert el.get("data-w") == visible(s)


def test_check_svg_rejects():
    ok = '<svg xmlns="http://www.w3.org/2000/svg"><text>x</text></svg>'
    validators.check_svg(ok)
    for bad in ['<svg xmlns="http://www.w3.org/2000/svg"><text>&</text></svg>',
                '<svg xmlns="http://www.w3.org/2000/svg"><script>1</script></svg>',
                '<svg xmlns="http://www.w3.org/2000/svg"><g onload="x()"/></svg>',
                '<svg xmlns="http://www.w3.org/2000/svg"><foreignObject/></svg>',
                '<svg><text>x</text></svg>',
                '<html xmlns="http://www.w3.org/2000/svg"/>']:
        with pytest.raises(AssertionError):
            validators.check_svg(bad)


# -- Graphviz --------------------------------------------------------------------

def _svg_texts(svg: str) -> list[str]:
    return [el.text or "" for el in ET.fromstring(svg).iter()
            if el.tag == validators.SVG_NS + "text"]


@pytest.mark.parametrize("s", CASES, ids=IDS)
def test_dot(s):
    validators.require("dot")
    src = (f"digraph G {{\n  n1 [label={dot_id(s)}];\n  n2 [label=\"{dot_string(s)}\"];\n"
           f"  n1 -> n2 [label={dot_id(s)}];\n  {dot_id(s)} -> n2;\n}}\n")
    svg = validators.check_dot(src)
    if s is LONG:
        return
    texts = _svg_texts(svg)
    # node label, node label, edge label, default label (\N) of the node named s
    want = visible(s).strip(" ")  # Graphviz trims a label's edge spaces
    assert [t.strip(" ") for t in texts].count(want) >= 4 or not want, texts


def test_check_dot_rejects():
    validators.require("dot")
    with pytest.raises(AssertionError):
        validators.check_dot("digraph { a -> }")


# -- Mermaid ---------------------------------------------------------------------

def _mermaid_drawn(s: str) -> str:
    """What Mermaid draws for mermaid_text(s): visible(s), with its two
    placeholder pairs spelt out (see escape.py)."""
    v = visible(s)
    for pair, spelt in escape._MERMAID_PAIRS:
        v = v.replace(pair, spelt)
    return v


def _mermaid_sources(s: str) -> list[str]:
    m = mermaid_text(s)
    if s is LONG:  # coded, it is 15k characters: once per diagram (mermaid's
        return [   # maxTextSize is 50000 for a whole diagram)
            f"sequenceDiagram\n  participant p1\n  p1->>p1: {m}\n",
            f"stateDiagram-v2\n  s1: {m}\n",
            f'flowchart TD\n  n1["{m}"]\n',
        ]
    return [
        f"sequenceDiagram\n  participant p1 as {m}\n  participant p2 as x\n"
        f"  p1->>p2: {m}\n  p2-->>p1: {m}\n  note over p1: {m}\n",
        f'stateDiagram-v2\n  s1: {m}\n  state "{m}" as s2\n  [*] --> s1\n  s1 --> s2: {m}\n',
        f'flowchart TD\n  n1["{m}"] -->|"{m}"| n2("{m}")\n',
    ]


# sequence: name drawn twice (top and bottom), 2 messages, 1 note; state:
# 2 states + 1 transition; flowchart: 2 nodes + 1 edge label
_MERMAID_COUNTS = [5, 3, 3]


@pytest.fixture(scope="module")
def mermaid_svgs() -> list[list[str]]:
    sources = [src for s in CASES for src in _mermaid_sources(s)]
    svgs = validators.check_mermaid(sources)
    return [svgs[i:i + 3] for i in range(0, len(svgs), 3)]


@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
def test_mermaid(mermaid_svgs, i):
    s = CASES[i]
    want = _mermaid_drawn(s)
    for kind, svg, count in zip(("sequence", "state", "flowchart"), mermaid_svgs[i],
                                _MERMAID_COUNTS):
        drawn = validators.svg_text(svg)
        if s is LONG:
            count = 1
        assert drawn.count(want) >= count or not want, (kind, want, drawn[:2000])


def test_mermaid_front_matter_titles_are_drawn_as_given():
    # before: the states and flow titles went through mermaid_text, whose
    # #entities Mermaid does not decode in front matter: "producer#95;consumer"
    titles = [s for s in SHORT] + ["producer_consumer — states"]
    sources = []
    for s in titles:
        sources.append('---\ntitle: "%s"\n---\nstateDiagram-v2\n  s1: x\n' % mermaid_title(s))
        sources.append('---\ntitle: "%s"\n---\nflowchart LR\n  n1["x"]\n' % mermaid_title(s))
    svgs = validators.check_mermaid(sources)   # parsed, drawn, no active content
    for i, s in enumerate(titles):
        want = _mermaid_drawn(s)
        for svg in svgs[2 * i: 2 * i + 2]:
            drawn = validators.svg_text(svg)   # the title and the node's "x"
            if "<" not in s:   # markup aside (DOMPurify takes out what could act), exactly the text
                assert want.strip() in drawn, (s, drawn[:200])


def test_mermaid_text_codes_what_mermaid_reads():
    m = mermaid_text("a;b#c:d<e>f\"g'h&i%j`k|l[m]n{o}p\\q_r")
    assert m == ("a#59;b#35;c#58;d#60;e#62;f#34;g#39;h#38;i#37;j#96;k#124;l#91;m#93;n#123;o"
                 "#125;p#92;q#95;r")
    assert mermaid_text("") == "#32;"
    assert mermaid_text(" x ") == "#32;x#32;"


def test_check_mermaid_rejects():
    validators.require("mermaid")
    with pytest.raises(AssertionError, match="diagram 1") as e:
        validators.check_mermaid(["graph TD\n a --> b\n", "graph TD\n a[\"x\"] -->\n",
                                  "graph TD\n a[\"" + "x" * 60000 + "\"]\n"])
    assert "diagram 2: Maximum text size" in str(e.value)


# -- PlantUML --------------------------------------------------------------------

def _plantuml_sources(s: str) -> list[str]:
    p = plantuml_text(s)
    return [
        f'@startuml\nparticipant "{p}" as p1\nparticipant "x" as p2\np1 -> p2 : {p}\n'
        f"p2 --> p1 : {p}\nnote over p1 : {p}\nnote right of p2\n{p}\nend note\n@enduml\n",
        f'@startuml\nstate "{p}" as s1\ns1 : {p}\n[*] --> s1 : {p}\n@enduml\n',
    ]


# sequence: name drawn twice, 2 messages, 2 notes; state: name, description,
# transition
_PLANTUML_COUNTS = [6, 3]


@pytest.fixture(scope="module")
def plantuml_svgs() -> list[list[str]]:
    sources = [src for s in CASES for src in _plantuml_sources(s)]
    svgs = validators.check_plantuml(sources)
    return [svgs[i:i + 2] for i in range(0, len(svgs), 2)]


@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
def test_plantuml(plantuml_svgs, i):
    s = CASES[i]
    want = visible(s).strip(" ")  # PlantUML trims a label's edge spaces
    for kind, svg, count in zip(("sequence", "state"), plantuml_svgs[i], _PLANTUML_COUNTS):
        texts = _svg_texts(svg)
        assert sum(t == want for t in texts) >= count or not want, (kind, want, texts)


def test_plantuml_text_leaves_no_markup():
    p = plantuml_text("**b** //i// <b> &#65; \\n \"q\" $x ~")
    assert not set(p) & set("*/&;\\\"$~") - set("<>U+")
    assert plantuml_text("") == "<U+0020>"


def test_check_plantuml_rejects():
    validators.require("plantuml")
    with pytest.raises(AssertionError, match="diagram 1"):
        validators.check_plantuml(["@startuml\na -> b : x\n@enduml\n",
                                   "@startuml\na -> b : x\nthis is not plantuml\n@enduml\n"])
