"""The sequence diagram's layout: positioned boxes, lines and texts.

:func:`sequence` turns a :class:`tracer.model.SequenceModel` into a
:class:`Scene` (coordinates in points, y growing downwards).  The SVG
writer and the pinned-position DOT writer (for PNG/PDF through Graphviz)
both only draw a scene, so the pictures agree.  Text is set in a monospace
font whose advance is known, which lets the layout measure labels without a
font library.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import anomalies
from .. import model as m
from . import escape

FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace"
DOT_FONT = "DejaVu Sans Mono"
FONT_SIZE = 12.0
CHAR_W = 7.3            # advance of DejaVu Sans Mono at 12 pt, rounded up
LABEL_CELLS = 56        # widest message label, in character cells
HEADER_CELLS = 32       # widest participant name
ROW = 34.0              # height of one message row
BAR = 10.0              # activation bar width

# role -> (stroke, fill, dash, text colour); shared by every writer of a scene
STYLE = {
    "header": ("#2f4f6f", "#e8f0f8", None, "#102030"),
    "header-gen": ("#2f6f3f", "#e8f6ea", None, "#10301a"),
    "header-runtime": ("#6f6f6f", "#f0f0f0", None, "#303030"),
    "lifeline": ("#8a8a8a", None, "4,4", None),
    "activation": ("#2f6f3f", "#cfe8d4", None, None),
    "call": ("#1d3d5d", None, None, "#102030"),
    "return": ("#1d3d5d", None, "6,4", "#102030"),
    "synthetic": ("#a05a00", None, "2,3", "#a05a00"),
    "end": ("#b02020", None, None, None),
    "loop": ("#7a5a9a", None, None, "#4a2a6a"),
    "loop-tab": ("#7a5a9a", "#efe6f7", None, "#4a2a6a"),
    "suspended": ("#a07000", "#fff6dd", "4,3", "#604000"),
    "anomaly": ("#c00000", None, "6,4", "#c00000"),
    "note": (None, None, None, "#404040"),
    "title": (None, None, None, "#102030"),
}
GROUP_FILLS = ("#f4f8ff", "#fff8ee", "#f3fbf3", "#fbf3fb", "#f7f7f0", "#eefaf9")


@dataclass
class Rect:
    x: float
    y: float
    w: float
    h: float
    role: str
    tip: str | None = None
    fill: str | None = None


@dataclass
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    role: str
    arrow: bool = False


@dataclass
class Text:
    x: float
    y: float                      # baseline
    text: str                     # already shortened and visible(); writers escape it
    role: str
    anchor: str = "middle"        # start / middle / end
    tip: str | None = None
    bold: bool = False

    @property
    def width(self) -> float:
        return text_width(self.text)


@dataclass
class Scene:
    width: float
    height: float
    title: str
    shapes: list = field(default_factory=list)


def text_width(text: str) -> float:
    return escape.width(text) * CHAR_W


ANOMALY_NOTES = 6       # anomalies listed under a sequence diagram (the rest: cotrace --check)
NOTE_CELLS = 100        # widest anomaly note (the text formats fit 100 columns)


def anomaly_mark(msg: m.Message) -> str:
    """``⚠ ignored GeneratorExit`` for a message that is an anomaly, else ''."""
    return "⚠ " + anomalies.name(msg.anomaly) if msg.anomaly else ""


def plain_label_of(msg: m.Message) -> str:
    text = escape.shorten(m.message_text(msg.verb, msg.values()), LABEL_CELLS)
    return text + " (synthetic)" if msg.synthetic else text


def label_of(msg: m.Message) -> str:
    """A message's label in every format: verb and values, and the anomaly
    it is, by name."""
    mark = anomaly_mark(msg)
    return plain_label_of(msg) + ("  " + mark if mark else "")


def tip_of(msg: m.Message) -> str:
    parts = ["#%d %s" % (msg.seq, msg.ev)]
    if msg.value is not None:
        parts.append(msg.value)
    if msg.examples:
        parts.append("also: " + ", ".join(msg.examples))
    if msg.synthetic:
        parts.append("(synthetic: CPython reported no event for it)")
    if msg.anomaly:
        parts.append("— %s: %s" % (anomalies.name(msg.anomaly), anomalies.explain(msg.anomaly, value=msg.value)))
    return escape.visible(" ".join(parts))


def loop_title(loop: m.Loop) -> str:
    return "loop ×%d" % loop.count


def sequence(seq: m.SequenceModel, title: str) -> Scene:
    actors = seq.actors
    col = {a.id: i for i, a in enumerate(actors)}
    names = [escape.shorten_label(a.label, HEADER_CELLS) for a in actors]
    hw = [max(text_width(n) + 20, 70.0) for n in names]
    for i, a in enumerate(actors):  # an actor alone in its group: room for the group's name
        alone = a.group is not None and all(b.group != a.group for b in actors[:i] + actors[i + 1:])
        if alone:
            hw[i] = max(hw[i], min(text_width(a.group or ""), HEADER_CELLS * CHAR_W) + 8)
    depth = _loop_depth(seq.items)
    margin = 16.0 + 12.0 * depth

    # horizontal: gaps between neighbouring lifelines grow to fit every label
    gaps = [(hw[i] + hw[i + 1]) / 2 + 24 for i in range(len(actors) - 1)]
    spans = []
    for msg in m.drawn_messages(seq.items):
        a, b = sorted((col[msg.src], col[msg.dst]))
        if a != b:
            spans.append((b - a, a, b, text_width(label_of(msg)) + 2 * BAR + 24))
    for _, a, b, need in sorted(spans):
        have = sum(gaps[a:b])
        if have < need:
            gaps[b - 1] += need - have
    xs = [margin + hw[0] / 2] if actors else []
    for g in gaps:
        xs.append(xs[-1] + g)
    groups = [a.group for a in actors]
    has_groups = any(g is not None for g in groups)

    scene = Scene(0, 0, title)
    shapes = scene.shapes
    top = 40.0 + (22.0 if has_groups else 0.0)
    shapes.append(Text(margin, 24.0, escape.shorten(title, 80), "title", "start", bold=True))
    head_bottom = top + 30
    y = head_bottom + 14

    active: dict = {}            # actor id -> y where its bar began
    ended: dict = {}             # actor id -> y of its end mark
    bars: list = []
    front: list = []             # arrows and texts, drawn above bars
    loops: list = []

    def bar_edge(actor: int, toward: float) -> float:
        x = xs[col[actor]]
        if actor in active:
            return x + BAR / 2 if toward > x else x - BAR / 2
        return x

    open_loops: list = []        # per loop being drawn: [y of its top, leftmost x, rightmost x]
    for step in steps(seq):
        if step[0] == "loop":
            y += 6
            open_loops.append([y, float("inf"), float("-inf")])
            y += 26
            continue
        if step[0] == "end-loop":
            loop = step[1]
            start, lo, hi = open_loops.pop()
            y += 8
            pad = 14.0 + 10.0 * _loop_depth(loop.body)
            x1, x2 = lo - pad, hi + pad
            tab = loop_title(loop)
            loops.append((len(open_loops), Rect(x1, start, x2 - x1, y - start, "loop", tip=tab)))
            front.append(Rect(x1, start, text_width(tab) + 14, 18, "loop-tab"))
            front.append(Text(x1 + 7, start + 13, tab, "loop", "start", bold=True))
            if open_loops:
                outer = open_loops[-1]
                outer[1], outer[2] = min(outer[1], x1), max(outer[2], x2)
            y += 6
            continue
        if step[0] == "ended":
            sx = xs[col[step[1]]]
            ended[step[1]] = y - 2
            front.append(Line(sx - 6, y - 8, sx + 6, y + 4, "end"))
            front.append(Line(sx - 6, y + 4, sx + 6, y - 8, "end"))
            continue
        _, msg, activate, deactivate = step
        y += ROW
        ay = y - 10
        sx, dx = xs[col[msg.src]], xs[col[msg.dst]]
        if activate:
            active[msg.dst] = ay
        x1, x2 = bar_edge(msg.src, dx), bar_edge(msg.dst, sx)
        role = "anomaly" if msg.anomaly else "synthetic" if msg.synthetic else ("call" if msg.entry else "return")
        front.append(Line(x1, ay, x2, ay, role, arrow=True))
        front.append(Text((x1 + x2) / 2, ay - 6, label_of(msg), role, tip=tip_of(msg)))
        if deactivate:
            start = active.pop(msg.src)
            bars.append(Rect(sx - BAR / 2, start, BAR, max(ay - start, 2.0), "activation"))
        if open_loops:
            inner = open_loops[-1]
            inner[1], inner[2] = min(inner[1], sx, dx), max(inner[2], sx, dx)

    y += 24
    for actor, start in sorted(active.items()):   # still running when the trace ends
        bars.append(Rect(xs[col[actor]] - BAR / 2, start, BAR, y - start, "activation"))
    notes = _notes(seq)
    bottom = y
    for a in actors:
        if a.id in seq.suspended:
            w = text_width("suspended") + 16
            front.append(Rect(xs[col[a.id]] - w / 2, y, w, 22, "suspended",
                              tip="%s is still suspended when the program ends" % escape.visible(a.label)))
            front.append(Text(xs[col[a.id]], y + 15, "suspended", "suspended"))
            bottom = y + 22
    y = bottom + 18
    for note in notes:
        shapes_note = Text(margin, y, note, "anomaly" if note.startswith("⚠") else "note", "start")
        front.append(shapes_note)
        y += 18

    right = max([xs[i] + hw[i] / 2 for i in range(len(actors))] + [margin + 200.0])
    right = max([right] + [r.x + r.w for _, r in loops] + [t.x + t.width for t in front
                                                          if isinstance(t, Text) and t.anchor == "start"])
    # groups (threads, tasks) behind everything
    if has_groups:
        palette: dict = {}
        i = 0
        while i < len(actors):
            g = groups[i]
            j = i
            while j + 1 < len(actors) and groups[j + 1] == g:
                j += 1
            if g is not None:
                fill = palette.setdefault(g, GROUP_FILLS[len(palette) % len(GROUP_FILLS)])
                gx1, gx2 = xs[i] - hw[i] / 2 - 8, xs[j] + hw[j] / 2 + 8
                shapes.append(Rect(gx1, top - 22, gx2 - gx1, bottom - top + 30, "group", fill=fill,
                                   tip=escape.visible(g)))
                shapes.append(Text(gx1 + 6, top - 8, escape.shorten(g, int((gx2 - gx1 - 12) / CHAR_W)),
                                   "note", "start"))
            i = j + 1
    for a in actors:
        x = xs[col[a.id]]
        shapes.append(Line(x, head_bottom, x, ended.get(a.id, bottom), "lifeline"))
    shapes.extend(r for _, r in sorted(loops, key=lambda lr: lr[0]))
    shapes.extend(bars)
    shapes.extend(front)
    for i, a in enumerate(actors):
        role = "header-gen" if a.function is not None else (
            "header-runtime" if a.kind in ("runtime", "event_loop") else "header")
        shapes.append(Rect(xs[i] - hw[i] / 2, top, hw[i], 30, role, tip=_actor_tip(a)))
        shapes.append(Text(xs[i], top + 19, names[i], role, bold=a.function is not None))
    scene.width = right + margin
    scene.height = y + 8
    return scene


def _active_kind(actor: m.Actor) -> bool:
    return actor.function is not None


def _actor_tip(a: m.Actor) -> str:
    where = ""
    if a.function is not None:
        where = " %s:%s" % (a.function[0], a.function[2])
    return escape.visible("%s (%s)%s" % (a.label, a.kind, where))


def _loop_depth(items: list) -> int:
    best = 0
    for item in items:
        if isinstance(item, m.Loop):
            best = max(best, 1 + _loop_depth(item.body))
    return best


def _notes(seq: m.SequenceModel) -> list:
    notes = []
    if not seq.actors and seq.unrecorded:
        notes.append("nothing recorded: " + seq.unrecorded)
    if seq.window is not None:
        notes.append("drawn from the first %d of %d events (loops count the repetitions among those)"
                     % (seq.window, seq.total_messages))
    if seq.elided:
        notes.append("… %d more messages not drawn (--max-messages %d)" % (seq.elided, seq.max_messages))
    if seq.folded and any(isinstance(i, m.Loop) for i in seq.items):
        notes.append("repeated runs folded: each loop shows its first iteration (%d messages in all)"
                     % seq.total_messages)
    if seq.synthetic:
        notes.append("(synthetic): a transfer CPython reported no event for, recorded by cotrace")
    if seq.limit_reached:
        notes.append("recording stopped at --max-events: later events were neither recorded nor counted")
    elif seq.dropped:
        notes.append("%d events dropped by --max-events" % seq.dropped)
    if seq.lost:
        notes.append("%d events lost at the recursion limit" % seq.lost)
    if seq.truncated:
        notes.append("the trace has no footer: the program did not finish cleanly")
    return notes + anomaly_notes(seq.anomalies)


def anomaly_notes(found: list) -> list:
    """The run's anomalies (all of it, also past what is drawn), a line each."""
    if not found:
        return []
    lines = ["⚠ %s (cotrace --check lists them):" % anomalies.summary(found)]
    for a in found[:ANOMALY_NOTES]:
        where = "%s:%s" % (a.file or "?", a.line) if a.line is not None else (a.file or "the program")
        lines.append(escape.shorten(escape.visible("⚠ %s %s%s: %s" % (
            where, a.name, " in %s" % a.function if a.function else "", a.text)), NOTE_CELLS))
    if len(found) > ANOMALY_NOTES:
        lines.append("⚠ … %d more" % (len(found) - ANOMALY_NOTES))
    return lines


def steps(seq: m.SequenceModel):
    """The conversation as the text formats walk it, with activations
    balanced: ``("msg", message, activate_dst, deactivate_src)``,
    ``("loop", loop)`` / ``("end-loop", loop)`` and ``("ended", actor_id)``
    after the message that finished an actor."""
    kinds = {a.id: _active_kind(a) for a in seq.actors}
    active: set = set()

    def walk(items):
        for item in items:
            if isinstance(item, m.Loop):
                yield ("loop", item)
                yield from walk(item.body)
                yield ("end-loop", item)
                continue
            activate = item.entry and kinds.get(item.dst, False) and item.dst not in active
            if activate:
                active.add(item.dst)
            deactivate = not item.entry and item.src in active
            if deactivate:
                active.discard(item.src)
            yield ("msg", item, activate, deactivate)
            if item.ends:
                yield ("ended", item.src)

    yield from walk(seq.items)
