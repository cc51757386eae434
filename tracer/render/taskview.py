"""The task view: one swimlane per asyncio task, running and waiting.

:func:`tasks_scene` lays a :class:`tracer.taskmodel.TasksModel` out as a
:class:`~tracer.render.scene.Scene` (so :mod:`draw` writes it as SVG, or as
pinned DOT for PNG/PDF); :func:`tasks_text` writes it for a terminal.

The x axis is the order of switches (hand-overs to and from the event
loop), one step each, not time: a running segment lasts microseconds, a
wait can last seconds.  Durations are in the tooltips and the text.  Steps
widen so that each wait can show the first few cells (WAIT_CELLS) of what it
waits on; a label that does not fit is shortened, the full one is in the
tooltip.
"""
from __future__ import annotations

from ..taskmodel import Lane, Segment, TasksModel
from . import escape
from .scene import CHAR_W, Line, Rect, Scene, Text, text_width

NAME_CELLS = 24         # widest task name
# room for a wait's label, in cells: steps widen for it, by the first of these
# that keeps the axis within MAX_AXIS points (26,667 pixels in a 96 dpi PNG;
# Graphviz's cairo draws at most 32,767)
WAIT_CELLS = (14, 12, 10, 8, 6, 4)
MAX_AXIS = 20000.0
OPEN_CELLS = 40         # room for the label of a wait still open at the end (the last step widens)
MIN_CELLS = 3           # a shortened label needs room for this many cells, else only the tooltip
STEP = 12.0             # narrowest step between two switches
TAIL = 24.0             # narrowest step after the last switch drawn
LANE = 30.0             # height of a lane
BAR_H = 18.0            # height of a bar
PAD = 4.0               # room between a bar's edge and its text
MARGIN = 16.0
TOP = 56.0              # y of the first lane
BAND_FILL = "#f4f8ff"   # every other lane's background
CANCEL_FILL = "#f6caca"  # a run resumed by a CancelledError (role "end": red outline)
TEXT_WIDTH = 100

AXIS_NOTE = "x: order of switches to and from the event loop, not to time scale (durations in tooltips)"
LEGEND = (("activation", None, "running"), ("suspended", None, "waiting on (what it awaits)"),
          ("end", CANCEL_FILL, "resumed by cancellation"), ("x", None, "ended by an exception"))


# -- labels shared by the picture and the text ---------------------------------------------

def duration(ns) -> str:
    """A duration in nanoseconds, in the unit that reads best; ``?`` when unknown."""
    if ns is None or ns < 0:
        return "?"
    if ns < 1000:
        return "%d ns" % ns
    if ns < 1_000_000:
        return "%.1f µs" % (ns / 1e3)
    if ns < 1_000_000_000:
        return "%.2f ms" % (ns / 1e6)
    return "%.2f s" % (ns / 1e9)


def seg_duration(seg: Segment, model: TasksModel) -> str:
    """Its duration; for a segment still open at the end, at least how long it lasted."""
    if seg.end is None:
        if seg.t0 is None or model.last_t is None:
            return "?"
        return "≥" + duration(model.last_t - seg.t0)
    return duration(seg.duration)


def switches_of(seg: Segment) -> str:
    """``3–4``: the switches (1-based) that began and ended it; ``3–…`` if still open."""
    end = "…" if seg.end is None else str(seg.end + 1)
    return ("?" if seg.partial else str(seg.start + 1)) + "–" + end


def wait_text(seg: Segment) -> str:
    """What a wait says inside its bar (before escaping)."""
    label = seg.label or "?"
    return "still waiting on " + label if seg.end is None else label


def state_text(lane: Lane) -> str:
    """How the task is at the end of the trace."""
    if lane.state == "finished":
        return "finished: return %s" % (lane.result if lane.result is not None else "None")
    if lane.state == "failed":
        return "failed: raise %s" % (lane.result or "?")
    if lane.state == "cancelled":
        return "cancelled: raise %s" % (lane.result or "CancelledError")
    if lane.state == "waiting":
        return "still waiting on %s" % (lane.waiting_on or "?")
    if lane.state == "running":
        return "still running"
    return "never handed over by the event loop"


def lane_title(lane: Lane) -> str:
    """``Task-2 (producer#1): finished: return 'produced'``"""
    coroutine = " (%s)" % lane.coroutine if lane.coroutine else ""
    return "%s%s: %s" % (lane.name, coroutine, state_text(lane))


def lane_totals(lane: Lane) -> str:
    """``ran 4 times (427.9 µs), waited 3 times (1.86 ms)``: known durations only."""
    s = "ran %d time%s (%s), waited %d time%s (%s)" % (
        lane.runs, "" if lane.runs == 1 else "s", _total(lane.run_ns, lane.run_untimed, lane.runs),
        lane.waits, "" if lane.waits == 1 else "s", _total(lane.wait_ns, lane.wait_untimed, lane.waits))
    if lane.cancellations:
        s += "; %d resumed by cancellation" % lane.cancellations
    return s


def _total(ns: int, untimed: int, count: int) -> str:
    """A total of durations; ``≥`` when some are unknown, ``?`` when all are."""
    if untimed and untimed >= count:
        return "?"
    return ("≥" if untimed else "") + duration(ns)


def run_parts(seg: Segment) -> list:
    """What a run says: the coroutines that ran, how it began, how it ended."""
    parts = [", ".join(seg.coroutines) + (", …" if seg.more_coroutines else "")]
    if seg.partial:
        parts.append("its entry is not in the trace")
    elif seg.cancelled:
        parts.append("resumed by cancellation: %s" % seg.value)
    elif seg.entry == "throw":
        parts.append("throw(%s)" % seg.value)
    elif seg.entry == "close":
        parts.append("close()")
    if seg.exit in ("return", "raise"):
        parts.append("%s %s" % (seg.exit, seg.result if seg.result is not None else "None"))
    elif seg.exit is None and seg.end is not None:
        parts.append("its exit is not in the trace")
    elif seg.end is None:
        parts.append("still running at the end")
    if seg.synthetic:
        parts.append("(synthetic)")
    return parts


def wait_parts(seg: Segment) -> list:
    """What a wait says: what it waited on, how it ended."""
    parts = ["on " + (seg.label or "?")]
    if seg.end is None:
        parts.append("still waiting at the end")
    if seg.cancelled:
        parts.append("cancelled")
    if seg.synthetic:
        parts.append("(synthetic)")
    return parts


def notes(model: TasksModel) -> list:
    out = []
    if model.elided:
        out.append("… %d more switches not drawn (at most %d are)" % (model.elided, model.max_switches))
    if model.more_tasks:
        out.append("… %d more task%s began after the drawn switches"
                   % (model.more_tasks, "" if model.more_tasks == 1 else "s"))
    if not model.switches:
        out.append("no task was handed over by an event loop")
    if model.truncated:
        out.append("the trace has no footer: the program did not finish cleanly")
    return out


# -- the picture ---------------------------------------------------------------------------

def _span(seg: Segment, drawn: int) -> tuple:
    """The steps a segment covers: from its start to its end, or to the
    last step (after the last switch drawn) if open or cut off."""
    end = drawn if seg.end is None or seg.end >= drawn else seg.end
    return seg.start, end


def _steps(model: TasksModel) -> list:
    """Width of each step: step k is between switch k and k+1 (the last one
    after the last switch drawn).  Narrow, widened where a wait needs room
    for its label: as much room as keeps the axis within MAX_AXIS."""
    for cells in WAIT_CELLS:
        widths = _widened(model, cells)
        if sum(widths) <= MAX_AXIS:
            break
    return widths


def _widened(model: TasksModel, wait_cells: int) -> list:
    """Steps widened so that each wait has room for ``wait_cells`` cells of
    its label (the shortest spans first, as the sequence layout does)."""
    n = model.drawn
    widths = [STEP] * n
    if n:
        widths[-1] = TAIL
    needs = []
    for lane in model.lanes:
        for seg in lane.segments:
            if seg.kind != "wait":
                continue
            a, b = _span(seg, n)
            cells = OPEN_CELLS if b == n else wait_cells
            need = min(text_width(wait_text(seg)), cells * CHAR_W) + 2 * PAD
            needs.append((b - a, a, b, need))
    for _, a, b, need in sorted(needs):
        have = sum(widths[a:b])
        if b > a and have < need:
            widths[b - 1] += need - have
    return widths


def _bar_label(seg: Segment, room: float) -> str | None:
    """The text inside a wait's bar: the whole of it if it fits, else what
    it waits on, shortened if need be; None if not even that fits."""
    for text in (wait_text(seg), seg.label or "?"):
        shown = escape.visible(text)
        if text_width(shown) <= room + 0.01:  # the steps were summed in another order
            return shown
    cells = int((room + 0.01) / CHAR_W)
    if cells < MIN_CELLS:
        return None
    return escape.shorten(seg.label or "?", cells)


def _run_tip(lane: Lane, seg: Segment, model: TasksModel) -> str:
    return "%s running %s (switches %s): %s" % (lane.name, seg_duration(seg, model), switches_of(seg),
                                                 "; ".join(run_parts(seg)))


def _wait_tip(lane: Lane, seg: Segment, model: TasksModel) -> str:
    tip = "%s waiting %s (switches %s) on %s" % (lane.name, seg_duration(seg, model), switches_of(seg),
                                                 seg.label or "?")
    if seg.value is not None and seg.value != seg.label:
        tip += "; yielded %s" % seg.value
    if seg.cancelled:
        tip += "; cancelled"
    if seg.end is None:
        tip += "; still waiting at the end of the trace"
    elif seg.end >= model.drawn:
        tip += "; goes on past the drawn switches"
    if seg.synthetic:
        tip += " (synthetic)"
    return tip


def _cross(x: float, y: float, r: float = 5.0) -> list:
    return [Line(x - r, y - r, x + r, y + r, "end"), Line(x - r, y + r, x + r, y - r, "end")]


def tasks_scene(model: TasksModel, title: str) -> Scene:
    """The task view as positioned shapes (coordinates in points, y down)."""
    lanes = model.lanes
    n = model.drawn
    names = [escape.shorten_label(lane.name, NAME_CELLS) for lane in lanes]
    name_w = max([text_width(s) for s in names] + [text_width("switch"), 60.0]) + 16
    x0 = MARGIN + name_w + 12
    widths = _steps(model)
    xs = [x0]
    for w in widths:
        xs.append(xs[-1] + w)
    x_end = xs[-1]

    scene = Scene(0, 0, title)
    back: list = []              # lane bands, lifelines
    bars: list = []
    front: list = []             # texts, marks
    front.append(Text(MARGIN, 24.0, escape.shorten(title + " — tasks", 80), "title", "start", bold=True))
    front.append(Text(MARGIN, 42.0, AXIS_NOTE, "note", "start"))
    right = max(x_end, MARGIN + 200.0)

    for i, (lane, name) in enumerate(zip(lanes, names)):
        y = TOP + i * LANE
        mid = y + LANE / 2
        by = mid - BAR_H / 2
        if i % 2:
            back.append(Rect(MARGIN / 2, y, 0, LANE, "group", fill=BAND_FILL))  # width set below
        tip = escape.visible(lane_title(lane) + "; " + lane_totals(lane))
        front.append(Rect(MARGIN, y + 3, name_w, LANE - 6, "header", tip=tip))
        front.append(Text(MARGIN + 8, mid + 4, name, "header", "start"))
        if lane.segments:
            first = lane.segments[0].start
            last = x_end if lane.end is None or lane.end >= n else xs[lane.end]
            back.append(Line(xs[first], mid, last, mid, "lifeline"))
        for seg in lane.segments:
            a, b = _span(seg, n)
            x1, x2 = xs[a], xs[b]
            if seg.kind == "run":
                if x2 - x1 < 3:      # a run with no known beginning: a sliver before its end
                    x1 = x2 - 3
                role, fill = ("end", CANCEL_FILL) if seg.cancelled else ("activation", None)
                bars.append(Rect(x1, by, x2 - x1, BAR_H, role, tip=escape.visible(_run_tip(lane, seg, model)),
                                 fill=fill))
                if seg.exit == "raise" and b == seg.end:  # beside the bar: Graphviz draws lines under boxes
                    front.extend(_cross(x2 + 8, mid))
                continue
            tip = escape.visible(_wait_tip(lane, seg, model))
            bars.append(Rect(x1, by, x2 - x1, BAR_H, "suspended", tip=tip))
            text = _bar_label(seg, x2 - x1 - 2 * PAD)
            if text is not None:
                front.append(Text((x1 + x2) / 2, mid + 4, text, "suspended", tip=tip))

    # the axis: an arrow under the lanes, ticks at some switches
    y = TOP + len(lanes) * LANE + 8
    if n:
        front.append(Line(x0, y, x_end, y, "call", arrow=True))
        front.append(Text(MARGIN + 8, y + 16, "switch", "note", "start"))
        digits = text_width(str(n)) + 10
        every = next(s for s in _nice() if s * STEP >= digits)
        last_right = MARGIN + 8 + text_width("switch") + 6
        for k in range(n):
            if k and (k + 1) % every:
                continue
            label = str(k + 1)
            w = text_width(label)
            if xs[k] - w / 2 < last_right:
                continue
            front.append(Line(xs[k], y - 3, xs[k], y + 3, "call"))
            front.append(Text(xs[k], y + 16, label, "note"))
            last_right = xs[k] + w / 2 + 6
            right = max(right, xs[k] + w / 2)
        y += 22
    y += 18

    # legend, then notes
    lx = MARGIN
    for role, fill, what in LEGEND:
        if role == "x":
            front.extend(_cross(lx + 9, y - 4))
        else:
            front.append(Rect(lx, y - 10, 18, 12, role, fill=fill))
        front.append(Text(lx + 32, y, what, "note", "start"))
        lx += 32 + text_width(what) + 22
    right = max(right, lx)
    for note in notes(model):
        y += 18
        front.append(Text(MARGIN, y, note, "note", "start"))
    right = max([right] + [t.x + t.width for t in front if isinstance(t, Text) and t.anchor == "start"])
    scene.width = right + MARGIN
    scene.height = y + 12
    for r in back:
        if isinstance(r, Rect):
            r.w = scene.width - MARGIN
    scene.shapes = back + bars + front
    return scene


def _nice():
    """1, 2, 5, 10, 20, 50, ...: steps between numbered switches."""
    s = 1
    while True:
        yield s
        yield 2 * s
        yield 5 * s
        s *= 10


# -- the text ------------------------------------------------------------------------------

RUN, WAIT, CANCEL = 1, 2, 4
# what a column of the chart holds -> its character
CHART = {0: " ", WAIT: "─", RUN: "█", RUN | WAIT: "▒"}
CANCEL_CHAR = "✕"


def _chart(lane: Lane, n: int, cells: int) -> str:
    """One lane as characters: step k (between switch k and k+1) in column
    k * cells // n; a column of several steps both running and waiting is ▒."""
    row = [0] * cells
    for seg in lane.segments:
        a, b = _span(seg, n)
        if seg.kind == "wait":
            bit = WAIT
        else:
            bit = RUN | (CANCEL if seg.cancelled else 0)
            if b == a:       # a run with no known beginning
                a = max(b - 1, 0)
        for c in range(a * cells // n, (max(b, a + 1) - 1) * cells // n + 1):
            if c < cells:
                row[c] |= bit
    return "".join(CANCEL_CHAR if f & CANCEL else CHART[f] for f in row)


def _wrapped(head: str, parts: list) -> list:
    """``head`` then the parts joined by "; ", on as many lines as they
    need (each part shortened to one line), the others indented like the first."""
    room = TEXT_WIDTH - escape.width(head)
    lines: list = []
    current = ""
    for part in parts:
        part = escape.shorten(part, room)
        joined = current + "; " + part if current else part
        if escape.width(joined) <= room:
            current = joined
        else:
            lines.append(current)
            current = part
    lines.append(current)
    indent = " " * escape.width(head)
    return [head + lines[0]] + [indent + line for line in lines[1:]]


def tasks_text(model: TasksModel, title: str) -> str:
    """A lane chart (one character per switch, or per a few), then each
    task's segments with their durations and what it waited on."""
    out = [escape.shorten("%s — tasks (%d task%s, %d switches)" % (
        title, len(model.lanes), "" if len(model.lanes) == 1 else "s", model.switches), TEXT_WIDTH)]
    n = model.drawn
    names = [escape.shorten_label(lane.name, 20) for lane in model.lanes]
    if n and model.lanes:
        name_w = max(escape.width(s) for s in names)
        cells = min(n, TEXT_WIDTH - name_w - 6)
        out.append("x: order of switches, not time; %s running, %s waiting, %s resumed by cancellation%s"
                   % (CHART[RUN], CHART[WAIT], CANCEL_CHAR, "" if cells == n else ", %s both" % CHART[RUN | WAIT]))
        for lane, name in zip(model.lanes, names):
            pad = " " * (name_w - escape.width(name))
            out.append("  %s%s │%s│" % (name, pad, _chart(lane, n, cells)))
        per = n / cells
        out.append("  %s  1 column = %s switch%s" % (
            " " * name_w, ("%d" % per) if per == int(per) else "%.1f" % per, "" if per == 1 else "es"))
    for lane in model.lanes:
        out.append("")
        out.append(lane_title(lane))
        out.append("  " + lane_totals(lane))
        if lane.segments:
            out.append("  %-11s %-4s %10s" % ("switches", "", "duration"))
        for seg in lane.segments:
            head = "  %-11s %-4s %10s  " % (switches_of(seg), seg.kind, seg_duration(seg, model))
            out.extend(_wrapped(head, run_parts(seg) if seg.kind == "run" else wait_parts(seg)))
        if lane.elided:
            out.append("  … %d more segment%s after the drawn switches"
                       % (lane.elided, "" if lane.elided == 1 else "s"))
    if not model.lanes:
        out.append("no task drawn")
    notes_ = notes(model)
    if notes_:
        out.append("")
        out.extend(notes_)
    return "\n".join(escape.shorten(x, TEXT_WIDTH) if x else x for x in out) + "\n"
