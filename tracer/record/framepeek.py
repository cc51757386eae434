"""Read what settrace does not hand us: the value sent into a resumed frame,
and the generator object that owns a frame.

When ``gen.send(v)`` resumes a generator, CPython pushes ``v`` on the frame's
value stack before the ``call`` trace event; settrace passes ``None`` as the
event argument.  We read the top of that stack with ctypes.

Nothing here hard-codes a struct layout.  At start-up :func:`calibrate` runs
generators whose state we control, finds where the interpreter keeps the
frame pointer, the locals and the stack pointer, and then verifies the result
against generators that yield from every position a sent value can arrive at.
If anything does not check out, :data:`LAYOUT` stays ``None`` and the recorder
writes ``"value": null`` with a one-time warning instead of guessing.

The calibration accepts either form of stack pointer: an ``int`` offset
from ``localsplus`` (``stacktop``, found on 3.11.7, 3.12.1 and 3.13.0) or a
pointer (``stackpointer``, CPython's main branch after 3.13.0).  Structures
involved: ``_PyInterpreterFrame`` in ``Include/internal/pycore_frame.h``,
``PyFrameObject.f_frame``, and ``gi_iframe`` in the generator object
(``Include/internal/pycore_genobject.h``).  The same calibration finds the
value inside CPython's ``async_generator_wrapped_value`` and, for 3.11's
async generators (no ``ag_suspended``), the frame-state byte.
"""
from __future__ import annotations

import ctypes
import sys
import types
import typing
from dataclasses import dataclass

from .. import compat
from .codecache import per_code

_WORD = ctypes.sizeof(ctypes.c_void_p)
_ssize = ctypes.c_ssize_t.from_address
_int = ctypes.c_int.from_address
try:  # a direct address-to-object conversion, 10x faster than cast()
    from _ctypes import PyObj_FromPtr as _from_ptr  # private, present in 3.11-3.13
except ImportError:  # pragma: no cover
    def _from_ptr(p):  # type: ignore[misc]
        return ctypes.cast(ctypes.c_void_p(p), ctypes.py_object).value

NOVALUE = object()  # returned when the value cannot be read


@dataclass(frozen=True)
class Layout:
    f_frame_off: int          # PyFrameObject -> _PyInterpreterFrame*
    locals_off: int           # _PyInterpreterFrame -> localsplus[0]
    sp_off: int               # _PyInterpreterFrame -> stacktop / stackpointer
    sp_is_pointer: bool       # 3.13: pointer; 3.11/3.12: int index
    gen_iframe_off: dict      # kind -> offset of gi_iframe inside the object


LAYOUT: Layout | None = None
FAILURE: str | None = None


def _word(addr: int) -> int:
    return _ssize(addr).value


class _Awaitable:
    def __await__(self):
        return (yield "calibration")


def _sample_objects():
    """One suspended object of each kind, with known locals A and B."""
    a, b = object(), object()

    def gen(x, y):
        yield x
        yield y

    async def coro(x, y):
        await _Awaitable()
        return x, y

    async def agen(x, y):
        yield x
        yield y

    g = gen(a, b)
    next(g)
    c: typing.Any = coro(a, b)
    c.send(None)
    ag = agen(a, b)
    try:
        ag.__anext__().send(None)
    except StopIteration:
        pass
    return a, b, {kind: (obj, getattr(obj, compat.FRAME_ATTR[kind])) for kind, obj in
                  (("generator", g), ("coroutine", c), ("async_generator", ag))}


def _find_frame_layout():
    a, b, samples = _sample_objects()
    g, f = samples["generator"]
    base = type(g).__basicsize__ + 64 * _WORD
    f_frame_off = None
    for i in range(2, 12):
        v = _word(id(f) + i * _WORD)
        if id(g) < v < id(g) + base:
            f_frame_off = i * _WORD
            break
    if f_frame_off is None:
        raise RuntimeError("frame pointer not found in frame object")
    offs = {}
    locals_off = None
    for kind, (obj, frame) in samples.items():
        iframe = _word(id(frame) + f_frame_off)
        off = iframe - id(obj)
        if not 0 < off < type(obj).__basicsize__ + 64 * _WORD:
            raise RuntimeError("interpreter frame of %s is not inside the object" % kind)
        offs[kind] = off
        for j in range(0, 24):
            if _word(iframe + j * _WORD) == id(a) and _word(iframe + (j + 1) * _WORD) == id(b):
                lo = j * _WORD
                break
        else:
            raise RuntimeError("locals not found in %s frame" % kind)
        if locals_off not in (None, lo):
            raise RuntimeError("locals offset differs between kinds")
        locals_off = lo
    # keep the samples alive until here; finish them quietly
    for obj, _ in samples.values():
        obj.close() if not hasattr(obj, "aclose") else None
    return f_frame_off, locals_off, offs


def _find_stack_pointer(f_frame_off: int, locals_off: int):
    """Send a sentinel at two stack depths and find the field that tracks it."""
    candidates: list[set] = []
    found: list[str] = []

    def probe(frame, event, arg):
        if event != "call" or frame.f_code not in codes:
            return None
        iframe = _word(id(frame) + f_frame_off)
        code = frame.f_code
        limit = len(code.co_varnames) + len(code.co_cellvars) + len(code.co_freevars) + code.co_stacksize
        for k in range(limit + 1):
            if _word(iframe + locals_off + k * _WORD) == id(sentinel[0]):
                break
        else:
            return None
        ints = {("int", o) for o in range(0, locals_off, 4) if _int(iframe + o).value == k + 1}
        target = iframe + locals_off + (k + 1) * _WORD
        ptrs = {("ptr", o) for o in range(0, locals_off, _WORD) if _word(iframe + o) == target}
        candidates.append(ints | ptrs)
        found.append(code.co_name)
        return None

    def shallow():
        x = yield
        return x

    def deep(p, q):
        r = (p, q, (yield))
        return r

    codes = {shallow.__code__, deep.__code__}
    sentinel = [object()]
    old = sys.gettrace()
    sys.settrace(probe)
    try:
        g1 = shallow()
        next(g1)
        g2 = deep(1, 2)
        next(g2)
        for g in (g1, g2):
            try:
                g.send(sentinel[0])
            except StopIteration:
                pass
    finally:
        sys.settrace(old)
    if len(found) != 2:
        raise RuntimeError("sentinel not found on the value stack")
    common = candidates[0] & candidates[1]
    if len(common) != 1:
        raise RuntimeError("stack pointer field is ambiguous: %r" % sorted(common))
    kind, off = common.pop()
    return off, kind == "ptr"


def read_sent_value(frame, layout: Layout | None = None):
    """Top of the value stack of a frame at its ``call`` event, or NOVALUE."""
    lay = layout or LAYOUT
    if lay is None:
        return NOVALUE
    iframe = _word(id(frame) + lay.f_frame_off)
    base = iframe + lay.locals_off
    if lay.sp_is_pointer:
        top = _word(iframe + lay.sp_off) - _WORD
    else:
        top = base + (_int(iframe + lay.sp_off).value - 1) * _WORD
    bounds = _stack_bounds(frame.f_code)
    if not base + bounds[0] <= top < base + bounds[1]:
        return NOVALUE
    p = _word(top)
    if not p:
        return NOVALUE
    return _from_ptr(p)


class StackView:
    """Word and int views of one generator-like object's interpreter frame,
    made once per object: the frame lives inside the object, at a fixed
    address, so every later resumption reads the sent value with a few
    index operations instead of building ctypes objects."""

    __slots__ = ("words", "ints", "sp", "first", "last", "base", "first_local")
    words: typing.Any           # ctypes array of words over the frame
    ints: typing.Any            # ctypes array of ints over its header (3.11/3.12), or None
    sp: int                     # index of the stack pointer field (in words or ints)
    first: int                  # first and one-past-last word index the stack top may have
    last: int
    base: int                   # address of the frame
    first_local: int            # word index of localsplus[0]

    def top(self):
        """What :func:`read_sent_value` returns, through the views."""
        if self.ints is None:   # 3.13: a pointer one past the top of the stack
            slot = (self.words[self.sp] - self.base) // _WORD - 1
        else:                   # 3.11/3.12: stacktop counts localsplus entries
            slot = self.first_local + self.ints[self.sp] - 1
        if not self.first <= slot < self.last:
            return NOVALUE
        p = self.words[slot]
        return _from_ptr(p) if p else NOVALUE


def stack_view(frame, layout: Layout | None = None) -> StackView | None:
    """A :class:`StackView` of a generator-like object's running ``frame``
    (its ``top()`` is the sent value at a resumption), or None."""
    lay = layout or LAYOUT
    if lay is None:
        return None
    iframe = _word(id(frame) + lay.f_frame_off)
    if not iframe:
        return None
    lo, hi = _stack_bounds(frame.f_code)
    v = StackView()
    v.first_local = lay.locals_off // _WORD
    v.words = (ctypes.c_ssize_t * (v.first_local + hi // _WORD + 1)).from_address(iframe)
    v.base = iframe
    v.first = v.first_local + lo // _WORD
    v.last = v.first_local + hi // _WORD
    if lay.sp_is_pointer:
        v.ints, v.sp = None, lay.sp_off // _WORD
    else:
        v.ints, v.sp = (ctypes.c_int * (lay.locals_off // 4)).from_address(iframe), lay.sp_off // 4
    return v


@per_code
def _stack_bounds(code) -> tuple[int, int]:
    """Byte offsets, from localsplus, between which the top of stack may lie.

    Lower: past every local, cell and free variable (names that are both an
    argument and a cell share a slot, hence the set).  Upper: one past the
    deepest the stack can get."""
    names = set(code.co_varnames) | set(code.co_cellvars) | set(code.co_freevars)
    total = len(code.co_varnames) + len(code.co_cellvars) + len(code.co_freevars)
    return len(names) * _WORD, (total + code.co_stacksize) * _WORD


def owner_of(frame, kind: str, layout: Layout | None = None):
    """The generator/coroutine/async generator that owns a running frame."""
    lay = layout or LAYOUT
    if lay is None:
        return None
    iframe = _word(id(frame) + lay.f_frame_off)
    off = lay.gen_iframe_off.get(kind)
    if off is None or not iframe:
        return None
    obj = _from_ptr(iframe - off)
    expected = {"generator": types.GeneratorType, "coroutine": types.CoroutineType,
                "async_generator": types.AsyncGeneratorType}[kind]
    if type(obj) is not expected or getattr(obj, compat.FRAME_ATTR[kind]) is not frame:
        return None
    return obj




def _self_test(layout: Layout) -> None:
    """Send known objects from every yield position; read them back."""
    got: list = []
    seen: list = []
    codes: set = set()

    def check(frame, event, arg):
        if event == "call" and frame.f_code in codes:
            if any(f is frame for f in seen):
                got.append(read_sent_value(frame, layout))
            else:
                seen.append(frame)  # kept alive so that ids are not reused
            if owner_of(frame, "generator", layout) is None:
                got.append("owner lookup failed")
        return None

    def assign():
        x = yield
        return x

    def augmented():
        total = 0
        while True:
            total += yield total

    def args(f):
        return f((yield "a"), (yield "b"))

    def bare():
        yield
        yield

    def inner():
        return (yield 1)

    def outer():
        return (yield from inner())

    for fn in (assign, augmented, args, bare, inner, outer):
        codes.add(fn.__code__)
    plan = [(assign, 1), (augmented, 2), (lambda: args(lambda p, q: (p, q)), 2), (bare, 2), (outer, 1)]
    sent: list = []
    keep: list = []  # no generator may be finalized (closed) while we check
    old = sys.gettrace()
    sys.settrace(check)
    try:
        for make, n in plan:
            gen = make()
            keep.append(gen)
            next(gen)
            for _ in range(n):
                v = 10 ** 30 + len(sent)  # a fresh int object: identity is unique
                sent.append(v)
                try:
                    gen.send(v)
                except StopIteration:
                    pass
    finally:
        sys.settrace(old)
    del keep
    expected = sent + [sent[-1]]  # outer and inner both receive the last value
    if len(got) != len(expected) or any(a is not b for a, b in zip(got, expected)):
        raise RuntimeError("self-test read %r, expected %r" % (got, expected))


_WRAPPED_TYPE: typing.Any = None
_WRAPPED_OFF: int = 0


def _calibrate_async_wrapper() -> None:
    """An async generator's yield hands settrace CPython's internal
    ``async_generator_wrapped_value``; find where it keeps the value."""
    global _WRAPPED_TYPE, _WRAPPED_OFF
    sentinel = object()
    seen = []

    async def agen():
        yield sentinel

    def probe(frame, event, arg):
        if frame.f_code is agen.__code__:
            if event == "return":
                seen.append(arg)
            return probe
        return None

    ag = agen()
    old = sys.gettrace()
    sys.settrace(probe)
    try:
        try:
            ag.__anext__().send(None)
        except StopIteration:
            pass
    finally:
        sys.settrace(old)
    if not seen or seen[0] is sentinel:
        return  # values are not wrapped on this version: nothing to do
    wrapper = seen[0]
    for i in range(2, 6):
        if _word(id(wrapper) + i * _WORD) == id(sentinel):
            _WRAPPED_TYPE, _WRAPPED_OFF = type(wrapper), i * _WORD
            return
    raise RuntimeError("async generator value wrapper not understood")


def unwrap_async_value(value):
    """The value an async generator yielded, without CPython's wrapper."""
    if _WRAPPED_TYPE is not None and type(value) is _WRAPPED_TYPE:
        p = _word(id(value) + _WRAPPED_OFF)
        if p:
            return _from_ptr(p)
    return value


_STATE_OFF: int | None = None
_STATE_SUSPENDED: int | None = None
# (offset, running byte, suspended bytes): what hold_running writes and checks
FRAME_STATE: tuple | None = None


def _calibrate_frame_state() -> None:
    """Find the frame-state byte of generator objects (3.11's async
    generators have no ``ag_suspended``; generators have ``gi_suspended``,
    which tells us which byte it reads)."""
    global _STATE_OFF, _STATE_SUSPENDED, FRAME_STATE
    seen_running = []

    def gen():
        seen_running.append(_state_bytes(me[0]))
        yield 1
        yield 2

    def _state_bytes(obj):
        return ctypes.string_at(id(obj), type(obj).__basicsize__)

    me = [None]
    created, suspended, done = gen(), gen(), gen()
    me[0] = suspended
    next(suspended)
    list(done)
    assert suspended.gi_suspended and not created.gi_suspended
    a, b, c = (_state_bytes(x) for x in (created, suspended, done))
    r = seen_running[0]
    limit = min(len(a), (LAYOUT.gen_iframe_off["generator"] if LAYOUT else len(a)))
    candidates = [o for o in range(16, limit) if len({a[o], b[o], c[o], r[o]}) == 4]
    if len(candidates) != 1:
        raise RuntimeError("generator frame state not found")
    off = candidates[0]

    async def agen():
        yield 1

    ag_created, ag_suspended = agen(), agen()
    try:
        ag_suspended.__anext__().send(None)
    except StopIteration:
        pass
    if ctypes.string_at(id(ag_suspended), off + 1)[off] != b[off] or \
            ctypes.string_at(id(ag_created), off + 1)[off] != a[off]:
        raise RuntimeError("async generator frame state differs")
    # suspended in a ``yield from`` (3.13 has a state of its own for it)
    outer = (lambda: (yield from gen()))()
    next(outer)
    d = ctypes.string_at(id(outer), off + 1)[off]
    if not outer.gi_suspended or d in (a[off], c[off], r[off]):
        raise RuntimeError("generator frame state in yield from not understood")
    _STATE_OFF, _STATE_SUSPENDED = off, b[off]
    FRAME_STATE = (off, r[off], frozenset((b[off], d)))
    # what hold_running writes must read as running, and refuse a resumption
    try:
        for g in (suspended, outer):
            old = hold_running(g)
            try:
                if old is None or not g.gi_running or g.gi_suspended:
                    raise RuntimeError("a held generator does not read as running")
                try:
                    next(g)
                except ValueError:
                    pass
                else:
                    raise RuntimeError("a held generator could be resumed")
            finally:
                release_running(g, old)
            if not g.gi_suspended or g.gi_running:
                raise RuntimeError("a released generator does not read as suspended")
    except BaseException:
        FRAME_STATE = None
        raise
    outer.close()


def hold_running(obj) -> int | None:
    """Mark a generator-like object that is in the middle of yielding (its
    frame still on the stack, its state already "suspended": where the
    interpreter calls the yield hooks) as running, so that user code run
    meanwhile (a ``__repr__`` of the yielded value) that resumes it gets
    "generator already executing" instead of re-entering a frame that is
    still executing.  Returns the byte to put back with
    :func:`release_running`, or None (not suspended, or unknown layout)."""
    if FRAME_STATE is None:
        return None
    off, running, suspended = FRAME_STATE
    cell = ctypes.c_uint8.from_address(id(obj) + off)
    old = cell.value
    if old not in suspended:
        return None
    cell.value = running
    return old


def release_running(obj, old: int | None) -> None:
    """Undo :func:`hold_running` (if the state is still the one it wrote)."""
    if old is None or FRAME_STATE is None:
        return
    cell = ctypes.c_uint8.from_address(id(obj) + FRAME_STATE[0])
    if cell.value == FRAME_STATE[1]:
        cell.value = old


def is_suspended(obj) -> bool | None:
    """Whether a generator-like object is suspended at a yield (None: unknown)."""
    if _STATE_OFF is None:
        return None
    return ctypes.string_at(id(obj) + _STATE_OFF, 1)[0] == _STATE_SUSPENDED


def calibrate() -> Layout | None:
    """Find and verify the layout once; later calls return the cached result."""
    global LAYOUT, FAILURE
    if LAYOUT is not None or FAILURE is not None:
        return LAYOUT
    try:
        f_frame_off, locals_off, offs = _find_frame_layout()
        sp_off, is_ptr = _find_stack_pointer(f_frame_off, locals_off)
        layout = Layout(f_frame_off, locals_off, sp_off, is_ptr, offs)
        _self_test(layout)
        _calibrate_async_wrapper()
        LAYOUT = layout
        try:
            _calibrate_frame_state()
        except Exception:  # only a fallback for 3.11's async generators
            pass
    except Exception as exc:  # any failure means: do not read memory
        FAILURE = "%s: %s" % (type(exc).__name__, exc)
        return None
    LAYOUT = layout
    return LAYOUT
