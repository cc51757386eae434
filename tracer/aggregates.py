"""What the state graphs and the flow graph need, kept small however long the run.

One :class:`Aggregator` is fed every event once, in order: by the trace
writer while recording (the result is written into the trace as its
``aggregates`` record, just before the footer), or by the reader when a
trace has none (recorded by an older cotrace, cut short by a kill, or
gzip-compressed, where the end of the file cannot be reached without
reading it all).  Both ways run this code, so a drawing does not depend on
which happened; ``tests/test_aggregates.py`` checks that what the recorder
wrote equals what a pass over the events gives.

What is kept (see docs/trace-format.md, "aggregates"):

* per generator function: how many objects ran, how many started;
* per function and (state, next state, how it was entered): a count, the
  first entry's seq, and the first few distinct values sent in;
* per function and state: visits and the first few values yielded there;
* flow edges between actors: per (sender, receiver, how) a count and
  example values.  A function with more than ``FLOW_AGGREGATE`` started
  objects is one flow node: its objects are kept one by one only until
  then, so memory is bounded by the code, not by the objects or events
  (live objects cost one small entry each until they end).

Raw facts only: the verbs and labels the pictures show are composed from
them by :mod:`tracer.model`, in one place.  Example values keep the seq of
their first occurrence, so that merging groups gives exactly the first
distinct values in the order they happened.
"""
from __future__ import annotations

from . import anomalies, compat

RECORDED = frozenset(compat.RECORDED_KINDS)
ENTRIES = frozenset({"start", "resume", "throw", "close"})
EXAMPLES = 3             # distinct example values a picture shows
KEEP = EXAMPLES + 1      # kept per group: one more, as a shown list may leave out "None"
FLOW_AGGREGATE = 8       # more started objects of one function than this: one flow node
VERSION = 2             # 2: the anomalies (tracer.anomalies)
ANOMALY_ROWS = 200      # distinct (kind, function, line) kept: bounded by the code, capped for a pathological one
RAISED_KEPT = 4096     # objects that raised, remembered after their end for a later anomaly record


def _note(examples: list, seq: int, value) -> None:
    """Keep ``value`` (with the seq it was first seen at) if there is room."""
    if value is None or len(examples) >= KEEP:
        return
    for s, v in examples:
        if v == value:
            return
    examples.append([seq, value])


def merge_examples(lists) -> list:
    """The first KEEP distinct values, by first occurrence, of several groups."""
    first: dict = {}
    for examples in lists:
        for seq, value in examples:
            if value not in first or seq < first[value]:
                first[value] = seq
    return [[s, v] for v, s in sorted(first.items(), key=lambda kv: kv[1])][:KEEP]


class _Function:
    __slots__ = ("index", "obj", "first", "starts", "instances", "members")

    def __init__(self, index: int, obj: int) -> None:
        self.index = index
        self.obj = obj           # the first object's id: its record names the function
        self.first: int | None = None  # seq of the first event of any of its objects
        self.starts = 0
        self.instances = 0       # objects with an event
        self.members = 0         # objects kept as flow nodes of their own (at most FLOW_AGGREGATE + 1)


# A "slot" is what the aggregator works out once per event location (the
# fields an event shares with every other event of the same location, as
# the writer's JSON tail cache): a list, so the hot loop only indexes.
# entry slot: [True, function or None, flow keys/counters by vflag, ev, via, from_loop, entry kind]
# exit slot:  [False, function or None, flow key/counter, state after a yield (or None: by the entry),
#              value shown is ``on``, is a yield, {(state, entry kind, vflag): transition}, ev, on]


def _bucket(gap: int) -> int:
    """A gap in ns as a histogram bucket: exact below 8, then four buckets
    an octave (the two bits after the leading one): within 12%."""
    if gap < 8:
        return max(gap, 0)
    n = gap.bit_length()
    return (n << 2) | ((gap >> (n - 3)) & 3)


def _bucket_value(b: int) -> float:
    """The middle of bucket ``b`` in ns."""
    if b < 8:
        return float(b)
    n, sub = b >> 2, b & 3
    lead = 1 << (n - 1)
    width = lead >> 2
    return lead + sub * width + width / 2


class Switches:
    """Switch accounting, the seed tutorial's claim made measurable: the
    gaps between consecutive events (each event is control changing hands
    between two parties), as two histograms: where the next event is in
    the same thread, and where the running thread changed.  From the
    recorded timestamps, so cotrace's own cost per event is in every gap."""

    def __init__(self) -> None:
        self.last_t: int | None = None
        self.last_thread: object = None
        self.same: dict = {}      # bucket -> count
        self.changed: dict = {}

    def event(self, t, thread) -> None:
        if type(t) is not int:
            return
        last = self.last_t
        if last is not None:
            h = self.same if thread == self.last_thread else self.changed
            b = _bucket(t - last)
            h[b] = h.get(b, 0) + 1
        self.last_t, self.last_thread = t, thread

    def batch(self, recs) -> None:
        """The writer's records (tuples: ``("e", seq, t, ..., thread at 10, ...)``)."""
        last, last_thread = self.last_t, self.last_thread
        same, changed = self.same, self.changed
        for rec in recs:
            if rec[0] != "e":
                continue
            t, thread = rec[2], rec[10]
            if last is not None:
                gap = t - last
                b = (gap if gap > 0 else 0) if gap < 8 else ((gap.bit_length() << 2) | ((gap >> (gap.bit_length() - 3)) & 3))
                h = same if thread == last_thread else changed
                h[b] = h.get(b, 0) + 1
            last, last_thread = t, thread
        self.last_t, self.last_thread = last, last_thread

    def result(self) -> dict:
        return {"same_thread": sorted([b, n] for b, n in self.same.items()),
                "thread_change": sorted([b, n] for b, n in self.changed.items())}


def switch_stats(rec) -> dict | None:
    """From the aggregates' ``switches``: per kind of gap (``same_thread``,
    ``thread_change``) its count, median and 99th percentile in ns; None
    for a record without them (an older trace) or a malformed one."""
    if not isinstance(rec, dict):
        return None
    out = {}
    for kind in ("same_thread", "thread_change"):
        rows = rec.get(kind)
        if not isinstance(rows, list) or not all(
                isinstance(r, list) and len(r) == 2 and type(r[0]) is int and type(r[1]) is int and r[1] > 0
                for r in rows):
            return None
        total = sum(n for _, n in rows)
        stats = {"count": total, "median": None, "p99": None}
        seen = 0
        for b, n in sorted(rows):
            seen += n
            if stats["median"] is None and seen * 2 >= total:
                stats["median"] = _bucket_value(b)
            if seen * 100 >= total * 99:
                stats["p99"] = _bucket_value(b)
                break
        out[kind] = stats
    return out


class Aggregator:
    """Fed with object records (:meth:`object`, before the first event that
    mentions the object) and batches of events (:meth:`events`), in order."""

    def __init__(self) -> None:
        self.events_seen = 0
        self.switches = Switches()   # fed apart (the timestamps are not in the events' facts)
        self.kinds: dict = {}        # id -> kind, of the actors that are not recorded objects (bounded by the code)
        self.objects: dict = {}      # id -> object record, of the actors and functions the result names
        self.fn_of: dict = {}        # recorded object id -> _Function (until it ends)
        self.raised_fn: dict = {}    # the same for the last RAISED_KEPT objects that ended by a raise
        self.member_fn: dict = {}    # recorded object id kept as its own flow node -> function index
        self.functions: dict = {}    # (file, qualname, line) -> _Function
        self.first: dict = {}        # flow node -> [seq, pos, thread, task] of its first appearance
        self.state: dict = {}        # recorded object id -> its state ("created", "L12")
        self.pending: dict = {}      # recorded object id -> (entry slot, vflag, seq, value): entered, not left
        self.transitions: dict = {}  # (fn, src, dst, entry kind, vflag) -> [count, entry seq, seq, examples, node]
        self.nodes: dict = {}        # (fn, dst) -> [line, seq, visits, awaits at the last visit, examples, dst]
        self.flow: dict = {}         # (src node, dst node, verb key) -> [count, first seq, examples]
        self._slots: dict = {}       # event location -> slot
        self._entry_kinds: dict = {}  # (ev, via, from_loop) -> small int, and back
        self._entry_kind_list: list = []
        # (kind, fn index, line) -> [count, first seq, first object's function's object id, via, value,
        # transitions whose count is the count]
        self.anomalies: dict = {}

    # -- input --------------------------------------------------------------------------
    def object(self, rec: dict) -> None:
        oid, kind = rec["id"], rec["kind"]
        if kind not in RECORDED:
            # (a recorded object is known by fn_of while it lives: keeping
            # every one here would grow with the objects of the run)
            self.kinds[oid] = kind
            self.objects[oid] = rec
            return
        key = (rec.get("file"), rec.get("qualname") or rec.get("name"), rec.get("line"))
        fn = self.functions.get(key)
        if fn is None:
            fn = self.functions[key] = _Function(len(self.functions), oid)
            self.objects[oid] = rec
        self.fn_of[oid] = fn
        if fn.members <= FLOW_AGGREGATE:
            fn.members += 1
            self.member_fn[oid] = fn.index
            self.objects[oid] = rec

    def _node(self, oid, task, pos: int, seq: int, thread) -> tuple:
        """The flow node standing for actor ``oid`` in this event."""
        if oid is None:
            node: tuple = ("a", -1, None)
        elif oid in self.fn_of:
            node = ("a", oid, None) if oid in self.member_fn else ("f", self.fn_of[oid].index, None)
        elif self.kinds.get(oid) == "event_loop":
            node = ("a", oid, task)  # with --hide-loop, the task stands in for its loop
        else:
            node = ("a", oid, None)
        if node not in self.first:
            self.first[node] = [seq, pos, thread, task]
        return node

    def _flow_slot(self, key: tuple, seq: int) -> list:
        f = self.flow.get(key)
        if f is None:
            f = self.flow[key] = [0, seq, []]
        return f

    def slot(self, loc: tuple, seq: int) -> list:
        """What every event at this location ``(ev, obj, by, via, line,
        thread, task, on)`` shares, worked out once (``seq``: the first
        event there).  The writer keeps it beside its JSON tail."""
        slot = self._slots.get(loc)
        if slot is None:
            slot = self._new_slot(loc, seq)
        return slot

    def _new_slot(self, loc: tuple, seq: int) -> list:
        ev, obj, by, via, line, thread, task, on = loc
        src = self._node(by, task, 0, seq, thread)
        dst = self._node(obj, task, 1, seq, thread)
        fn = self.fn_of.get(obj)
        if ev in ENTRIES:
            from_loop = by is not None and self.kinds.get(by) == "event_loop"
            kind_key = (ev, via, from_loop)
            kind = self._entry_kinds.get(kind_key)
            if kind is None:
                kind = self._entry_kinds[kind_key] = len(self._entry_kind_list)
                self._entry_kind_list.append(kind_key)
            flows = [(src, dst, ("in", ev, via, from_loop, vflag)) for vflag in (0, 1, 2)]
            slot = [True, fn, flows, ev, via, from_loop, kind]
        else:
            dst_state: str | None
            if ev == "yield":
                dst_state = "L%s" % line if line is not None else "L?"
            else:
                dst_state = "failed" if ev == "raise" else None  # a return: closed or finished, by its entry
            slot = [False, fn, (dst, src, ("out", ev, on is not None)), dst_state, ev == "yield" and on is not None,
                    ev == "yield", {}, ev, on, line]
        # an object's function and node are fixed from its record: a slot
        # stays valid while the object lives, and the slots of ended objects go
        if len(self._slots) > 50000:
            self._slots.clear()
        self._slots[loc] = slot
        return slot

    def events(self, batch) -> None:
        """Take a batch of events, each ``(seq, slot, obj, value)``: the
        :meth:`slot` of its location, and ``value`` the recorded value text
        or None.

        The writer runs this for every event it writes: what an event does
        here is a few lookups in its location's slot."""
        pending = self.pending
        state = self.state
        n = 0
        for seq, slot, obj, value in batch:
            n += 1
            if slot[0]:  # an entry
                vflag = 0 if value is None else 1 if value == "None" else 2
                f = slot[2][vflag]
                if type(f) is tuple:
                    f = slot[2][vflag] = self._flow_slot(f, seq)
                f[0] += 1
                if vflag and len(f[2]) < KEEP:
                    _note(f[2], seq, value)
                if slot[1] is not None:
                    pending[obj] = (slot, vflag, seq, value)
                    if obj not in state:
                        self._first_event(slot[1], obj, seq, slot[3] == "start")
                continue
            f = slot[2]
            if type(f) is tuple:
                f = slot[2] = self._flow_slot(f, seq)
            f[0] += 1
            if slot[4]:
                value = slot[8]  # suspended in an await: what it waits on
            if value is not None and len(f[2]) < KEEP:
                _note(f[2], seq, value)
            fn = slot[1]
            if fn is None:
                continue
            entry = pending.pop(obj, None)
            if entry is not None:
                eslot, vflag, eseq, evalue = entry
                prev = state[obj]
                t = slot[6].get((prev, eslot[6], vflag))
                if t is None:
                    t = self._transition(slot, fn, prev, eslot, vflag, eseq, seq)
                t[0] += 1
                if vflag and len(t[3]) < KEEP:
                    _note(t[3], eseq, evalue)
                node = t[4]
                node[2] += 1
                if slot[5]:  # a yield
                    node[3] = slot[4]
                    if value is not None and len(node[4]) < KEEP:
                        _note(node[4], seq, value)
                    state[obj] = node[5]
                    continue
                if slot[7] == "raise":
                    if value is not None and len(node[4]) < KEEP:
                        _note(node[4], seq, value)
                    self._raised(slot, eslot, seq, value)
                    # an anomaly record may come for it after it ended (a
                    # task's exception never retrieved): the last few kept
                    raised = self.raised_fn
                    raised[obj] = slot[1]
                    if len(raised) > RAISED_KEPT:
                        del raised[next(iter(raised))]
            elif obj not in state:
                self._first_event(fn, obj, seq, False)
                if slot[5]:
                    continue
            elif slot[5]:
                continue
            # it ended: forget it (its flow node, if its own, stays)
            state.pop(obj, None)
            self.fn_of.pop(obj, None)
        self.events_seen += n

    def _transition(self, slot: list, fn: _Function, prev: str, eslot: list, vflag: int, eseq: int,
                    seq: int) -> list:
        """The transition (and its target state) of an exit from ``prev``
        entered by ``eslot``; the slot keeps it for the next time."""
        ev = slot[7]
        dst = slot[3]
        if dst is None:
            dst = "closed" if eslot[3] == "close" else "finished"
        node = self.nodes.get((fn.index, dst))
        if node is None:
            line = int(dst[1:]) if ev == "yield" and dst != "L?" else None
            # the last field: the state an object is in after visiting it
            node = self.nodes[(fn.index, dst)] = [line, seq, 0, False, [], dst]
        key = (fn.index, prev, dst, eslot[6], vflag)
        t = self.transitions.get(key)
        if t is None:
            t = self.transitions[key] = [0, eseq, seq, [], node]
        slot[6][(prev, eslot[6], vflag)] = t
        if slot[5] and eslot[3] in ("close", "throw"):
            # close() or throw() answered by a yield: every time this
            # transition is taken (its count) is one
            kind = anomalies.of_exit(eslot[3], eslot[4], "yield", None)
            line = slot[9] if kind == "ignored-generator-exit" else (int(prev[1:]) if prev[1:].isdigit() else None)
            a = self._anomaly(kind, fn, line, seq, eslot[4])
            if a is not None:
                a[5].append(t)
        return t

    def _anomaly(self, kind, fn: _Function, line, seq: int, via, value=None, file=None) -> list | None:
        """The row of this kind, function and place (``file``: of ``line``,
        when not the function's own), made on first use; None past the cap."""
        key = (kind, fn.index, line, file)
        a = self.anomalies.get(key)
        if a is None:
            if len(self.anomalies) >= ANOMALY_ROWS:
                return None
            a = self.anomalies[key] = [0, seq, fn.obj, via, value, [], file]
        return a

    def note(self, rec: dict) -> None:
        """An ``anomaly`` record (traceio, version 4): one more of its kind,
        for its object's function, at its file and line."""
        fn = self.fn_of.get(rec["obj"]) or self.raised_fn.get(rec["obj"])
        a = None if fn is None else self._anomaly(rec["kind"], fn, rec.get("line"), rec["seq"], None,
                                                  file=rec.get("file"))
        if a is not None:
            a[0] += 1

    def _raised(self, slot: list, eslot: list, seq: int, value) -> None:
        """A raise (rare: at most one per object), entered by ``eslot``."""
        kind = anomalies.of_exit(eslot[3], eslot[4], "raise", value)
        if kind is not None:
            a = self._anomaly(kind, slot[1], slot[9], seq, eslot[4], value)
            if a is not None:
                a[0] += 1

    def _first_event(self, fn: _Function, obj: int, seq: int, start: bool) -> None:
        fn.instances += 1
        if start:
            fn.starts += 1
        if fn.first is None:
            fn.first = seq
        self.state[obj] = "created"

    # -- output -------------------------------------------------------------------------
    def result(self) -> dict:
        """The aggregates as one JSON-able record, in a fixed order."""
        fns = sorted(self.functions.values(), key=lambda f: f.index)
        big = {f.index for f in fns if f.starts > FLOW_AGGREGATE}

        def merged(node: tuple) -> tuple:
            # a function with too many objects: all of them are one node
            if node[0] == "a" and self.member_fn.get(node[1], -1) in big:
                return ("f", self.member_fn[node[1]], None)
            return node

        first: dict = {}
        for node, where in self.first.items():
            node = merged(node)
            if node not in first or where[:2] < first[node][:2]:
                first[node] = where
        flow: dict = {}
        for (src, dst, vkey), (count, seq, examples) in self.flow.items():
            key = (merged(src), merged(dst), vkey)
            into = flow.get(key)
            if into is None:
                flow[key] = [count, seq, examples]
            else:
                into[0] += count
                into[1] = min(into[1], seq)
                into[2] = merge_examples([into[2], examples])
        kinds = self._entry_kind_list
        transitions = [[fn, src, dst, *kinds[kind], vflag] + v[:4]
                       for (fn, src, dst, kind, vflag), v in self.transitions.items()]
        named = {n[1] for n in first if n[0] == "a"} | {f.obj for f in fns}
        return {
            "type": "aggregates", "version": VERSION, "events": self.events_seen,
            "objects": [self.objects[i] for i in sorted(self.objects) if i in named],
            "functions": [[f.obj, f.starts, f.instances, f.first] for f in fns],
            "actors": sorted(([list(n)] + w for n, w in first.items()), key=lambda a: (a[1], a[2])),
            "states": sorted(([k[0], k[1]] + v[:5] for k, v in self.nodes.items()), key=lambda s: s[3]),
            "transitions": sorted(transitions, key=lambda t: t[9]),
            "flow": sorted(([list(k[0]), list(k[1]), list(k[2])] + v for k, v in flow.items()),
                           key=lambda e: e[4]),
            "anomalies": self.anomaly_rows(),
            "switches": self.switches.result(),
        }

    def anomaly_rows(self) -> list:
        """``[kind, obj, line, count, seq, via, value, file]`` per kind,
        function and line, in order of first occurrence (``obj``: the
        function's first object, named in ``objects``; ``value``: the
        exception; ``file``: the file of ``line`` where it is not the
        function's own, else null)."""
        rows = []
        for (kind, _fn, line, _file), (count, seq, obj, via, value, ts, file) in self.anomalies.items():
            count += sum(t[0] for t in ts)
            if value is None and ts:
                value = next((v for t in ts for _, v in t[3]), None)
            if count:
                rows.append([kind, obj, line, count, seq, via, value, file])
        return sorted(rows, key=lambda r: (r[4], anomalies.ORDER[r[0]]))
