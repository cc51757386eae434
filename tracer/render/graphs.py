"""State graphs and the flow graph as DOT, and as Mermaid/PlantUML/text.

Every writer here reads the same :class:`tracer.model.StatesModel` /
:class:`tracer.model.FlowModel` and the same label helpers, so the formats
say the same thing.
"""
from __future__ import annotations

from .. import anomalies
from .. import model as m
from . import escape

VALUE_CELLS = 40        # widest example value in a graph label
SOURCE_CELLS = 60       # widest source line in a state


# -- labels shared by every format -------------------------------------------------------

def transition_label(t: m.Transition) -> str:
    values = [escape.shorten(v, VALUE_CELLS) for v in t.values]
    mark = "  ⚠ " + anomalies.name(t.anomaly) if t.anomaly else ""
    return "%s ×%d%s" % (m.message_text(t.action, values), t.count, mark)


def state_lines(s: m.StateNode) -> list:
    """A state's label as lines (each still to be escaped by the format)."""
    lines = [escape.shorten(s.label, SOURCE_CELLS)]
    if s.anomaly:
        lines.append("⚠ " + anomalies.name(s.anomaly))
    if s.kind == "suspended" and s.yielded:
        lines.append(("waits on " if s.awaits else "yields ") + " | ".join(escape.shorten(v, VALUE_CELLS) for v in s.yielded))
    elif s.kind == "failed" and s.yielded:
        lines.append("raised " + " | ".join(escape.shorten(v, VALUE_CELLS) for v in s.yielded))
    return lines


def function_title(f: m.FunctionStates) -> str:
    where = "%s:%s" % (f.file, f.line) if f.file else "?"
    return "%s (%s) ×%d instance%s — %s" % (f.name, f.kind.replace("_", " "), f.instances,
                                            "" if f.instances == 1 else "s", where)


def flow_edge_lines(edge: m.FlowEdge) -> list:
    out = []
    for verb, (count, values) in edge.verbs.items():
        shown = [escape.shorten(v, VALUE_CELLS) for v in values]
        out.append("%s ×%d" % (m.message_text(verb, shown), count))
    return out


def states_in_order(f: m.FunctionStates) -> list:
    """created, the yield sites by line, then the ends."""
    order = {"initial": 0, "suspended": 1, "final": 2, "failed": 3}
    return sorted(f.states.values(), key=lambda s: (order[s.kind], s.line or 0, s.key))


def state_ids(f: m.FunctionStates, prefix: str) -> dict:
    """State key -> an identifier every format accepts (keys hold line
    numbers, which a hand-made trace may make negative)."""
    return {s.key: "%s_s%d" % (prefix, i) for i, s in enumerate(states_in_order(f))}


def transitions_in_order(f: m.FunctionStates) -> list:
    return sorted(f.transitions.values(), key=lambda t: t.first_seq)


# -- DOT --------------------------------------------------------------------------------

NOTHING_RAN = "no generator or coroutine ran"   # what every format draws for an empty view


def nothing_text(model) -> str:
    """What an empty view says: NOTHING_RAN, or how many generator
    functions ran outside the filters and how to record them."""
    return "nothing recorded: " + model.unrecorded if model.unrecorded else NOTHING_RAN


TEXT_FONT = "DejaVu Sans"       # titles
MONO_FONT = "DejaVu Sans Mono"  # states, nodes, edge labels (code and values)


def _dot_head(name: str, rankdir: str, spacing: str, label: str, node_shape: str, empty: str | None,
              mono: str) -> list:
    """The opening lines of a graph's DOT source (and, for an empty one,
    its one node, saying ``empty``)."""
    out = ["digraph %s {" % name,
           "  graph [rankdir=%s, fontname=%s, fontsize=12, labelloc=t, label=%s, %s];"
           % (rankdir, escape.dot_id(TEXT_FONT), escape.dot_id(label), spacing),
           "  node [%sfontname=%s, fontsize=11];" % (node_shape, escape.dot_id(mono)),
           "  edge [fontname=%s, fontsize=10, color=\"#445566\"];" % escape.dot_id(mono)]
    if empty:
        out.append("  empty [shape=plaintext, label=%s];" % escape.dot_id(empty))
    return out


def _dot_lines(lines: list) -> str:
    """Several label lines as one DOT string, each escaped on its own and
    joined by DOT's centred line break."""
    return '"%s"' % "\\n".join(escape.dot_string(x) for x in lines)


_STATE_STYLE = {
    "initial": 'shape=box, style="rounded,filled", fillcolor="#e8f0f8", color="#2f4f6f"',
    "suspended": 'shape=box, style="rounded,filled", fillcolor="#fff6dd", color="#a07000"',
    "final": 'shape=box, style="rounded,filled,bold", fillcolor="#e8f6ea", color="#2f6f3f"',
    "failed": 'shape=box, style="rounded,filled,bold", fillcolor="#fbe4e4", color="#b02020"',
}


SELF_LOOP_PAD = "  "
STATE_COLUMNS = 4   # state graph clusters per row
_ANOMALY_EDGE = ', color="#c00000", fontcolor="#c00000", penwidth=2'


def states_dot(model: m.StatesModel, title: str, mono: str = MONO_FONT) -> str:
    """The state graphs as DOT; ``mono``: the monospace font Graphviz lays
    the labels out with (gv.svg's WebAssembly path passes its own)."""
    out = _dot_head("states", "TB", "nodesep=0.4, ranksep=0.5", title + " — states", "",
                    nothing_text(model) if not model.functions else None, mono)
    ends: list = []   # (first, last) state id of each function's cluster
    for i, f in enumerate(model.functions):
        out.append("  subgraph cluster_%d {" % i)
        out.append("    label=%s; style=rounded; color=\"#9aa8b8\";" % escape.dot_id(function_title(f)))
        sid = state_ids(f, "f%d" % i)
        for s in states_in_order(f):
            out.append("    %s [label=%s, %s];" % (sid[s.key], _dot_lines(state_lines(s)), _STATE_STYLE[s.kind]))
        for t in transitions_in_order(f):
            # Graphviz puts the labels of several self-loops of one state
            # side by side with no room between them: a trailing space each
            label = transition_label(t) + (SELF_LOOP_PAD if t.src == t.dst else "")
            out.append("    %s -> %s [label=%s%s];" % (sid[t.src], sid[t.dst], escape.dot_id(label),
                                                     _ANOMALY_EDGE if t.anomaly else ""))
        out.append("  }")
        order = states_in_order(f)
        ends.append((sid[order[0].key], sid[order[-1].key]) if order else None)
    # in rows of STATE_COLUMNS clusters: dot puts every cluster side by side
    # (a test suite's was 127,583 pt wide, past what rasterizers take); an
    # invisible node between two rows, below every cluster of the one and
    # above every cluster of the next, wraps them
    for row in range(1, (len(ends) + STATE_COLUMNS - 1) // STATE_COLUMNS):
        out.append("  row%d [style=invis, shape=point, width=0, label=\"\"];" % row)
        for above in ends[(row - 1) * STATE_COLUMNS:row * STATE_COLUMNS]:
            if above is not None:
                out.append("  %s -> row%d [style=invis, weight=0];" % (above[1], row))
        for below in ends[row * STATE_COLUMNS:(row + 1) * STATE_COLUMNS]:
            if below is not None:
                out.append("  row%d -> %s [style=invis, weight=0];" % (row, below[0]))
    out.append("}")
    return "\n".join(out) + "\n"


_NODE_STYLE = {
    "generator": 'style="rounded,filled", fillcolor="#e8f6ea", color="#2f6f3f"',
    "coroutine": 'style="rounded,filled", fillcolor="#e6f0fb", color="#2f4f8f"',
    "async_generator": 'style="rounded,filled", fillcolor="#f1e8fa", color="#6a3f8f"',
    "function": 'style=filled, fillcolor="#e8f0f8", color="#2f4f6f"',
    "runtime": 'style=filled, fillcolor="#f0f0f0", color="#6f6f6f"',
    "event_loop": 'style=filled, fillcolor="#f0f0f0", color="#6f6f6f"',
}


def flow_dot(model: m.FlowModel, title: str, mono: str = MONO_FONT) -> str:
    """The flow graph as DOT (``mono``: as for :func:`states_dot`)."""
    ids = {n.key: "n%d" % i for i, n in enumerate(model.nodes)}
    out = _dot_head("flow", "LR", "nodesep=0.5, ranksep=0.9", title + " — who resumes whom", "shape=box, ",
                    nothing_text(model) if not model.nodes else None, mono)
    for n in model.nodes:
        out.append("  %s [label=%s, %s];" % (ids[n.key], escape.dot_id(escape.shorten_label(n.label, 40)),
                                             _NODE_STYLE.get(n.kind, "")))
    for e in model.edges:
        out.append("  %s -> %s [label=%s];" % (ids[e.src], ids[e.dst], _dot_lines(flow_edge_lines(e))))
    out.append("}")
    return "\n".join(out) + "\n"
