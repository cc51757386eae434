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

import functools
import io
import itertools
import linecache
import os
import stat
import tokenize
from dataclasses import dataclass, field

from . import anomalies, compat
from .aggregates import EXAMPLES, Aggregator, merge_examples, switch_stats
from .aggregates import VERSION as AGGREGATES_VERSION
from .redact import Redactor
from .taskmodel import TasksBuilder, TasksModel
from .traceio import ENTRY_EVENTS, TraceError, TraceStream, read_tail

RECORDED_KINDS = compat.RECORDED_KINDS
LOOP_KINDS = ("event_loop", "task")  # who drives the coroutines of asyncio tasks (task: --hide-loop)
from .defaults import DEFAULT_MAX_MESSAGES  # noqa: E402  (re-exported)
FOLD_ABOVE = 60         # conversations longer than this are folded (unless fold is False)
MAX_PERIOD = 128        # longest repeating run of messages looked for
MAX_FLAT = 256          # longest unrolled loop body compared message by message


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
    anomaly: str | None = None    # the anomaly this message is (tracer.anomalies), if any

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
    window: int | None = None     # only the first this many events were read (the trace has more)
    anomalies: list = field(default_factory=list)   # of tracer.anomalies.Anomaly: the whole run's
    unrecorded: str = ""          # generator functions that ran outside the filters (anomalies.unrecorded)


@dataclass
class Transition:
    src: str
    dst: str
    action: str                   # "send", "next()", "throw", ...
    count: int = 0
    values: list = field(default_factory=list)  # distinct example sent values
    first_seq: int = 0
    anomaly: str | None = None    # every time it is taken is this anomaly (tracer.anomalies)


@dataclass
class StateNode:
    key: str                      # "created", "L23", "finished", "closed", "failed"
    label: str                    # "created", "line 23: n = yield bool(wanted)", ...
    kind: str                     # "initial", "suspended", "final", "failed"
    line: int | None = None
    yielded: list = field(default_factory=list)  # example values yielded there (or what it awaits)
    awaits: bool = False          # suspended in an await there: ``yielded`` names what it waits on
    visits: int = 0
    anomaly: str | None = None    # "failed": how it failed, when that is an anomaly (tracer.anomalies)


@dataclass
class Ledger:
    """The lifetime of a generator function's objects, counted over the
    whole run (from the aggregates, so any length costs the same)."""
    objects: int = 0              # objects with an event
    started: int = 0
    resumes: int = 0              # entries into a suspended object (next, send, throw, close, await, ...)
    yields: int = 0               # suspensions (yields and awaits)
    returned: int = 0             # ended by running to their end (return, or exhaustion)
    closed: int = 0               # ended by close()
    collected: int = 0            # ended by the garbage collector (finalization)
    raised: int = 0               # ended by an exception
    suspended: int = 0            # still suspended when the program ended
    never_awaited: int = 0        # coroutines dropped without ever running (no event: not in ``objects``)


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
    ledger: Ledger = field(default_factory=Ledger)


@dataclass
class StatesModel:
    functions: list               # of FunctionStates, in order of first appearance
    unrecorded: str = ""          # as SequenceModel's


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
    unrecorded: str = ""          # as SequenceModel's
    switches: dict | None = None  # aggregates.switch_stats of the run (None: an older trace)


@dataclass
class Models:
    title: str
    sequence: SequenceModel
    states: StatesModel
    flow: FlowModel
    warnings: list
    tasks: TasksModel | None = None   # asyncio programs only
    anomalies: list = field(default_factory=list)   # of tracer.anomalies.Anomaly, in order of first occurrence


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
    """The sequence (and task) view, fed one event at a time."""

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
        self.state: dict = {}                 # object id -> (state key, pending entry): for what is still suspended
        self.ended: set = set()               # object ids that ended
        self.entered: dict = {}               # object id -> (ev, via) of its entry, until it leaves
        self.appeared = 0
        self.window: int | None = None        # events read, when the reading stopped before the end

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
            # a plain generator driven inside a task is drawn in that task's
            # box too (the task of its first event: the tasks view's choice)
            task = e.get("task") if kind in RECORDED_KINDS else None
            self.appeared += 1
            self.actors[oid] = Actor(oid, o.get("label") or o.get("name") or str(oid), kind,
                                     _group(thread, task), function, self.appeared)
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

    def run(self, events, aggregator=None, window: int | None = None) -> None:
        """Take the events; also feed ``aggregator`` (a trace without
        aggregates); stop after ``window`` events (one with them)."""
        tasks = self.tasks.feed
        objects = self.objects
        facts: list = []          # for the aggregator, in batches
        registered = 0            # object records handed to it (in the order of the file)
        n = 0
        for e in events:
            n += 1
            if window is not None and n > window:
                self.window = window
                break
            tasks(e)
            oid, ev = e["obj"], e["ev"]
            if aggregator is not None:
                if len(objects) > registered:
                    for i in itertools.islice(objects, registered, None):
                        aggregator.object(objects[i])
                    registered = len(objects)
                loc = (ev, oid, e["by"], e["via"], e["line"], e["thread"], e["task"], e.get("on"))
                facts.append((e["seq"], aggregator.slot(loc, e["seq"]), oid, e["value"]))
                aggregator.switches.event(e.get("t"), e["thread"])
                if len(facts) >= 2048:
                    aggregator.events(facts)
                    facts = []
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
            anomaly = None
            if ev in ENTRY_EVENTS:
                self.entered[oid] = (ev, e["via"])
                verb = entry_verb(ev, e["via"], value, from_loop, a.kind)
                msg = Message(e["seq"], peer, obj, ev, verb, shown_entry_value(verb, value),
                              bool(e.get("synthetic")), e["line"])
            else:
                entry_ev, entry_via = self.entered.pop(oid, (None, None))
                anomaly = anomalies.of_exit(entry_ev, entry_via, ev, value)
                if ev == "yield" and e.get("on") is not None:
                    # suspended in an await: what it waits on says more than
                    # the loop's internal future that travelled
                    msg = Message(e["seq"], obj, peer, ev, "await", e["on"], bool(e.get("synthetic")), e["line"])
                else:
                    msg = Message(e["seq"], obj, peer, ev, ev, shown_exit_value(ev, value),
                                  bool(e.get("synthetic")), e["line"])
            msg.anomaly = anomaly
            self.message(msg)
            if a.function is not None:
                self.follow(obj, msg)
            if ev in ("return", "raise") and obj in self.slot_key:  # its slot is free again
                self.slots[a.function].discard(self.slot_key[obj][1])
        if aggregator is not None:
            aggregator.events(facts)
            # what happened outside the events (version 4), once all is read
            for i in itertools.islice(objects, registered, None):
                aggregator.object(objects[i])
            for rec in self.stream.trace.notes:
                aggregator.note(rec)

    def message(self, msg: Message) -> None:
        self.total += 1
        if len(self.plain) < self.max_messages:
            self.plain.append(msg)
        if self.fold is not False:  # the folded conversation may be the one drawn
            sig = (self.key(msg.src), self.key(msg.dst), msg.ev, msg.verb, msg.synthetic, msg.anomaly)
            self.folder.feed(sig, msg)

    def follow(self, oid: int, msg: Message) -> None:
        """Where each object is (for a trace without a footer): suspended at
        a yield, or ended."""
        current, entry = self.state.get(oid, ("created", None))
        if msg.entry:
            self.state[oid] = (current, msg)
        elif entry is not None:
            self.state[oid] = ("L" if msg.ev == "yield" else "end", None)
            if msg.ev != "yield":
                self.ended.add(oid)

    # results
    def sequence(self, total: int) -> SequenceModel:
        self.folder.finish()
        folded = total > FOLD_ABOVE if self.fold is None else self.fold
        items = self.folder.items if folded else self.plain
        if not folded:  # the folder lent later values to the messages both lists share
            for m in self.plain:
                m.examples = []
        unread = total - self.total  # past the window
        elided = (self.folder.elided if folded else self.total - len(self.plain)) + unread
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
            actors=actors, items=items, folded=folded, total_messages=total, elided=elided,
            max_messages=self.max_messages, suspended=sorted(suspended),
            finished=sorted(i for i in self.ended if i in drawn),
            dropped=(footer or {}).get("dropped", 0), limit_reached=bool((footer or {}).get("limit_reached")),
            lost=(footer or {}).get("lost", 0) or 0,
            truncated=footer is None, synthetic=synthetic, window=self.window)


def _group(thread, task) -> str | None:
    if task:
        return "task %s" % task
    if thread not in (None, "MainThread"):
        return "thread %s" % thread
    return None


def shown_entry_value(verb: str, value: str | None) -> str | None:
    """The value an entry arrow shows: what was sent or thrown in."""
    return value if verb in _CALL_VERBS or verb in _VALUE_VERBS and value != "None" else None


def shown_exit_value(ev: str, value: str | None) -> str | None:
    """The value an exit arrow shows (a bare ``return`` shows none)."""
    return None if ev == "return" and value in (None, "None") else value


_VFLAG_VALUE = {0: None, 1: "None", 2: "x"}   # aggregates' vflag -> a value entry_verb decides alike


def _examples(examples: list, keep=lambda v: v is not None) -> list:
    """The first EXAMPLES shown values of aggregated ``[seq, value]`` pairs."""
    return [v for _, v in examples if keep(v)][:EXAMPLES]


def states_from(agg: dict, trace_path: str, cwd: str | None = None, values: str | None = None,
                found: list | None = None) -> StatesModel:
    """The state graphs from a trace's aggregates (:mod:`tracer.aggregates`);
    ``found``: the run's anomalies, marked where they happened."""
    objects = {o["id"]: o for o in agg["objects"]}
    functions: dict = {}
    by_index: dict = {}
    for index, (oid, starts, instances, first) in enumerate(agg["functions"]):
        if first is None:
            continue
        o = objects[oid]
        key = (o.get("file"), o.get("qualname") or o.get("name"), o.get("line"))
        fs = FunctionStates(key, key[1] or "?", o["kind"], o.get("file"), o.get("line"), instances)
        fs.ledger.objects, fs.ledger.started = instances, starts
        fs.states["created"] = StateNode("created", "created", "initial")
        functions[first] = by_index[index] = fs
    for index, dst, line, _seq, visits, awaits, examples in agg["states"]:
        fs = by_index[index]
        if dst.startswith("L"):
            node = StateNode(dst, _yield_label(line, fs.file, trace_path, cwd, values), "suspended", line)
            node.awaits = awaits
        else:
            node = StateNode(dst, dst, "final" if dst != "failed" else "failed")
        node.yielded = _examples(examples)
        node.visits = visits
        fs.states[dst] = node
    merging: dict = {}
    for index, src, dst, ev, via, from_loop, vflag, count, entry_seq, _seq, examples in agg["transitions"]:
        fs = by_index[index]
        _account(fs.ledger, src, dst, via, count)
        verb = entry_verb(ev, via, _VFLAG_VALUE[vflag], from_loop, fs.kind)
        examples = [[q, v] for q, v in examples if shown_entry_value(verb, v) is not None]
        # several ways in may be drawn alike (close() and collection: close())
        slot = merging.setdefault((index, src, dst, verb), [entry_seq, 0, [], None])
        slot[0] = min(slot[0], entry_seq)
        slot[1] += count
        slot[2] = merge_examples([slot[2], examples])
        if dst.startswith("L"):
            slot[3] = slot[3] or anomalies.of_exit(ev, via, "yield", None)
    for (index, src, dst, verb), (entry_seq, count, examples, anomaly) in merging.items():
        fs = by_index[index]
        fs.transitions[(src, dst, verb)] = Transition(src, dst, verb, count, _examples(examples), entry_seq,
                                                      anomaly)
    by_key = {f.key: f for f in functions.values()}
    for a in found or ():
        f = by_key.get(a.key)
        if f is None:
            continue
        # what only the end knows, into the ledger
        if a.kind == "still-suspended":
            f.ledger.suspended += a.count
        elif a.kind == "never-awaited":
            f.ledger.never_awaited += a.count
        # how a function failed, on its "failed" state
        elif a.kind in anomalies.RAISES and "failed" in f.states:
            f.states["failed"].anomaly = f.states["failed"].anomaly or a.kind
    return StatesModel(functions=[functions[k] for k in sorted(functions)])


def _account(ledger: Ledger, src: str, dst: str, via: str | None, count: int) -> None:
    """One row of transitions into the ledger: ``count`` objects went from
    state ``src`` to ``dst`` (entered by ``via``)."""
    if src != "created":
        ledger.resumes += count
    if dst.startswith("L"):
        ledger.yields += count
    elif dst == "finished":
        ledger.returned += count
    elif dst == "closed":
        if via == "gc":
            ledger.collected += count
        else:
            ledger.closed += count
    elif dst == "failed":
        ledger.raised += count


def flow_from(agg: dict, hide_loop: bool = False) -> FlowModel:
    """The flow graph from a trace's aggregates: one node per actor (or per
    function with more than FLOW_AGGREGATE objects), edges counted by how."""
    objects = {o["id"]: o for o in agg["objects"]}
    functions = agg["functions"]
    tasks: dict = {}

    def key_of(node: list) -> tuple:
        kind, ident, task = node
        if kind == "f":
            return ("f", ident)
        if task is not None and hide_loop:
            return ("t", task)
        return ("a", ident)

    first: dict = {}
    for node, seq, pos, _thread, _task in agg["actors"]:
        k = key_of(node)
        if k not in first or (seq, pos) < first[k]:
            first[k] = (seq, pos)
    nodes: dict = {}
    names: dict = {}
    for k in sorted(first, key=first.__getitem__):
        if k[0] == "f":
            o = objects[functions[k[1]][0]]
            fn = (o.get("file"), o.get("qualname") or o.get("name"), o.get("line"))
            name = "f:%s:%s:%s" % fn
            count = functions[k[1]][1]
            nodes[k] = FlowNode(name, "%s ×%d" % (fn[1], count), o["kind"], count)
        elif k[0] == "t":
            aid = tasks.setdefault(k[1], -2 - len(tasks))
            name = "a:%d" % aid
            nodes[k] = FlowNode(name, k[1], "task")
        elif k[1] == -1:
            name = "a:-1"
            nodes[k] = FlowNode(name, "?", "runtime")
        else:
            o = objects[k[1]]
            name = "a:%d" % k[1]
            nodes[k] = FlowNode(name, o.get("label") or o.get("name") or str(k[1]), o["kind"])
        names[k] = name
    groups: dict = {}   # (src, dst) -> verb -> [first seq, count, examples]
    for src, dst, vkey, count, seq, examples in agg["flow"]:
        s, d = key_of(src), key_of(dst)
        if vkey[0] == "in":
            _, ev, via, from_loop, vflag = vkey
            entered = nodes[d]
            verb = entry_verb(ev, via, _VFLAG_VALUE[vflag], from_loop, entered.kind)
            shown = functools.partial(shown_entry_value, verb)
        else:
            _, ev, on = vkey
            verb = "await" if on else ev
            shown = functools.partial(shown_exit_value, ev)
        examples = [[q, v] for q, v in examples if shown(v) is not None]
        slot = groups.setdefault((s, d), {}).get(verb)
        if slot is None:
            groups[(s, d)][verb] = [seq, count, examples]
        else:
            slot[0] = min(slot[0], seq)
            slot[1] += count
            slot[2] = merge_examples([slot[2], examples])
    edges = []
    for (s, d), verbs in groups.items():
        ordered = sorted(verbs.items(), key=lambda kv: kv[1][0])
        edge = FlowEdge(names[s], names[d], {verb: [count, [v for _, v in examples][:EXAMPLES]]
                                             for verb, (_, count, examples) in ordered}, ordered[0][1][0])
        edges.append(edge)
    edges.sort(key=lambda ed: ed.first_seq)
    return FlowModel(nodes=list(nodes.values()), edges=edges)


def _yield_label(line, file, trace_path: str, cwd: str | None = None, values: str | None = None) -> str:
    """``line 12: x = yield n``.  The source text follows the trace's rule
    for values (its header's ``values``): recorded with --redact patterns or
    --no-values, none is shown (the patterns are not in the trace, so the
    drawing cannot apply them to a literal in the source); with the default
    names, their values are hidden in the source text too."""
    if line is None:
        return "a yield"
    text = source_line(file, line, trace_path, cwd) if values not in ("redacted", "none") else ""
    if text and values == "names":
        text = _NAMES.text(text)
    return "line %d: %s" % (line, text) if text else "line %d" % line


_NAMES = Redactor()


def _order(actors: list) -> list:
    """Drawing order: groups in order of first appearance, actors within a
    group likewise (the main thread's actors first)."""
    first_of_group: dict = {}
    for a in sorted(actors, key=lambda a: a.first_seq):
        first_of_group.setdefault(a.group, a.first_seq)
    first_of_group[None] = -1
    return sorted(actors, key=lambda a: (first_of_group[a.group], a.first_seq, a.id))


def source_line(file: str | None, line: int, trace_path: str = "", cwd: str | None = None) -> str:
    """The stripped source text of ``file:line``.  A file recorded relative
    is looked up in the working directory the trace was recorded in
    (``cwd``, in the header since cotrace 0.3), then in this one, then beside
    the trace's directory (where ``output/`` lives)."""
    if not file or file.startswith("<"):
        return ""
    candidates = [file]
    if not os.path.isabs(file):
        if cwd and os.path.isabs(cwd):
            candidates.insert(0, os.path.join(cwd, file))
        if trace_path:
            base = os.path.dirname(os.path.dirname(os.path.abspath(trace_path)))
            candidates.append(os.path.join(base, file))
    for path in candidates:
        if not _plain_source(path):
            continue
        text = linecache.getline(path, line)
        if text:
            return " ".join(_without_comment(text).split())
    return ""


MAX_SOURCE = 8 << 20  # bytes: a source file longer than this is not read for its lines
SOURCE_SUFFIXES = (".py", ".pyw")


def _plain_source(path: str) -> bool:
    """The rule for reading a file named by a trace for its source lines: a
    regular file of at most MAX_SOURCE bytes whose name, and whose real name
    behind any symbolic link, ends in .py or .pyw.  A trace names the files,
    and a crafted one could name a FIFO (which would block the drawing), a
    device (/dev/zero: read until memory ends) or a private file
    (/etc/shadow, a key) whose lines would land in the diagrams."""
    if not path.endswith(SOURCE_SUFFIXES):
        return False
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except (OSError, ValueError):
        return False
    return real.endswith(SOURCE_SUFFIXES) and stat.S_ISREG(st.st_mode) and st.st_size <= MAX_SOURCE


def _without_comment(text: str) -> str:
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                return text[:tok.start[1]]
    except (tokenize.TokenError, SyntaxError):
        pass
    return text


WINDOW = 200_000   # events a drawing reads, at most, from a trace with aggregates


def anomalies_of(path: str) -> list:
    """Every anomaly of the whole run (what ``--check`` lists): one pass that reads all of it (the objects still suspended at
    the end may be defined anywhere)."""
    models = build(path, max_messages=1, fold=False, window=2 ** 62)
    return models.anomalies


def build(path: str, max_messages: int = DEFAULT_MAX_MESSAGES, fold: bool | None = None,
          hide_loop: bool = False, window: int | None = None, use_aggregates: bool = True) -> Models:
    """Build every view's model from the trace at ``path``.

    A finished trace with aggregates (version 3) is read at its end for the
    state and flow graphs, and its first ``window`` events (default
    WINDOW, at least 50 x max_messages) for the sequence and task views:
    the cost of drawing does not grow with the run.  Any other trace is
    read once, whole, and the aggregates are computed on the way (the same
    code: tracer.aggregates).

    ``fold``: None folds repeated runs of messages into loops when the
    conversation is longer than FOLD_ABOVE messages; True/False force it.
    ``use_aggregates=False`` ignores the recorded aggregates (tests).
    """
    stream = TraceStream(path)
    trace = stream.trace
    builder = _Builder(stream, max_messages, fold, hide_loop)
    tail = read_tail(path) if use_aggregates and trace.header.get("version", 0) >= 3 else None
    if tail is not None and tail[0].get("version") == AGGREGATES_VERSION:
        agg = tail[0]
        limit = window if window is not None else max(WINDOW, 50 * max_messages)
        builder.run(stream.events(), window=limit)
        if builder.window is not None:
            stream.close()
            trace.footer = tail[1]
            total = agg["events"]
        else:
            total = builder.total
    else:
        aggregator = Aggregator()
        builder.run(stream.events(), aggregator=aggregator)
        agg = aggregator.result()
        total = builder.total
    title = trace.header.get("target") or os.path.basename(path).split(".")[0]
    try:
        found = anomalies.ordered(
            anomalies.from_record(agg.get("anomalies") or [], {o["id"]: o for o in agg["objects"]})
            + anomalies.at_exit(trace.footer, trace.objects, (trace.header.get("argv") or [None])[0]))
        cwd, values = trace.header.get("cwd"), trace.header.get("values")
        states, flow = states_from(agg, path, cwd, values, found), flow_from(agg, hide_loop)
    except (KeyError, IndexError, TypeError, ValueError):
        raise TraceError("%s: the aggregates record is malformed" % path) from None
    sequence = builder.sequence(total)
    sequence.anomalies = found
    sequence.unrecorded = states.unrecorded = flow.unrecorded = anomalies.unrecorded(trace.footer)
    flow.switches = switch_stats(agg.get("switches"))
    return Models(title=title, sequence=sequence, states=states, flow=flow,
                  warnings=list(trace.warnings), tasks=builder.tasks.result(trace.footer is None), anomalies=found)
