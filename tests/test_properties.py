"""Property-based tests: random generator networks, run untraced and traced.

hypothesis builds small programs of generators and coroutines that yield,
receive sent values, delegate to each other (``yield from``, ``await``),
drive each other, catch what is thrown in, clean up in ``finally``, raise,
return values, carry hostile values (reprs that raise, are huge, or hold
markup and control characters) and run in threads.  For each:

* the traced run prints the same stdout and stderr and ends with the same
  status as the untraced one (tracebacks included);
* its trace satisfies the order rule (the reader checks it) and the footer;
* every format draws, and each drawing is checked by its real validator
  (Graphviz for DOT, an XML parser for SVG, PlantUML and Mermaid in one
  batch at the end of the test).

The example budget is fixed and the examples derandomized, so CI time is
bounded and a failure reproduces: ``--hypothesis-profile=long`` (see
conftest.py) runs more, with fresh random examples.
"""
from __future__ import annotations

import subprocess
import sys
import xml.dom.minidom

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from conftest import TRACE, _env, load_checked  # noqa: E402
from validators import check_dot, check_mermaid, check_plantuml  # noqa: E402

PRELUDE = '''\
import sys, threading

class Hostile:
    def __init__(self, kind):
        self.kind = kind
    def __repr__(self):
        if self.kind == 0:
            raise ValueError("repr fails")
        if self.kind == 1:
            return "x" * 100000
        if self.kind == 2:
            return "<script>\\"'&amp;</script>\\x1b[31m}{|\\\\"
        if self.kind == 3:
            raise KeyboardInterrupt
        return "Hostile(%d)" % self.kind

def show(v):
    if isinstance(v, Hostile):
        return "Hostile"
    if isinstance(v, BaseException):
        return type(v).__name__
    return repr(v)[:40]

class Step:
    """An awaitable that yields once: coroutines are driven by send() too."""
    def __init__(self, v):
        self.v = v
    def __await__(self):
        got = yield self.v
        return got

def step(name, g, how, value=None):
    try:
        if how == "next":
            out = next(g)
        elif how == "send":
            out = g.send(value)
        elif how == "throw":
            out = g.throw(ValueError("thrown"))
        else:
            out = g.close()
        print(name, how, "->", show(out))
    except StopIteration as stop:
        print(name, how, "stop", show(stop.value))
    except Exception as exc:
        print(name, how, "raised", type(exc).__name__)
'''

VALUES = st.sampled_from([
    "0", "7", "-1", "2 ** 70", "None", "True", "'text'", "'\\u00e9\\u4e2d\\\\n\\\\x00'", "(1, 'a')", "[1, [2]]",
    "{'k': 'v'}", "Hostile(0)", "Hostile(1)", "Hostile(2)", "Hostile(3)", "Hostile(4)", "3.5",
])


@st.composite
def bodies(draw, index: int, count: int, kind: str):
    """The statements of function ``index`` (generators may delegate to later ones only: no recursion)."""
    later = list(range(index + 1, count))
    lines = []
    for _ in range(draw(st.integers(1, 5))):
        choice = draw(st.sampled_from(["yield", "recv", "catch", "finally", "delegate", "drive", "print"]))
        v = draw(VALUES)
        pause = "await Step(%s)" % v if kind == "coroutine" else "yield %s" % v
        if choice == "yield":
            lines.append(pause)
        elif choice == "recv":
            lines.append("got = %s" % pause)
            lines.append("print(%r, 'got', show(got))" % ("f%d" % index))
        elif choice == "catch":
            lines += ["try:", "    %s" % pause, "except ValueError as exc:", "    print(%r, 'caught')" % ("f%d" % index)]
        elif choice == "finally":
            lines += ["try:", "    %s" % pause, "finally:", "    print(%r, 'cleanup')" % ("f%d" % index)]
        elif choice == "delegate" and later:
            j = draw(st.sampled_from(later))
            verb = "await" if kind == "coroutine" else "yield from"
            lines.append("r = %s f%d(%s)" % (verb, j, v))
            lines.append("print(%r, 'delegated', show(r))" % ("f%d" % index))
        elif choice == "drive" and later:
            j = draw(st.sampled_from(later))
            lines.append("inner = f%d(%s)" % (j, v))
            lines.append("step('inner%d', inner, 'send', None)" % j)
            lines.append("step('inner%d', inner, %r, %s)" % (j, draw(st.sampled_from(["send", "throw", "close"])), v))
        else:
            lines.append("print(%r, show(%s))" % ("f%d" % index, v))
    end = draw(st.sampled_from(["", "return %s" % draw(VALUES), "raise KeyError(%s)" % draw(VALUES)]))
    if end:
        lines.append(end)
    return lines


@st.composite
def programs(draw) -> str:
    kind = draw(st.sampled_from(["generator", "coroutine"]))
    count = draw(st.integers(1, 4))
    src = [PRELUDE]
    for i in range(count):
        header = ("async def f%d(a):" if kind == "coroutine" else "def f%d(a):") % i
        body = draw(bodies(i, count, kind))
        if kind == "generator" and not any("yield" in line for line in body):
            body.insert(0, "yield a")
        src.append(header)
        src += ["    " + line for line in body]
        src.append("")
    # the driver: objects created, then stepped in a random order, some in a thread
    src.append("def drive(tag):")
    src.append("    objs = {}")
    created: list = []
    for _ in range(draw(st.integers(1, 10))):
        how = draw(st.sampled_from(["new", "next", "next", "send", "send", "throw", "close", "drain"]))
        v = draw(VALUES)
        if how == "new" or not created:
            n = draw(st.integers(0, 2))
            src.append("    objs[%d] = f%d(%s)" % (n, draw(st.integers(0, count - 1)), v))
            created.append(n)
            continue
        g = "objs[%d]" % draw(st.sampled_from(created))
        if how == "drain":
            if kind == "generator":
                src.append("    for item in %s: print(tag, 'for', show(item))" % g)
            else:
                src.append("    for _ in range(5): step(tag, %s, 'send', None)" % g)
        else:
            src.append("    step(tag, %s, %r, %s)" % (g, how if how != "next" or kind == "generator" else "send", v))
    src.append("")
    if draw(st.booleans()):
        src.append("t = threading.Thread(target=drive, args=('thread',))")
        src.append("t.start()")
        src.append("t.join()")
    src.append("drive('main')")
    src.append(draw(st.sampled_from(["", "sys.exit(3)", "raise RuntimeError('the end')",
                                     "print('done', file=sys.stderr)"])))
    return "\n".join(src) + "\n"


FORMATS = "svg,txt,dot,mermaid,plantuml"


def test_random_generator_networks_run_the_same_and_draw_valid_output(tmp_path_factory):
    drawn: dict = {"mmd": [], "puml": []}

    @settings(suppress_health_check=[HealthCheck.too_slow])
    @given(programs())
    def one(source: str) -> None:
        where = tmp_path_factory.mktemp("prop")
        script = where / "prog.py"
        script.write_text(source, encoding="utf-8")
        plain = subprocess.run([sys.executable, str(script)], cwd=where, capture_output=True, text=True,
                               timeout=60, env=_env())
        out = where / "out"
        traced = subprocess.run([sys.executable, "-m", "tracer", "-q", "-o", str(out), "-f", FORMATS, str(script)],
                                cwd=where, capture_output=True, text=True, timeout=120, env=_env())
        assert (traced.returncode, traced.stdout, traced.stderr) == \
            (plain.returncode, plain.stdout, plain.stderr), source
        trace = load_checked(out / ("prog" + TRACE))
        assert trace.footer is not None and trace.footer["exit"] == plain.returncode
        assert trace.footer.get("recorder_error") is None, trace.footer
        for path in out.iterdir():
            text = path.read_text(encoding="utf-8") if not path.name.endswith(TRACE) else ""
            if path.suffix == ".dot":
                check_dot(text)
            elif path.suffix == ".svg":
                xml.dom.minidom.parseString(text.encode("utf-8"))
            elif path.suffix in (".mmd", ".puml"):
                drawn[path.suffix[1:]].append(text)

    one()
    # the slow validators once, for every example's drawings
    check_mermaid(drawn["mmd"])
    check_plantuml(drawn["puml"])
