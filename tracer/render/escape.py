"""Make any string safe to put into each output format.

Values drawn in diagrams are reprs of user data: they may hold quotes,
markup, statement separators, control and bidi characters, lone surrogates.
Every function here first applies visible(), so no format ever receives a
control, format (bidi, zero-width), surrogate, private-use or unassigned
character, then escapes what that format would interpret. Each escape is a
table, built once; the tests check each against the real tool (Graphviz,
PlantUML, Mermaid in a browser, an XML parser) and check that the text
drawn is exactly visible(text).
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = [
    "visible", "txt", "width", "shorten", "xml_text", "xml_attr",
    "dot_string", "dot_id", "mermaid_text", "mermaid_title", "plantuml_text",
]

_NAMED = {"\n": "\\n", "\t": "\\t"}


@lru_cache(maxsize=None)
def _hidden(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat[0] == "C" or cat in ("Zl", "Zp")


def _code(ch: str) -> str:
    n = ord(ch)
    return f"\\u{n:04x}" if n <= 0xFFFF else f"\\U{n:08x}"


def visible(text: str) -> str:
    """One printable line: \\n, \\t and every C*/Zl/Zp character spelt out."""
    if text.isprintable():  # fast path: no C*, Zl, Zp (nor Zs but space)
        return text
    return "".join(
        _NAMED.get(c) or (_code(c) if _hidden(c) else c) for c in text)


txt = visible  # terminal-safe is the same as visible


def _cell(ch: str) -> int:
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def width(text: str) -> int:
    """Monospace display cells of visible(text): wide/fullwidth 2, marks 0."""
    return sum(_cell(c) for c in visible(text))


def shorten(text: str, max_width: int) -> str:
    """visible(text) in at most max_width cells, ending in … when cut."""
    s = visible(text)
    if width(s) <= max_width:
        return s
    room, used, end = max(max_width, 1) - 1, 0, 0  # 1 cell for the ellipsis
    for i, c in enumerate(s):
        w = _cell(c)
        if used + w > room:
            break
        used += w
        end = i + 1
    return s[:end] + "…"


_NUMBERED = re.compile(r"[#-]\d+$")   # the #N of an object label, the -N of Task-N


def _take(chars, room: int) -> int:
    """How many of ``chars`` fit in ``room`` cells."""
    used = n = 0
    for c in chars:
        w = _cell(c)
        if used + w > room:
            break
        used += w
        n += 1
    return n


def shorten_label(text: str, max_width: int) -> str:
    """A name in at most max_width cells, cut in the middle when too long:
    its end, and the number that tells two objects of one function apart
    (``#12``, ``Task-12``), always kept."""
    s = visible(text)
    if width(s) <= max_width:
        return s
    m = _NUMBERED.search(s)
    room = max(max_width, 1) - 1                      # 1 cell for the ellipsis
    tail_room = max(width(s[m.start():]) if m else 0, room // 3)
    if tail_room >= room:                               # a number wider than the room
        return shorten(s, max_width)
    tail = _take(reversed(s), tail_room)
    head = _take(s, room - width(s[len(s) - tail:]))
    return s[:head] + "…" + s[len(s) - tail:]


def _table(chars: str, fmt: str) -> dict[int, str]:
    return {ord(c): fmt.format(ord(c)) for c in chars}


# visible() already removed what XML 1.0 forbids (C0 controls, surrogates,
# U+FFFE/U+FFFF); quotes are coded in text too, so one table serves both.
_XML = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord('"'): "&quot;",
        ord("'"): "&#39;"}


def xml_text(text: str) -> str:
    """Content of an XML/SVG text node."""
    return visible(text).translate(_XML)


def xml_attr(text: str) -> str:
    """Content of a double- (or single-) quoted XML attribute value."""
    return visible(text).translate(_XML)


# Graphviz decodes HTML entities in every label (&amp; is drawn "&"), and
# takes a node name starting with % for one of its internal ids.
_DOT = {ord("\\"): "\\\\", ord('"'): '\\"', ord("&"): "&amp;", ord("%"): "&#37;"}


def dot_string(text: str) -> str:
    """Body of a DOT "..." string, drawn as visible(text): backslash doubled
    (no \\l, \\N... escape), quote escaped, & and % as entities."""
    return visible(text).translate(_DOT)


def dot_id(text: str) -> str:
    """A complete quoted DOT ID."""
    return '"' + dot_string(text) + '"'


# Mermaid: entity codes #NN; are turned into &#NN; in the SVG after layout.
# Every ASCII punctuation character but . and , is coded (_ too: state
# labels take __x__ as markdown). Mermaid keeps entities as ﬂ°°NN¶ß while it
# lays out, then replaces ﬂ°° by &#, ﬂ° by & and ¶ß by ; in the whole SVG,
# whatever their origin, and a coded ﬂ is decoded before that in state
# diagrams and flowcharts: so those two pairs are spelt like visible() does.
_PUNCT = "".join(chr(c) for c in range(0x21, 0x7F) if not chr(c).isalnum())
_MERMAID = _table(_PUNCT.replace(".", "").replace(",", ""), "#{};")
_MERMAID_PAIRS = (("ﬂ°", "\\ufb02°"), ("¶ß", "\\u00b6ß"))


def _edge_spaces(s: str, code: str) -> str:
    """Code leading and trailing spaces, which parsers strip."""
    core = s.strip(" ")
    if not core:  # nor can a label be empty
        return code * max(len(s), 1)
    lead = len(s) - len(s.lstrip(" "))
    trail = len(s) - len(s.rstrip(" "))
    return code * lead + core + code * trail


def mermaid_text(text: str) -> str:
    """Mermaid message, alias, note, and quoted state/flowchart label text."""
    s = visible(text)
    for pair, spelt in _MERMAID_PAIRS:
        s = s.replace(pair, spelt)
    return _edge_spaces(s.translate(_MERMAID), "#32;")


def mermaid_title(text: str) -> str:
    """The inside of the double-quoted YAML ``title:`` of a Mermaid diagram's
    front matter.  Mermaid decodes no #entities there (``#95;`` was drawn
    as such): YAML's own escapes are the only ones, and the text is drawn
    as text, after DOMPurify has taken out markup that could act (so a
    title holding HTML such as ``<img onerror=...>`` loses that, harmlessly)."""
    s = visible(text)
    for pair, spelt in _MERMAID_PAIRS:   # Mermaid's own placeholders are decoded here too
        s = s.replace(pair, spelt)
    return s.replace("\\", "\\\\").replace('"', '\\"')


# PlantUML: <U+XXXX> is decoded in every label after creole and HTML-like
# markup, in one pass (so a coded < cannot start a new <U+...>). &#NN; would
# be too, but it is decoded before <U+...> and through a Java regex
# replacement, where a decoded \\ or $ crashes PlantUML (1.2020).
# PlantUML strips a label's leading and trailing spaces, coded or not, but
# an empty label can be a syntax error: a blank one is coded.
_PLANTUML = _table(_PUNCT, "<U+{:04X}>")


def plantuml_text(text: str) -> str:
    """PlantUML message label, quoted display name, state text, note."""
    s = visible(text).translate(_PLANTUML)
    return s if s.strip(" ") else "<U+0020>" * max(len(s), 1)
