"""From a trace to the three views: one pass over the events, bounded memory.

Every renderer draws from these models and nothing else, so the formats
cannot disagree about what happened:

* :class:`SequenceModel` -- actors and the messages between them, with
  repeated runs of messages folded into loops (:class:`Loop`);
* :class:`StatesModel` -- per generator function, the states it moves
  between (``created``, one ``suspended`` state per yield line, the ends)
  and how often each transition happened, with example values;
* :class:`FlowModel` -- who resumed whom and who received what, counted.

The trace is streamed (:class:`tracer.traceio.TraceStream`): memory depends
on the number of actors, yield sites and drawn messages, not on events.
"""
from __future__ import annotations

import io
import linecache
import os
import tokenize
from dataclasses import dataclass, field

from .taskmodel import TasksBuilder, TasksModel
from .traceio import ENTRY_EVENTS, TraceStream

RECORDED_KINDS = ("generator", "coroutine", "async_generator")
LOOP_KINDS = ("event_loop", "task")  # who drives the coroutines of asyncio tasks (task: --hide-loop)
from .defaults import DEFAULT_MAX_MESSAGES  # noqa: E402  (re-exported)
FOLD_ABOVE = 60         # conversations longer than this are folded (unless fold is False)
EXAMPLES = 3            # distinct example values kept per message / transition
MAX_PERIOD = 128        # longest repeating run of messages looked for
MAX_FLAT = 256          # longest unrolled loop body compared message by message
FLOW_AGGREGATE = 8      # more instances of one function than this: one flow node


@dataclass
class Actor:
    id: int
    label: str
    kind: str
    group: str | None = None      # "thread NAME" / "task NAME", or None for the main thread
    function: tuple | None = None  # (file, qualname, line) for generator-like objects
    first_seq: int = 0            # order of first appearance


@dataclass
class Message:
    seq: int
    src: int
    dst: int
    ev: str                       # the trace event: start/resume/throw/close/yield/return/raise
    verb: str                     # "send", "next()", "yield", ...: the label without its value
    value: str | None
    synthetic: bool = False
    line: int | None = None
    examples: list = field(default_factory=list)  # values of the same message in later loop iterations

    @property
    def entry(self) -> bool:
        return self.ev in ENTRY_EVENTS

    @property
    def ends(self) -> bool:
        """The message's sender finished with it."""
        return self.ev in ("return", "raise")

    def values(self) -> list:
        """The value of the drawn message, then other values seen in folded iterations."""
        if self.value is None:
            out = ["None"] if self.examples else []
        else:
            out = [self.value]
        out += [v for v in self.examples if v not in out]
        return out[:EXAMPLES]


@dataclass
class Loop:
    body: list                    # of Message | Loop: the first iteration, as drawn
    count: int

    def messages(self):
        return drawn_messages(self.body)


@dataclass
class SequenceModel:
    actors: list                  # of Actor, in drawing order
    items: list                   # of Message | Loop
    folded: bool                  # repeated runs were folded into loops
    total_messages: int           # transfers in the trace
    elided: int                   # messages not drawn because of max_messages
    max_messages: int
    suspended: list               # actor ids still suspended at the end
    finished: list                # actor ids that ended
    dropped: int = 0              # events the recorder dropped (--max-events)
    limit_reached: bool = False   # --max-events switched recording off: later events are not counted
    lost: int = 0
    truncated: bool = False       # no footer: the process did not finish cleanly
    synthetic: int = 0            # synthetic events among the drawn messages


@dataclass
class Transition:
    src: str
    dst: str
    action: str                   # "send", "next()", "throw", ...
    count: int = 0
    values: list = field(default_factory=list)  # distinct example sent values
    first_seq: int = 0


@dataclass
class StateNode:
    key: str                      # "created", "L23", "finished", "closed", "failed"
    label: str                    # "created", "line 23: n = yield bool(wanted)", ...
    kind: str                     # "initial", "suspended", "final", "failed"
    line: int | None = None
    yielded: list = field(default_factory=list)  # example values yielded there (or what it awaits)
    awaits: bool = False          # suspended in an await there: ``yielded`` names what it waits on
    visits: int = 0


@dataclass
class FunctionStates:
    key: tuple                    # (file, qualname, line)
    name: str
    kind: str
    file: str | None
    line: int | None
    instances: int = 0
    states: dict = field(default_factory=dict)       # key -> StateNode
    transitions: dict = field(default_factory=dict)  # (src, dst, action) -> Transition


@dataclass
class StatesModel:
    functions: list               # of FunctionStates, in order of first appearance


@dataclass
class FlowEdge:
    src: str
    dst: str
    verbs: dict = field(default_factory=dict)   # verb -> [count, example values]
    first_seq: int = 0

    @property
    def count(self) -> int:
        return sum(v[0] for v in self.verbs.values())


@dataclass
class FlowNode:
    key: str
    label: str
    kind: str
    instances: int = 1


@dataclass
class FlowModel:
    nodes: list                   # of FlowNode
    edges: list                   # of FlowEdge


@dataclass
class Models:
    title: str
    sequence: SequenceModel
    states: StatesModel
    flow: FlowModel
    warnings: list
    tasks: TasksModel | None = None   # asyncio programs only


# -- labels ---------------------------------------------------------------------------

def entry_verb(ev: str, via: str | None, value: str | None, from_loop: bool = False,
               kind: str | None = None) -> str:
    """How control went into a generator, without the value: ``send``,
    ``next()``, ``for``, ``throw``, ``close()``, ``yield from``, ``await``;
    ``async for``, ``asend``, ``anext()``, ``athrow``, ``aclose()`` for an
    async generator; the event loop (or the task standing for it)
    ``start``s and ``resume``s the coroutines of its tasks."""
    agen = kind == "async_generator"
    if ev == "throw" or via == "throw" and ev == "start" and value is not None:
        return "athrow" if agen else "throw"
    if ev == "close" or via == "gc":
        return "aclose()" if agen and via != "gc" else "close()"
    if from_loop and via == "await":
        return "start" if ev == "start" else "resume"
    if via in ("send", "asend"):
        return via
    if via in ("for", "yield from", "await", "async for"):
        return via
    if via == "anext":
        return "anext()"
    if via == "other" and value not in (None, "None"):
        return "send"
    return "next()"


def message_text(verb: str, values: list) -> str:
    """The label of an arrow: ``send(5)``, ``yield True``, ``return``,
    ``send(5 | 4 | 3)`` when a folded loop carried several values."""
    shown = " | ".join(values)
    if verb in _CALL_VERBS:
        return "%s(%s)" % (verb, shown if values else "None")
    if verb in _VALUE_VERBS:
        return verb if not values or values == ["None"] else "%s %s" % (verb, shown)
    if verb in _BARE_VERBS:
        return verb
    return "%s %s" % (verb, shown) if values else verb


_CALL_VERBS = frozenset({"send", "throw", "asend", "athrow"})           # verb(value)
_VALUE_VERBS = frozenset({"yield from", "await", "for", "resume", "async for"})  # verb value, unless None
_BARE_VERBS = frozenset({"next()", "close()", "anext()", "aclose()"})


# -- the one pass -----------------------------------------------------------------------

class _Folder:
    """Folds repeated runs of messages into loops while they stream in.

    Messages are compared by signature: who (by function and instance slot,
    so that a fresh generator per iteration still repeats), to whom, and how,
    but not the value.  The first iteration stays drawn; later iterations
    only count, and lend their values as examples.
    """

    def __init__(self, cap: int) -> None:
        self.items: list = []
        self.sigs: list = []
        self.cap = cap
        self.drawn = 0              # messages in items, loop bodies included
        self.elided = 0
        self.loop: Loop | None = None
        self.flat: list = []        # unrolled signatures of the open loop's body
        self.flat_msgs: list = []
        self.pos = 0
        self.pending: list = []     # (sig, message) of the open loop's unfinished iteration
        self.lending = False        # some drawn message of the open loop still takes examples

    def feed(self, sig, msg: Message) -> None:
        queue = [(sig, msg)]
        while queue:
            sig, msg = queue.pop()
            if self.loop is None:
                self._append(sig, msg)
            elif sig == self.flat[self.pos]:
                self.pending.append((sig, msg))
                self.pos += 1
                if self.pos == len(self.flat):  # a whole iteration: it counts, its values are examples
                    self.loop.count += 1
                    if self.lending:
                        self.lending = _lend(self.flat_msgs, (m for _, m in self.pending))
                    self.pos, self.pending = 0, []
            else:
                # the repetition broke off: what came of the unfinished
                # iteration, then this message, go through again (in order;
                # they may start a loop of their own)
                self._close()
                queue.append((sig, msg))
                queue.extend(reversed(self.pending))
                self.pending = []

    def _close(self) -> None:
        loop = self.loop
        assert loop is not None
        self.sigs[-1] = ("loop", tuple(self.flat), loop.count)
        self.loop = None

    def finish(self) -> None:
        while self.loop is not None:
            self._close()
            pending, self.pending = self.pending, []
            for s, m in pending:
                self.feed(s, m)

    def _append(self, sig, msg: Message) -> None:
        if self.drawn >= self.cap:
            self.elided += 1
            return
        self.items.append(msg)
        self.sigs.append(sig)
        self.drawn += 1
        self._detect()

    def _detect(self) -> None:
        sigs, n = self.sigs, len(self.sigs)
        last = sigs[-1]
        for p in range(1, min(MAX_PERIOD, n // 2) + 1):
            if sigs[n - 1 - p] == last and sigs[n - p:] == sigs[n - 2 * p:n - p]:
                body = self.items[n - 2 * p:n - p]
                flat: list = []
                flat_msgs: list = []
                for item, sig in zip(body, sigs[n - 2 * p:n - p]):
                    if isinstance(item, Loop):
                        flat += list(sig[1]) * item.count
                        flat_msgs += list(unrolled([item]))
                    else:
                        flat.append(sig)
                        flat_msgs.append(item)
                if len(flat) > MAX_FLAT or len(flat) != len(flat_msgs):
                    continue
                second = self.items[n - p:]
                self.drawn -= sum(1 for _ in drawn_messages(second))
                loop = Loop(body=body, count=2)
                del self.items[n - 2 * p:], self.sigs[n - 2 * p:]
                self.items.append(loop)
                self.sigs.append(("open",))
                self.loop, self.flat, self.flat_msgs, self.pos, self.pending = loop, flat, flat_msgs, 0, []
                self.lending = _lend(flat_msgs, unrolled(second))
                return


def _lend(targets: list, messages) -> bool:
    """Values of a later iteration become examples on the drawn messages;
    False once every drawn message has all the examples it keeps."""
    room = False
    for target, again in zip(targets, messages):
        examples = target.examples
        if len(examples) < EXAMPLES:
            value = "None" if again.value is None else again.value
            if value != target.value and value not in examples:
                examples.append(value)
            room = room or len(examples) < EXAMPLES
    return room


def drawn_messages(items):
    """The messages of a (folded) conversation as drawn: each loop's body once."""
    for item in items:
        if isinstance(item, Loop):
            yield from drawn_messages(item.body)
        else:
            yield item


def unrolled(items):
    """The messages of a (folded) conversation as they happened: each loop's
    body as often as it repeated (the drawn messages stand for the others)."""
    for item in items:
        if isinstance(item, Loop):
            for _ in range(item.count):
                yield from unrolled(item.body)
        else:
            yield item


class _Builder:
    def __init__(self, stream: TraceStream, max_messages: int, fold: bool | None,
                 hide_loop: bool = False) -> None:
        self.stream = stream
        self.fold = fold
        self.hide_loop = hide_loop
        self.task_actors: dict = {}           # task name -> actor id standing for it (hide_loop)
        self.tasks = TasksBuilder(stream.trace.objects, max_messages)
        self.objects = stream.trace.objects
        self.max_messages = max_messages
        self.plain: list = []                 # the first max_messages messages, unfolded
        self.total = 0
        self.folder = _Folder(max_messages)
        self.actors: dict = {}                # id -> Actor (actors of any message)
        self.slots: dict = {}                 # function -> set of slots in use
        self.slot_key: dict = {}              # object id -> (function, slot), from its start
        self.flow_keys: dict = {}             # object id -> flow node key
        self.state: dict = {}                 # object id -> (state key, pending entry)
        self.ended: dict = {}                 # object id -> "finished"/"closed"/"failed"
        self.functions: dict = {}             # function key -> FunctionStates
        self.flow_edges: dict = {}
        self.flow_count: dict = {}            # function key -> instances (for flow aggregation)
        self.aggregated: set = set()          # functions drawn as one flow node
        self.appeared = 0

    # actors
    def actor(self, oid: int | None, e: dict) -> int:
        if oid is None:
            oid = -1
            if oid not in self.actors:
                self.appeared += 1
                self.actors[oid] = Actor(-1, "?", "runtime", None, None, self.appeared)
            return oid
        if oid not in self.actors:
            o = self.objects[oid]
            kind = o["kind"]
            function = None
            if kind in RECORDED_KINDS:
                function = (o.get("file"), o.get("qualname") or o.get("name"), o.get("line"))
                thread = e.get("thread")
            else:
                thread = o.get("thread") or e.get("thread")
            task = e.get("task") if kind in ("coroutine", "async_generator") else None
            if task:
                group = "task %s" % task
            elif thread not in (None, "MainThread"):
                group = "thread %s" % thread
            else:
                group = None
            self.appeared += 1
            self.actors[oid] = Actor(oid, o.get("label") or o.get("name") or str(oid), kind, group,
                                     function, self.appeared)
        return oid

    def stand_in(self, by: int | None, e: dict) -> int | None:
        """With the event loop hidden, control that comes from the loop (or
        goes back to it) comes from (goes to) the task it runs."""
        task = e.get("task")
        if by is None or not task or self.objects[by].get("kind") != "event_loop":
            return by
        aid = self.task_actors.get(task)
        if aid is None:
            aid = self.task_actors[task] = -2 - len(self.task_actors)
            self.appeared += 1
            self.actors[aid] = Actor(aid, task, "task", "task %s" % task, None, self.appeared)
        return aid

    def key(self, oid: int):
        """An actor as the folder compares it: generator-like objects by
        function and instance slot (from their start), everything else by
        identity."""
        return self.slot_key.get(oid, oid)

    def run(self) -> None:
        tasks = self.tasks.feed
        for e in self.stream.events():
            tasks(e)
            oid, ev = e["obj"], e["ev"]
            by = self.stand_in(e["by"], e) if self.hide_loop else e["by"]
            peer = self.actor(by, e)          # the sender first: it appears first
            obj = self.actor(oid, e)
            value = e["value"]
            a = self.actors[obj]
            from_loop = self.actors[peer].kind in LOOP_KINDS
            if ev == "start" and a.function is not None:
                used = self.slots.setdefault(a.function, set())
                slot = 0
                while slot in used:
                    slot += 1
                used.add(slot)
                self.slot_key[obj] = (a.function, slot)
                self.flow_count[a.function] = self.flow_count.get(a.function, 0) + 1
                if self.flow_count[a.function] == FLOW_AGGREGATE + 1:
                    self.aggregate(a.function)
            if ev in ENTRY_EVENTS:
                verb = entry_verb(ev, e["via"], value, from_loop, a.kind)
                shown = value if verb in _CALL_VERBS or verb in _VALUE_VERBS and value != "None" else None
                msg = Message(e["seq"], peer, obj, ev, verb, shown, bool(e.get("synthetic")), e["line"])
            elif ev == "yield" and e.get("on") is not None:
                # suspended in an await: what it waits on says more than
                # the loop's internal future that travelled
                msg = Message(e["seq"], obj, peer, ev, "await", e["on"], bool(e.get("synthetic")), e["line"])
            else:
                shown = None if ev == "return" and value in (None, "None") else value
                msg = Message(e["seq"], obj, peer, ev, ev, shown, bool(e.get("synthetic")), e["line"])
            self.message(msg)
            self.transition(e, a, msg)
            if ev in ("return", "raise") and obj in self.slot_key:  # its slot is free again
                self.slots[a.function].discard(self.slot_key[obj][1])

    def message(self, msg: Message) -> None:
        self.total += 1
        self.flow(msg)
        if len(self.plain) < self.max_messages:
            self.plain.append(msg)
        if self.fold is not False:  # the folded conversation may be the one drawn
            sig = (self.key(msg.src), self.key(msg.dst), msg.ev, msg.verb, msg.synthetic)
            self.folder.feed(sig, msg)

    # states
    def transition(self, e: dict, a: Actor, msg: Message) -> None:
        if a.function is None:
            return
        fs = self.functions.get(a.function)
        if fs is None:
            o = self.objects[a.id]
            fs = FunctionStates(a.function, a.function[1] or "?", a.kind, o.get("file"), o.get("line"))
            fs.states["created"] = StateNode("created", "created", "initial")
            self.functions[a.function] = fs
        ev = e["ev"]
        if a.id not in self.state:  # first seen (with its start, unless the trace is odd)
            fs.instances += 1
            self.state[a.id] = ("created", None)
        current, entry = self.state.get(a.id, ("created", None))
        if ev in ENTRY_EVENTS:
            self.state[a.id] = (current, msg)
            return
        if entry is None:       # an exit without its entry (cut trace): nothing to draw
            return
        if ev == "yield":
            line = e["line"]
            dst = "L%s" % line if line is not None else "L?"
            node = fs.states.get(dst)
            if node is None:
                node = fs.states[dst] = StateNode(dst, self._yield_label(line, a.id), "suspended", line)
            node.awaits = msg.verb == "await"
            if msg.value is not None and msg.value not in node.yielded and len(node.yielded) < EXAMPLES:
                node.yielded.append(msg.value)
        elif ev == "return":
            dst = "closed" if entry.ev == "close" else "finished"
            node = fs.states.get(dst) or fs.states.setdefault(dst, StateNode(dst, dst, "final"))
        else:
            dst = "failed"
            node = fs.states.get(dst) or fs.states.setdefault(dst, StateNode(dst, dst, "failed"))
            if msg.value is not None and msg.value not in node.yielded and len(node.yielded) < EXAMPLES:
                node.yielded.append(msg.value)
        node.visits += 1
        action = entry.verb
        key = (current, dst, action)
        t = fs.transitions.get(key)
        if t is None:
            t = fs.transitions[key] = Transition(current, dst, action, 0, [], entry.seq)
        t.count += 1
        if entry.value is not None and entry.value not in t.values and len(t.values) < EXAMPLES:
            t.values.append(entry.value)
        self.state[a.id] = (dst, None)
        if ev != "yield":
            self.ended[a.id] = dst

    def _yield_label(self, line, oid: int) -> str:
        if line is None:
            return "a yield"
        text = source_line(self.objects[oid].get("file"), line, self.stream.name)
        return "line %d: %s" % (line, text) if text else "line %d" % line

    # flow
    def flow_key(self, oid: int) -> str:
        key = self.flow_keys.get(oid)
        if key is None:
            a = self.actors[oid]
            if a.function is not None and a.function in self.aggregated:
                key = "f:%s:%s:%s" % a.function
            else:
                key = "a:%d" % oid
            self.flow_keys[oid] = key
        return key

    def aggregate(self, function: tuple) -> None:
        """Too many instances of one function: from now on the flow graph
        has one node for all of them; merge the edges drawn so far."""
        self.aggregated.add(function)
        self.flow_keys = {}
        old, self.flow_edges = self.flow_edges, {}
        for edge in old.values():
            key = (self._rekey(edge.src), self._rekey(edge.dst))
            into = self.flow_edges.get(key)
            if into is None:
                edge.src, edge.dst = key
                self.flow_edges[key] = edge
                continue
            into.first_seq = min(into.first_seq, edge.first_seq)
            for verb, (count, values) in edge.verbs.items():
                slot = into.verbs.setdefault(verb, [0, []])
                slot[0] += count
                slot[1].extend(v for v in values if v not in slot[1])
                del slot[1][EXAMPLES:]

    def _rekey(self, key: str) -> str:
        return self.flow_key(int(key[2:])) if key.startswith("a:") else key

    def flow(self, msg: Message) -> None:
        key = (self.flow_key(msg.src), self.flow_key(msg.dst))
        edge = self.flow_edges.get(key)
        if edge is None:
            edge = self.flow_edges[key] = FlowEdge(key[0], key[1], {}, msg.seq)
        if msg.verb not in edge.verbs:
            edge.verbs[msg.verb] = [0, []]
        slot: list = edge.verbs[msg.verb]
        slot[0] += 1
        values: list = slot[1]
        if msg.value is not None and msg.value not in values and len(values) < EXAMPLES:
            values.append(msg.value)

    # results
    def sequence(self) -> SequenceModel:
        self.folder.finish()
        folded = self.total > FOLD_ABOVE if self.fold is None else self.fold
        items = self.folder.items if folded else self.plain
        if not folded:  # the folder lent later values to the messages both lists share
            for m in self.plain:
                m.examples = []
        elided = self.folder.elided if folded else self.total - len(self.plain)
        messages = list(drawn_messages(items))
        drawn = {i for msg in messages for i in (msg.src, msg.dst)}
        synthetic = sum(1 for msg in messages if msg.synthetic)
        actors = _order([self.actors[i] for i in drawn])
        footer = self.stream.trace.footer
        if footer is not None:
            suspended = [i for i in footer.get("suspended", []) if i in drawn]
        else:
            suspended = [i for i, (s, entry) in self.state.items() if i in drawn and entry is None
                         and s.startswith("L")]
        return SequenceModel(
            actors=actors, items=items, folded=folded, total_messages=self.total, elided=elided,
            max_messages=self.max_messages, suspended=sorted(suspended),
            finished=sorted(i for i in self.ended if i in drawn),
            dropped=(footer or {}).get("dropped", 0), limit_reached=bool((footer or {}).get("limit_reached")),
            lost=(footer or {}).get("lost", 0) or 0,
            truncated=footer is None, synthetic=synthetic)

    def states(self) -> StatesModel:
        return StatesModel(functions=list(self.functions.values()))

    def flow_model(self) -> FlowModel:
        nodes: dict = {}
        for oid, a in sorted(self.actors.items(), key=lambda kv: kv[1].first_seq):
            key = self.flow_key(oid)
            if key in nodes:
                continue
            if key.startswith("f:"):
                count = self.flow_count.get(a.function, 0)
                nodes[key] = FlowNode(key, "%s ×%d" % (a.function[1], count), a.kind, count)
            else:
                nodes[key] = FlowNode(key, a.label, a.kind)
        edges = sorted(self.flow_edges.values(), key=lambda ed: ed.first_seq)
        return FlowModel(nodes=list(nodes.values()), edges=edges)


def _order(actors: list) -> list:
    """Drawing order: groups in order of first appearance, actors within a
    group likewise (the main thread's actors first)."""
    first_of_group: dict = {}
    for a in sorted(actors, key=lambda a: a.first_seq):
        first_of_group.setdefault(a.group, a.first_seq)
    first_of_group[None] = -1
    return sorted(actors, key=lambda a: (first_of_group[a.group], a.first_seq, a.id))


def source_line(file: str | None, line: int, trace_path: str = "") -> str:
    """The stripped source text of ``file:line``; files recorded relative to
    the working directory are also looked up beside the trace's directory."""
    if not file or file.startswith("<"):
        return ""
    candidates = [file]
    if not os.path.isabs(file) and trace_path:
        base = os.path.dirname(os.path.dirname(os.path.abspath(trace_path)))
        candidates.append(os.path.join(base, file))
    for path in candidates:
        text = linecache.getline(path, line)
        if text:
            return " ".join(_without_comment(text).split())
    return ""


def _without_comment(text: str) -> str:
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                return text[:tok.start[1]]
    except (tokenize.TokenError, SyntaxError):
        pass
    return text


def build(path: str, max_messages: int = DEFAULT_MAX_MESSAGES, fold: bool | None = None,
          hide_loop: bool = False) -> Models:
    """Read the trace at ``path`` once and build every view's model.

    ``fold``: None folds repeated runs of messages into loops when the
    conversation is longer than FOLD_ABOVE messages; True/False force it.
    """
    stream = TraceStream(path)
    builder = _Builder(stream, max_messages, fold, hide_loop)
    builder.run()
    trace = stream.trace
    title = trace.header.get("target") or os.path.basename(path).split(".")[0]
    return Models(title=title, sequence=builder.sequence(), states=builder.states(),
                  flow=builder.flow_model(), warnings=list(trace.warnings),
                  tasks=builder.tasks.result(trace.footer is None))
