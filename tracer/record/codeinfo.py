"""Static facts about code locations, computed once and cached.

The recorder asks three questions about bytecode, always about a (code,
offset) pair it has already seen many times in a loop:

* Is this ``call`` event the first run of the frame or a resumption?
* What kind of yield site is this (plain ``yield``, ``yield from``/``await``),
  and may 3.13 close it without re-entering the frame?
* How did the resumer hand control over (``send``, ``next()``, ``for``,
  ``yield from``, ``await`` or something else)?

Everything here is pure: no frames are kept, only code objects and ints.
"""
from __future__ import annotations

import dis

from .. import compat
from .codecache import per_code as _per_code, per_location as _per_location

_NAME_LOADS = frozenset(
    name for name in ("LOAD_ATTR", "LOAD_METHOD", "LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_FAST",
                      "LOAD_FAST_CHECK", "LOAD_FAST_AND_CLEAR", "LOAD_CLASSDEREF", "LOAD_FROM_DICT_OR_GLOBALS",
                      "LOAD_FROM_DICT_OR_DEREF", "LOAD_SUPER_ATTR", "STORE_FAST_LOAD_FAST")
    if name in dis.opmap)

_CALLEE_VIA = {
    "send": "send", "asend": "send",
    "__next__": "next", "next": "next", "anext": "next", "__anext__": "next",
    "throw": "throw", "athrow": "throw",
    "close": "close", "aclose": "close",
}


@_per_code
def _instructions(code) -> tuple:
    return tuple(dis.get_instructions(code))


@_per_code
def _offset_index(code) -> dict:
    """Map every offset (cache entries included) to its instruction's index."""
    ins = _instructions(code)
    table = {}
    for i, x in enumerate(ins):
        end = ins[i + 1].offset if i + 1 < len(ins) else x.offset + 2
        for off in range(x.offset, end, 2):
            table[off] = i
    return table


def instruction_at(code, offset: int):
    """The instruction containing ``offset`` (cache entries map to their owner)."""
    i = _offset_index(code).get(offset)
    return None if i is None else _instructions(code)[i]


@_per_code
def _first_resume(code) -> int:
    for x in _instructions(code):
        if x.opcode == compat.RESUME:
            return x.offset
    return 0


@_per_location
def is_start(code, lasti: int) -> bool:
    """True if a ``call`` event at ``lasti`` is the frame's first run."""
    if lasti < _first_resume(code):
        return True
    x = instruction_at(code, lasti)
    return x is not None and x.opcode == compat.RESUME and (x.arg & compat.RESUME_LOCATION_MASK) == compat.RESUME_AT_FUNC_START


@_per_location
def resume_after(code, lasti: int) -> int | None:
    """The RESUME oparg of the yield site a frame is suspended at (or None).

    3.11/3.12 leave f_lasti on the YIELD_VALUE, 3.13 on the RESUME after it
    (see compat.LASTI_IS_YIELD).
    """
    ins = _instructions(code)
    i = _offset_index(code).get(lasti)
    if i is None:
        return None
    if ins[i].opcode == compat.RESUME:
        return ins[i].arg
    if ins[i].opcode == compat.YIELD_VALUE and i + 1 < len(ins) and ins[i + 1].opcode == compat.RESUME:
        return ins[i + 1].arg
    return None


@_per_location
def is_delegating_site(code, lasti: int) -> bool:
    arg = resume_after(code, lasti)
    return arg is not None and (arg & compat.RESUME_LOCATION_MASK) in (compat.RESUME_AFTER_YIELD_FROM, compat.RESUME_AFTER_AWAIT)


@_per_location
def closes_without_reentry(code, lasti: int) -> bool:
    """3.13: close() at this yield finishes the frame without running it."""
    if not compat.CLOSE_MAY_SKIP_FRAME:
        return False
    arg = resume_after(code, lasti)
    return arg is not None and bool(arg & compat.RESUME_DEPTH1_MASK)


@_per_location
def is_yield_site(code, lasti: int) -> bool:
    x = instruction_at(code, lasti)
    if x is None:
        return False
    if compat.LASTI_IS_YIELD:
        return x.opcode == compat.YIELD_VALUE
    return x.opcode == compat.RESUME and (x.arg & compat.RESUME_LOCATION_MASK) != compat.RESUME_AT_FUNC_START


@_per_location
def is_reraise(code, lasti: int) -> bool:
    """RERAISE, or a bare ``raise`` (RAISE_VARARGS 0): no exception event."""
    x = instruction_at(code, lasti)
    return x is not None and (x.opname == "RERAISE" or (x.opname == "RAISE_VARARGS" and x.arg == 0))


@_per_location
def is_return_site(code, lasti: int) -> bool:
    x = instruction_at(code, lasti)
    return x is not None and x.opcode in compat.RETURN_OPS


@_per_location
def resumer_via(code, lasti: int) -> str:
    """How the code at ``lasti`` hands control to the generator it resumes."""
    x = instruction_at(code, lasti)
    if x is None:
        return "other"
    op = x.opcode
    if op == compat.SEND or (not compat.LASTI_IS_YIELD and op == compat.RESUME) or op == compat.YIELD_VALUE:
        # the resumer is itself suspended in a yield-from/await loop
        if code.co_flags & (compat.CO_COROUTINE | compat.CO_ASYNC_GENERATOR):
            return _awaiting(code, lasti)
        return "yield from"
    if op == compat.FOR_ITER:
        return "for"
    if op in compat.CALL_OPS:
        return _CALLEE_VIA.get(_callee_name(code, x) or "", "other")
    return "other"


_GET_ANEXT = dis.opmap["GET_ANEXT"]
_GET_AWAITABLE = dis.opmap["GET_AWAITABLE"]
# what an ``await`` on an async generator's awaitable says it does
_AWAIT_VIA = {"asend": "asend", "anext": "anext", "__anext__": "anext"}


@_per_location
def _awaiting(code, lasti: int) -> str:
    """``async for`` (GET_ANEXT feeds the await loop), ``asend`` / ``anext``
    (``await agen.asend(v)``, ``await anext(agen)``) or plain ``await``.

    An await loop is ``<awaitable>; LOAD_CONST None; SEND; YIELD_VALUE;
    RESUME`` on 3.11-3.13; ``lasti`` is in the SEND..RESUME part."""
    ins = _instructions(code)
    i = _offset_index(code).get(lasti)
    if i is None:
        return "await"
    while i > 0 and ins[i].opcode != compat.SEND:
        if i < 3 or ins[i].opcode not in (compat.YIELD_VALUE, compat.RESUME):
            return "await"
        i -= 1
    if i < 2:
        return "await"
    feed = ins[i - 2]
    if feed.opcode == _GET_ANEXT:
        return "async for"
    if feed.opcode == _GET_AWAITABLE and i >= 3 and ins[i - 3].opcode in compat.CALL_OPS:
        return _AWAIT_VIA.get(_callee_name(code, ins[i - 3]) or "", "await")
    return "await"


_UNCONDITIONAL = frozenset(
    dis.opmap[name] for name in ("JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT", "RETURN_VALUE",
                                 "RETURN_CONST", "RAISE_VARARGS", "RERAISE", "JUMP")
    if name in dis.opmap)
_JUMPS = frozenset(dis.hasjrel) | frozenset(dis.hasjabs)
# Instructions that replace what is on top of the stack (their net effect
# hides that they pop): an attribute load turns ``g`` into ``g.send``.
_POPS_TOP = {"LOAD_ATTR": 1, "LOAD_METHOD": 1, "LOAD_SUPER_ATTR": 3, "UNARY_NEGATIVE": 1, "UNARY_NOT": 1,
             "UNARY_INVERT": 1, "TO_BOOL": 1, "GET_ITER": 1, "CALL_INTRINSIC_1": 1, "FORMAT_SIMPLE": 1,
             "STORE_FAST_LOAD_FAST": 1}


def _effect(x, jump: bool) -> int:
    if x.opcode < dis.HAVE_ARGUMENT:
        return dis.stack_effect(x.opcode)
    return dis.stack_effect(x.opcode, x.arg, jump=jump)


@_per_code
def _depths(code) -> tuple:
    """Stack depth before each instruction (None where unreachable).

    The usual data-flow walk over the control-flow graph, seeded at the
    entry and at every exception handler, so that loops and branches inside
    a call's arguments (conditional expressions, inlined comprehensions)
    leave the depth at the call itself right.
    """
    ins = _instructions(code)
    index = {x.offset: i for i, x in enumerate(ins)}
    depth: list = [None] * len(ins)
    work = [(0, 0)]
    for entry in dis.Bytecode(code).exception_entries:  # type: ignore[attr-defined]  # 3.11+
        if entry.target in index:
            work.append((index[entry.target], entry.depth + 1 + (1 if entry.lasti else 0)))
    while work:
        i, d = work.pop()
        while i < len(ins) and depth[i] is None:
            depth[i] = d
            x = ins[i]
            try:
                if x.opcode in _JUMPS and isinstance(x.argval, int) and x.argval in index:
                    work.append((index[x.argval], d + _effect(x, True)))
                if x.opcode in _UNCONDITIONAL:
                    break
                d += _effect(x, False)
            except ValueError:
                break
            i += 1
    return tuple(depth)


def _callee_name(code, call) -> str | None:
    """Name of what a CALL instruction calls (``send``, ``next``, ...).

    The call consumes the callable, a NULL/self slot and its arguments; the
    callable was loaded by the last instruction before the call that wrote
    to the lowest of those slots.  Instructions working higher up the stack
    (the arguments, whatever their control flow) are skipped by depth.
    """
    ins = _instructions(code)
    depth = _depths(code)
    i = _offset_index(code)[call.offset]
    first = i
    # 3.11 pairs CALL with PRECALL, and 3.11/3.12 may put KW_NAMES before it
    while first > 0 and (ins[first - 1].opcode == compat.PRECALL or ins[first - 1].opname == "KW_NAMES"):
        first -= 1
    if depth[first] is None:
        return None
    try:
        consumed = 1 - sum(_effect(ins[k], False) for k in range(first, i + 1))
    except ValueError:
        return None
    bottom = depth[first] - consumed

    def writer(j: int, slot: int):
        """The last instruction before ``j`` (inclusive) that wrote ``slot``."""
        while j >= 0:
            d = depth[j]
            if d is not None:
                try:
                    e = _effect(ins[j], False)
                except ValueError:
                    return None
                pops = _POPS_TOP.get(ins[j].opname, max(0, -e))
                if d - pops <= slot < d + e:
                    return j
            j -= 1
        return None

    j = writer(first - 1, bottom + 1)
    if j is not None and ins[j].opcode == compat.PUSH_NULL:
        j = writer(j - 1, bottom)  # 3.13 pushes the NULL after the callable
    if j is None:
        return None
    x = ins[j]
    if x.opname in _NAME_LOADS:
        if isinstance(x.argval, str):
            return x.argval
        if isinstance(x.argval, tuple):  # LOAD_SUPER_ATTR and friends
            return x.argval[-1]
    return None
