"""Every CPython-version quirk cotrace depends on, in one place.

Nothing else in the package reads ``sys.version_info``.  Each flag says what
changed and links to where CPython changed it, so that a new interpreter
version means reading this file, not grepping the package.
"""
from __future__ import annotations

import dis
import sys
import types

PY_VERSION = "%d.%d.%d" % sys.version_info[:3]
PY311 = sys.version_info[:2] == (3, 11)
PY312_PLUS = sys.version_info >= (3, 12)
PY313_PLUS = sys.version_info >= (3, 13)

# Code flags (Include/cpython/code.h).
CO_GENERATOR = 0x20
CO_COROUTINE = 0x80
CO_ASYNC_GENERATOR = 0x200
CO_ANY_GENERATOR = CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR

OP = dis.opmap
RESUME = OP["RESUME"]
YIELD_VALUE = OP["YIELD_VALUE"]
SEND = OP["SEND"]
FOR_ITER = OP["FOR_ITER"]
RETURN_VALUE = OP["RETURN_VALUE"]
# RETURN_CONST exists in 3.12 and 3.13 only (python/cpython#101799).
RETURN_CONST = OP.get("RETURN_CONST", -1)
RETURN_OPS = frozenset(op for op in (RETURN_VALUE, RETURN_CONST) if op >= 0)
CALL_OPS = frozenset(OP[name] for name in ("CALL", "CALL_FUNCTION_EX", "CALL_KW") if name in OP)
# 3.11 splits a call into PRECALL + CALL (removed in 3.12, python/cpython#102859).
PRECALL = OP.get("PRECALL", -1)
PUSH_NULL = OP.get("PUSH_NULL", -1)

# RESUME's oparg says where the frame resumes (Include/internal/pycore_code.h,
# RESUME_AT_FUNC_START=0, RESUME_AFTER_YIELD=1, RESUME_AFTER_YIELD_FROM=2,
# RESUME_AFTER_AWAIT=3).  3.13 adds bit 2 (RESUME_OPARG_DEPTH1_MASK): the
# yield is outside any try block, see gen_close() in Objects/genobject.c.
RESUME_LOCATION_MASK = 0x3
RESUME_AT_FUNC_START = 0
RESUME_AFTER_YIELD = 1
RESUME_AFTER_YIELD_FROM = 2
RESUME_AFTER_AWAIT = 3
RESUME_DEPTH1_MASK = 0x4

# Where f_lasti points while a generator is suspended at a yield:
# 3.11/3.12 at the YIELD_VALUE, 3.13 at the RESUME that follows it
# (python/cpython#113728; coverage.py calls this PYBEHAVIOR.lasti_is_yield).
LASTI_IS_YIELD = not PY313_PLUS

# 3.13's generator.close() finishes a generator suspended at a yield outside
# any try block without re-entering its frame, so no trace event fires
# (python/cpython#111600).  Older versions always throw GeneratorExit in.
CLOSE_MAY_SKIP_FRAME = PY313_PLUS

# PEP 709 (3.12) inlines list/set/dict comprehensions; 3.11 still runs them in
# their own frame, which would otherwise show up as a separate actor.
COMPREHENSION_NAMES = frozenset({"<listcomp>", "<setcomp>", "<dictcomp>"}) if PY311 else frozenset()

# Attribute telling whether a generator-like object is suspended at a yield.
# gi_suspended/cr_suspended exist since 3.11, ag_suspended only since 3.12.
SUSPENDED_ATTR = {
    "generator": "gi_suspended",
    "coroutine": "cr_suspended",
    "async_generator": "ag_suspended" if PY312_PLUS else None,
}

# 3.11 keeps one "async exception pending" flag per interpreter, cleared only
# by the thread the exception is for: while that thread is blocked in C (it
# runs no bytecode), every thread that is being traced re-runs the RESUME of
# its next frame forever (the eval breaker is set; tracing re-dispatches the
# instruction).  So there, PyThreadState_SetAsyncExc may only be aimed at a
# thread seen running bytecode.  3.12 made the flag per thread.
ASYNC_EXC_STALLS_TRACED_THREADS = PY311

# The interpreter sets sys.last_exc, besides sys.last_type/value/traceback,
# for an uncaught exception from 3.12 on (python/cpython#102778).
SETS_LAST_EXC = sys.version_info >= (3, 12)

# The kinds of code cotrace records, and each kind's frame and "running"
# attributes (the same on every supported version; async generators have
# ag_running, but it is also true while they await, so it is not asked).
RECORDED_KINDS = ("generator", "coroutine", "async_generator")
FRAME_ATTR = {"generator": "gi_frame", "coroutine": "cr_frame", "async_generator": "ag_frame"}
RUNNING_ATTR = {"generator": "gi_running", "coroutine": "cr_running", "async_generator": None}
FRAME_ATTR_BY_TYPE = {types.GeneratorType: "gi_frame", types.CoroutineType: "cr_frame",
                      types.AsyncGeneratorType: "ag_frame"}

# sys.monitoring (PEP 669) exists from 3.12 on.
HAS_MONITORING = hasattr(sys, "monitoring")


def code_kind(flags: int) -> str | None:
    """Return the recorded kind of a code object from its flags, or None."""
    if flags & CO_GENERATOR:
        return "generator"
    if flags & CO_COROUTINE:
        return "coroutine"
    if flags & CO_ASYNC_GENERATOR:
        return "async_generator"
    return None
