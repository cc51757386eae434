"""Writers of a :class:`~tracer.render.scene.Scene`: SVG (by hand, no
dependency) and DOT with pinned positions (drawn by Graphviz's ``neato -n2``
into PNG and PDF).  Both only translate shapes; neither decides anything."""
from __future__ import annotations

from . import escape
from .scene import DOT_FONT, FONT, FONT_SIZE, STYLE, Line, Rect, Scene, Text


def _n(v: float) -> str:
    """A coordinate: at most two decimals, no trailing zeros (deterministic)."""
    s = "%.2f" % v
    return s.rstrip("0").rstrip(".") if "." in s else s


def to_svg(scene: Scene) -> str:
    a = escape.xml_attr
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" '
           'font-family="%s" font-size="%s">' % (_n(scene.width), _n(scene.height), _n(scene.width),
                                                  _n(scene.height), a(FONT), _n(FONT_SIZE)),
           "<title>%s</title>" % escape.xml_text(scene.title),
           '<defs><marker id="head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" '
           'markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/>'
           '</marker>',
           '<marker id="head-call" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" markerHeight="9" '
           'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker>' % STYLE["call"][0],
           '<marker id="head-return" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" markerHeight="9" '
           'orient="auto"><path d="M0,1 L10,5 L0,9" fill="none" stroke="%s" stroke-width="1.5"/></marker>'
           % STYLE["return"][0],
           '<marker id="head-synthetic" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" '
           'markerHeight="9" orient="auto"><path d="M0,1 L10,5 L0,9" fill="none" stroke="%s" '
           'stroke-width="1.5"/></marker>' % STYLE["synthetic"][0]]
    if any(isinstance(s, Line) and s.role == "anomaly" for s in scene.shapes):
        out[-1] += ('<marker id="head-anomaly" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" '
                    'markerHeight="9" orient="auto"><path d="M0,1 L10,5 L0,9" fill="none" stroke="%s" '
                    'stroke-width="1.5"/></marker>' % STYLE["anomaly"][0])
    out[-1] += '</defs>'
    out += ['<rect x="0" y="0" width="%s" height="%s" fill="#ffffff"/>' % (_n(scene.width), _n(scene.height))]
    for s in scene.shapes:
        if isinstance(s, Rect):
            stroke, fill, dash, _ = STYLE.get(s.role, ("#c8d0dc", None, None, None))
            fill = s.fill or fill or "none"
            el = '<rect x="%s" y="%s" width="%s" height="%s" fill="%s" stroke="%s"%s/>' % (
                _n(s.x), _n(s.y), _n(s.w), _n(s.h), fill, stroke or "none",
                ' stroke-dasharray="%s"' % dash if dash else "")
        elif isinstance(s, Line):
            stroke, _, dash, _ = STYLE[s.role]
            el = '<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"%s%s%s/>' % (
                _n(s.x1), _n(s.y1), _n(s.x2), _n(s.y2), stroke,
                ' stroke-width="2"' if s.role in ("end", "anomaly") else "",
                ' stroke-dasharray="%s"' % dash if dash else "",
                ' marker-end="url(#head-%s)"' % s.role if s.arrow else "")
        else:
            assert isinstance(s, Text)
            colour = STYLE[s.role][3] or "#000000"
            el = ('<text x="%s" y="%s" text-anchor="%s" fill="%s"%s stroke="#ffffff" stroke-width="4" '
                  'stroke-linejoin="round" paint-order="stroke" xml:space="preserve">%s</text>') % (
                _n(s.x), _n(s.y), s.anchor, colour, ' font-weight="bold"' if s.bold else "",
                escape.xml_text(s.text))
        tip = getattr(s, "tip", None)
        out.append("<g><title>%s</title>%s</g>" % (escape.xml_text(tip), el) if tip else el)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def to_dot(scene: Scene) -> str:
    """The scene as a DOT graph whose every node is pinned (``neato -n2``)."""
    h = scene.height
    q = escape.dot_id
    lines = ["digraph sequence {",
             "  // positions are pinned: render with  neato -n2 -Tpng",
             "  graph [layout=neato, splines=line, outputorder=edgesfirst, bgcolor=white, pad=0.1, "
             "tooltip=%s];" % q(scene.title),
             "  node [fontname=%s, fontsize=%s, margin=0, fixedsize=true];" % (q(DOT_FONT), _n(FONT_SIZE)),
             "  edge [arrowsize=0.7];"]
    points = 0

    def point(x: float, y: float) -> str:
        nonlocal points
        points += 1
        lines.append('  p%d [shape=point, width=0, height=0, style=invis, pos="%s,%s"];'
                     % (points, _n(x), _n(h - y)))
        return "p%d" % points

    n = 0
    for s in scene.shapes:
        n += 1
        if isinstance(s, Rect):
            stroke, fill, dash, _ = STYLE.get(s.role, ("#c8d0dc", None, None, None))
            fill = s.fill or fill
            if s.role == "group" and fill:
                fill += "60"  # Graphviz draws nodes over edges: let lifelines and arrows show through
            style = ",".join(x for x in ("filled" if fill else "", "dashed" if dash else "") if x) or "solid"
            lines.append('  s%d [shape=box, label="", pos="%s,%s", width=%s, height=%s, style="%s", '
                         'color="%s", fillcolor="%s"%s];' % (
                             n, _n(s.x + s.w / 2), _n(h - s.y - s.h / 2), _n(s.w / 72), _n(s.h / 72), style,
                             stroke or "transparent", fill or "transparent",
                             ", tooltip=%s" % q(s.tip) if s.tip else ""))
        elif isinstance(s, Line):
            stroke, _, dash, _ = STYLE[s.role]
            a, b = point(s.x1, s.y1), point(s.x2, s.y2)
            lines.append('  %s -> %s [color="%s", style=%s, arrowhead=%s%s];' % (
                a, b, stroke, "dashed" if dash else "solid",
                ("normal" if s.role == "call" else "vee") if s.arrow else "none",
                ", penwidth=2" if s.role in ("end", "anomaly") else ""))
        else:
            assert isinstance(s, Text)
            w = s.width
            cx = s.x + w / 2 if s.anchor == "start" else s.x - w / 2 if s.anchor == "end" else s.x
            colour = STYLE[s.role][3] or "#000000"
            lines.append('  s%d [shape=plaintext, label=%s, pos="%s,%s", width=0, height=0, '
                         'fixedsize=false, style=filled, fillcolor=white, fontcolor="%s"%s%s];' % (
                             n, q(s.text), _n(cx), _n(h - s.y + FONT_SIZE * 0.35), colour,
                             ', fontname="%s Bold"' % DOT_FONT if s.bold else "",
                             ", tooltip=%s" % q(s.tip) if s.tip else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"
