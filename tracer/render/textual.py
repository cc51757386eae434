"""Text formats of the three views: Mermaid, PlantUML and a terminal rendering.

Each walks the same models (:mod:`tracer.model`) with the same labels
(:mod:`tracer.render.scene`, :mod:`tracer.render.graphs`); every string
from the trace goes through that format's escape in :mod:`escape`.
"""
from __future__ import annotations

from .. import model as m
from . import escape
from .graphs import (NOTHING_RAN, flow_edge_lines, nothing_text, function_title, state_ids, state_lines, states_in_order,
                     transition_label, transitions_in_order)
from .scene import GROUP_FILLS, HEADER_CELLS, _notes, anomaly_mark, label_of, loop_title, plain_label_of, steps


def _groups(seq: m.SequenceModel):
    """Actors in runs of the same group: [(group or None, [actors])]."""
    runs: list = []
    for a in seq.actors:
        if runs and runs[-1][0] == a.group:
            runs[-1][1].append(a)
        else:
            runs.append((a.group, [a]))
    return runs


# -- Mermaid ------------------------------------------------------------------------------

MERMAID_MAX_CHARS = 45000  # mermaid refuses diagrams over 50,000 characters (maxTextSize)


def mermaid_sequence(seq: m.SequenceModel, title: str) -> str:
    t = escape.mermaid_text
    pid = {a.id: "a%d" % i for i, a in enumerate(seq.actors)}
    out = ["sequenceDiagram", "    title %s" % t(title)]
    for k, (group, actors) in enumerate(_groups(seq)):
        if group is not None:
            out.append("    box %s %s" % (_rgb(GROUP_FILLS[k % len(GROUP_FILLS)]), t(group)))
        for a in actors:
            out.append("    participant %s as %s" % (pid[a.id], t(escape.shorten_label(a.label, HEADER_CELLS))))
        if group is not None:
            out.append("    end")
    tail = ["    Note over %s: suspended at the end" % pid[a.id] for a in seq.actors if a.id in seq.suspended]
    notes = [t(note) for note in _notes(seq)]
    budget = MERMAID_MAX_CHARS - sum(len(x) + 1 for x in tail) - sum(len(x) + 30 for x in notes) - 200
    indent = 1
    size, mark = 0, 0
    left_out = 0
    drawn_loops: list = []       # per open loop: was its "loop" line written?
    for step in steps(seq):
        pad = "    " * indent
        size += sum(len(x) + 1 for x in out[mark:])
        mark = len(out)
        if step[0] == "end-loop":
            if drawn_loops.pop():
                indent -= 1
                out.append("%send" % ("    " * indent))
        elif size > budget:
            left_out += step[0] == "msg"
            if step[0] == "loop":
                drawn_loops.append(False)
        elif step[0] == "loop":
            out.append("%sloop %s" % (pad, t(loop_title(step[1]))))
            drawn_loops.append(True)
            indent += 1
        elif step[0] == "ended":
            out.append("%sNote over %s: finished" % (pad, pid[step[1]]))
        else:
            _, msg, activate, deactivate = step
            arrow = ("-)" if msg.synthetic else "->>") if msg.entry else ("--)" if msg.synthetic else "-->>")
            out.append("%s%s%s%s: %s" % (pad, pid[msg.src], arrow, pid[msg.dst], t(label_of(msg))))
            if activate:
                out.append("%sactivate %s" % (pad, pid[msg.dst]))
            if deactivate:
                out.append("%sdeactivate %s" % (pad, pid[msg.src]))
    out += tail
    if left_out:
        notes.insert(0, t("… %d more messages not drawn (Mermaid's 50,000-character limit)" % left_out))
    if notes and not seq.actors:
        # a note needs a lifeline: nothing ran, but something is to be said
        # (an anomaly such as a coroutine never awaited)
        out.append("    participant a0 as %s" % t("nothing recorded" if seq.unrecorded else NOTHING_RAN))
    for note in notes:
        out.append("    Note over %s: %s" % (pid[seq.actors[0].id] if seq.actors else "a0", note))
    return "\n".join(out) + "\n"


def _rgb(colour: str) -> str:
    return "rgb(%d,%d,%d)" % tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


def mermaid_states(model: m.StatesModel, title: str) -> str:
    t = escape.mermaid_text
    out = ["---", 'title: "%s"' % escape.mermaid_title(title + " — states"), "---", "stateDiagram-v2"]
    if not model.functions:
        out.append('    state "%s" as empty' % t(nothing_text(model)))
    for i, f in enumerate(model.functions):
        out.append('    state "%s" as f%d {' % (t(function_title(f)), i))
        sid = state_ids(f, "f%d" % i)
        for s in states_in_order(f):
            out.append('        state "%s" as %s' % (t(" — ".join(state_lines(s))), sid[s.key]))
        out.append("        [*] --> %s" % sid["created"])
        for tr in transitions_in_order(f):
            out.append("        %s --> %s: %s" % (sid[tr.src], sid[tr.dst], t(transition_label(tr))))
        for s in states_in_order(f):
            if s.kind in ("final", "failed"):
                out.append("        %s --> [*]" % sid[s.key])
        out.append("    }")
    return "\n".join(out) + "\n"


def mermaid_flow(model: m.FlowModel, title: str) -> str:
    t = escape.mermaid_text
    ids = {n.key: "n%d" % i for i, n in enumerate(model.nodes)}
    out = ["---", 'title: "%s"' % escape.mermaid_title(title + " — who resumes whom"), "---", "flowchart LR"]
    if not model.nodes:
        out.append('    empty["%s"]' % t(nothing_text(model)))
    for n in model.nodes:
        shape = ('(["%s"])' if n.kind in m.RECORDED_KINDS else '["%s"]') % t(escape.shorten_label(n.label, 40))
        out.append("    %s%s" % (ids[n.key], shape))
    for e in model.edges:
        out.append('    %s -->|"%s"| %s' % (ids[e.src], "<br>".join(t(x) for x in flow_edge_lines(e)), ids[e.dst]))
    return "\n".join(out) + "\n"


# -- PlantUML -----------------------------------------------------------------------------

def plantuml_sequence(seq: m.SequenceModel, title: str) -> str:
    t = escape.plantuml_text
    pid = {a.id: "a%d" % i for i, a in enumerate(seq.actors)}
    out = ["@startuml", "title %s" % t(title), "skinparam monochrome false", "hide footbox"]
    for k, (group, actors) in enumerate(_groups(seq)):
        if group is not None:
            out.append('box "%s" %s' % (t(group), GROUP_FILLS[k % len(GROUP_FILLS)]))
        for a in actors:
            kind = "control" if a.kind in ("runtime", "event_loop") else "participant"
            out.append('%s "%s" as %s' % (kind, t(escape.shorten_label(a.label, HEADER_CELLS)), pid[a.id]))
        if group is not None:
            out.append("end box")
    indent = 0
    for step in steps(seq):
        pad = "  " * indent
        if step[0] == "loop":
            out.append("%sloop %s" % (pad, t(loop_title(step[1]))))
            indent += 1
        elif step[0] == "end-loop":
            indent -= 1
            out.append("%send" % ("  " * indent))
        elif step[0] == "ended":
            out.append("%sdestroy %s" % (pad, pid[step[1]]))
        else:
            _, msg, activate, deactivate = step
            if msg.anomaly:
                arrow = "-[#c00000,bold]->>"
            elif msg.synthetic:
                arrow = "-[#a05a00]>>" if msg.entry else "-[#a05a00]->>"
            else:
                arrow = "->" if msg.entry else "-->"
            out.append("%s%s %s %s : %s" % (pad, pid[msg.src], arrow, pid[msg.dst], t(label_of(msg))))
            if activate:
                out.append("%sactivate %s" % (pad, pid[msg.dst]))
            if deactivate:
                out.append("%sdeactivate %s" % (pad, pid[msg.src]))
    for a in seq.actors:
        if a.id in seq.suspended:
            out.append("hnote over %s : suspended at the end" % pid[a.id])
    notes = [t(note) for note in _notes(seq)]
    if notes and not seq.actors:
        # nothing ran, but something is to be said (a coroutine never
        # awaited): "note across" needs participants, a legend does not
        out += ["legend left"] + notes + ["endlegend"]
    else:
        out += ["note across : %s" % note for note in notes]
    out.append("@enduml")
    return "\n".join(out) + "\n"


def plantuml_states(model: m.StatesModel, title: str) -> str:
    t = escape.plantuml_text
    out = ["@startuml", "title %s" % t(title + " — states")]
    if not model.functions:
        out.append('state "%s" as empty' % t(nothing_text(model)))
    for i, f in enumerate(model.functions):
        out.append('state "%s" as f%d {' % (t(function_title(f)), i))
        sid = state_ids(f, "f%d" % i)
        for s in states_in_order(f):
            out.append('  state "%s" as %s' % (t(state_lines(s)[0]), sid[s.key]))
            for extra in state_lines(s)[1:]:
                out.append("  %s : %s" % (sid[s.key], t(extra)))
        out.append("  [*] --> %s" % sid["created"])
        for tr in transitions_in_order(f):
            out.append("  %s --> %s : %s" % (sid[tr.src], sid[tr.dst], t(transition_label(tr))))
        for s in states_in_order(f):
            if s.kind in ("final", "failed"):
                out.append("  %s --> [*]" % sid[s.key])
        out.append("}")
    out.append("@enduml")
    return "\n".join(out) + "\n"


def plantuml_flow(model: m.FlowModel, title: str) -> str:
    t = escape.plantuml_text
    ids = {n.key: "n%d" % i for i, n in enumerate(model.nodes)}
    out = ["@startuml", "title %s" % t(title + " — who resumes whom"), "left to right direction"]
    if not model.nodes:
        out.append('rectangle "%s" as empty' % t(nothing_text(model)))
    for n in model.nodes:
        shape = "agent" if n.kind in m.RECORDED_KINDS else "rectangle"
        out.append('%s "%s" as %s' % (shape, t(escape.shorten_label(n.label, 40)), ids[n.key]))
    for e in model.edges:
        out.append("%s --> %s : %s" % (ids[e.src], ids[e.dst], "\\n".join(t(x) for x in flow_edge_lines(e))))
    out.append("@enduml")
    return "\n".join(out) + "\n"


# -- terminal -----------------------------------------------------------------------------

TEXT_WIDTH = 100


def text_sequence(seq: m.SequenceModel, title: str) -> str:
    """An indented conversation: one numbered line per message, indented by
    how deep the control stack is; loops framed; finished actors marked ✕."""
    name = {a.id: escape.shorten_label(a.label, 24) for a in seq.actors}
    out = ["%s — sequence (%d messages%s)" % (escape.shorten(title, 60), seq.total_messages,
                                             ", folded" if seq.folded else "")]
    groups: dict = {}
    for a in seq.actors:
        if a.group is not None:
            groups.setdefault(a.group, []).append(name[a.id])
    for group, members in groups.items():  # what the pictures draw as boxes
        out.append(escape.shorten("  %s: %s" % (escape.visible(group), ", ".join(members)), TEXT_WIDTH))
    depth = 0
    frames = 0
    n = 0
    for step in steps(seq):
        bars = "│ " * frames
        if step[0] == "loop":
            out.append("%6s  %s┌─ %s" % ("", bars, loop_title(step[1])))
            frames += 1
        elif step[0] == "end-loop":
            frames -= 1
            out.append("%6s  %s└─" % ("", "│ " * frames))
        elif step[0] == "ended":
            continue
        else:
            _, msg, activate, deactivate = step
            n += 1
            if not msg.entry:
                depth = max(depth - 1, 0)
            line = ("%s%s ─%s─▶ %s%s" if msg.entry else "%s%s ╌%s╌▷ %s%s") % (
                "  " * min(depth, 12), name[msg.src], plain_label_of(msg), name[msg.dst], "  ✕" if msg.ends else "")
            mark = anomaly_mark(msg)   # never cut off
            room = TEXT_WIDTH - 8 - 2 * frames - (len(mark) + 2 if mark else 0)
            out.append("%6d  %s%s%s" % (n, bars, escape.shorten(line, room), "  " + mark if mark else ""))
            if msg.entry:
                depth += 1
    if seq.suspended:
        out.append("still suspended at the end: " + ", ".join(
            name[i] for i in seq.suspended if i in name))
    out.extend(_notes(seq))
    return "\n".join(out) + "\n"


def text_states(model: m.StatesModel, title: str) -> str:
    out = ["%s — states" % escape.shorten(title, 60)]
    if not model.functions:
        out.append(escape.shorten(nothing_text(model), TEXT_WIDTH))
    for f in model.functions:
        out.append("")
        out.append(escape.shorten(function_title(f), TEXT_WIDTH))
        did, ended = ledger_lines(f.ledger)
        out.append(escape.shorten("  lifetime: %s" % did, TEXT_WIDTH))
        out.append(escape.shorten("  ended:    %s" % ended, TEXT_WIDTH))
        label = {s.key: ("created" if s.kind == "initial" else s.key if s.kind == "suspended" else s.label)
                 for s in f.states.values()}
        for s in states_in_order(f):
            if s.kind == "suspended" or s.anomaly:
                out.append(escape.shorten("  %-6s %s" % (s.key, " — ".join(state_lines(s))), TEXT_WIDTH))
        out.append("  %-10s %-10s %s" % ("from", "to", "how"))
        for tr in transitions_in_order(f):
            out.append(escape.shorten("  %-10s %-10s %s" % (label[tr.src], label[tr.dst], transition_label(tr)),
                                      TEXT_WIDTH))
    return "\n".join(out) + "\n"


def ledger_lines(ledger: m.Ledger) -> list:
    """The lifetime of a function's objects, in two lines: what they did
    (``3 objects, 3 started, 12 resumes, 9 yields``), how they ended."""
    def n(count: int, what: str) -> str:
        return "%d %s%s" % (count, what, "" if count == 1 or what.endswith("ed") else "s")

    ended = [n(c, how) for how, c in (("returned", ledger.returned), ("closed", ledger.closed),
                                      ("collected", ledger.collected), ("raised", ledger.raised)) if c]
    ended.append("%d still suspended at exit" % ledger.suspended)
    if ledger.never_awaited:
        ended.append("%d never awaited" % ledger.never_awaited)
    return [", ".join([n(ledger.objects, "object"), "%d started" % ledger.started, n(ledger.resumes, "resume"),
                       n(ledger.yields, "yield")]), ", ".join(ended)]


def text_flow(model: m.FlowModel, title: str) -> str:
    label = {n.key: escape.shorten_label(n.label, 24) for n in model.nodes}
    out = ["%s — who resumes whom" % escape.shorten(title, 60)]
    for e in model.edges:
        head = "%s → %s" % (label[e.src], label[e.dst])
        for i, x in enumerate(flow_edge_lines(e)):
            out.append(escape.shorten("  %-40s %s" % (head if i == 0 else "", x), TEXT_WIDTH))
    if not model.edges:
        out.append(escape.shorten(nothing_text(model), TEXT_WIDTH))
    out += switch_lines(model.switches)
    return "\n".join(out) + "\n"


def duration(ns: float) -> str:
    if ns < 1000:
        return "%d ns" % ns
    if ns < 1e6:
        return "%.1f µs" % (ns / 1e3)
    if ns < 1e9:
        return "%.1f ms" % (ns / 1e6)
    return "%.2f s" % (ns / 1e9)


def switch_lines(switches: dict | None) -> list:
    """Switch accounting (aggregates.Switches): how often control changed
    hands, how far apart, and how often the running thread changed."""
    if not switches:
        return []
    same, changed = switches["same_thread"], switches["thread_change"]
    if not same["count"] and not changed["count"]:
        return []
    out = ["", "hand-overs (the gaps between consecutive events; cotrace's own cost per event is in each):"]
    for name, s in (("in one thread", same), ("thread switches", changed)):
        if s["count"]:
            out.append("  %-16s %d, median %s apart, p99 %s" % (name, s["count"], duration(s["median"]),
                                                                duration(s["p99"])))
        else:
            out.append("  %-16s 0" % name)
    return out
