"""Secrets: --redact REGEX, the names redacted by default, --no-values."""
from __future__ import annotations

import io
import textwrap

import pytest

from conftest import TRACE, load_checked
from tracer import traceio
from tracer.record import core as cores
from tracer.redact import REDACTED, Redactor
from tracer.record.saferepr import SafeRepr

CORES = ["python"] + (["c"] if cores.c_available()[0] else [])


def test_names_in_reprs_lose_their_values_and_the_rest_stays_readable():
    r = Redactor()
    assert r.text("{'user': 'bob', 'password': 'hunter2'}") == "{'user': 'bob', 'password': <redacted>}"
    assert r.text("User(name='bob', db_password='x, y', n=3)") == "User(name='bob', db_password=<redacted>, n=3)"
    assert r.text("https://h/?token=abc123&page=2") == "https://h/?token=<redacted>&page=2"
    assert r.text('{"X-Auth-Token": "abc", "Accept": "json"}') == '{"X-Auth-Token": <redacted>, "Accept": "json"}'
    assert r.text("Config(apiKey='k', secret_key=b'\\x00')") == "Config(apiKey=<redacted>, secret_key=<redacted>)"
    assert r.text("password: 'cut short...") == "password: <redacted>"
    assert r.text("{'monkey': 1, 'tokens_left': 4}") == "{'monkey': 1, 'tokens_left': <redacted>}"
    assert r.text("no names here: 5") == "no names here: 5"
    # turned off, and a pattern of the user's as a name
    assert Redactor(default_names=False).text("password='x'") == "password='x'"
    # a pattern of the user's is also a name (for program options; in a
    # repr, its match takes the whole value)
    assert Redactor(["pin"], default_names=False).name("user_pin")
    assert Redactor(["pin"], default_names=False).argv(["p", "--pin", "1"]) == ["p", "--pin", REDACTED]
    assert not Redactor(default_names=False).active


def test_a_value_matching_a_pattern_goes_whole():
    r = Redactor([r"sk-[a-z]+-\d+"])
    assert r.text("Key('sk-live-42')") == REDACTED
    assert r.text("harmless") == "harmless"


def test_program_arguments():
    r = Redactor([r"hunter\d"])
    assert r.argv(["prog.py", "--password", "x", "--token=y", "--user", "bob", "hunter2", "url?secret=s"]) == \
        ["prog.py", "--password", REDACTED, "--token=" + REDACTED, "--user", "bob", REDACTED, "url?secret=" + REDACTED]


class Account:
    def __init__(self, password):
        self.password = password

    def __repr__(self):
        return "Account(password=%r)" % self.password


def test_safe_repr_redacts_before_it_cuts():
    # --repr-limit 8 showed a prefix of the secret; the key itself is cut
    # at 8 characters, so names are matched on the dict, not on its text
    tiny = SafeRepr(8, redactor=Redactor())
    assert "hunt" not in tiny({"password": "hunter2"}) and "hunt" not in tiny(Account("hunter2"))
    assert tiny("password=hunter2") == REDACTED or "hunt" not in tiny("password=hunter2")
    full = SafeRepr(200, redactor=Redactor([r"hunter\d"]))
    assert full([1, {"a": Account("hunter2")}]) == REDACTED        # a piece matched: the whole value goes
    assert full("x" * 500 + "hunter2") == REDACTED                  # matched in full, past the limit
    assert SafeRepr(200, redactor=Redactor([r"^1234$"]))(1234) == REDACTED   # numbers are looked at too
    assert full({"password": "p", "n": 1}) == "{'n': 1, 'password': <redacted>}"
    assert SafeRepr(200)({"password": "p"}) == "{'password': 'p'}"   # no redactor: as it is


SECRETS = """
    import sys

    class User:
        def __init__(self, name, password):
            self.name, self.password = name, password
        def __repr__(self):
            return "User(name=%r, password=%r)" % (self.name, self.password)

    def login():
        creds = yield "ready"
        print("got", type(creds).__name__)
        yield {"user": "bob", "api_key": "sk-live-0042", "n": 3}
        yield "Bearer tok-SEKRIT-77"
        yield 987654321

    g = login()
    next(g)
    g.send(User("bob", "hunter2"))
    for v in g:
        pass
    raise ValueError("login failed, password=hunter2")
"""


def _everything(run, stem: str) -> str:
    """The trace as JSON Lines and every file drawn from it, as one text."""
    out = io.StringIO()
    traceio.copy_lines(str(run.trace_path(stem)), out)
    drawn = [p.read_text(encoding="utf-8") for p in run.out_dir.iterdir() if not p.name.endswith(TRACE)]
    return out.getvalue() + "".join(drawn)


@pytest.mark.parametrize("core", CORES)
def test_secrets_reach_neither_the_trace_nor_any_diagram(cotrace, python, tmp_path, core):
    script = tmp_path / "secrets.py"
    script.write_text(textwrap.dedent(SECRETS))
    plain = python(script, "--password", "pw-ARG-1")
    run = cotrace("--core", core, "--redact", "SEKRIT", "--redact", "^987654321$", "-f", "svg,txt,dot,mermaid,plantuml",
                  script, "--password", "pw-ARG-1")
    assert (run.returncode, run.stdout, run.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    text = _everything(run, "secrets")
    for secret in ("hunter2", "sk-live-0042", "SEKRIT", "987654321", "pw-ARG-1"):
        assert secret not in text, secret
    trace = load_checked(run.trace_path("secrets"))
    assert trace.header["values"] == "redacted"
    assert trace.header["argv"][1:] == ["--password", REDACTED]
    values = [e["value"] for e in trace.events if e["value"] is not None]
    assert "User(name='bob', password=<redacted>)" in values
    assert "{'api_key': <redacted>, 'n': 3, 'user': 'bob'}" in values
    assert values.count(REDACTED) == 2 and "'ready'" in values
    assert trace.footer["error"] == "ValueError: login failed, password=<redacted>"


@pytest.mark.parametrize("core", CORES)
def test_default_names_can_be_turned_off(cotrace, tmp_path, core):
    script = tmp_path / "secrets.py"
    script.write_text(textwrap.dedent(SECRETS))
    run = cotrace("--core", core, "--no-default-redact", "--no-diagrams", script)
    trace = load_checked(run.trace_path("secrets"))
    assert trace.header["values"] == "all"
    assert "User(name='bob', password='hunter2')" in [e["value"] for e in trace.events]


NO_VALUES = """
    class Loud:
        def __repr__(self):
            print("repr ran")
            return "Loud()"

    def gen():
        got = yield Loud()
        yield None
        return got

    g = gen()
    next(g)
    next(g)
    try:
        g.send(Loud())
    except StopIteration as stop:
        print(type(stop.value).__name__)
    raise KeyError("secret-key-name")
"""


@pytest.mark.parametrize("core", CORES)
def test_no_values_records_the_conversation_without_any_value(cotrace, python, tmp_path, core):
    script = tmp_path / "novalues.py"
    script.write_text(textwrap.dedent(NO_VALUES))
    plain = python(script)
    run = cotrace("--core", core, "--no-values", "-f", "txt", script)
    # no repr ran (the untraced program runs none either)
    assert (run.returncode, run.stdout, run.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    trace = load_checked(run.trace_path("novalues"))
    assert trace.header["values"] == "none"
    assert [(e["ev"], e["value"]) for e in trace.events] == [
        ("start", None), ("yield", traceio.NO_VALUE), ("resume", traceio.NO_VALUE), ("yield", traceio.NO_VALUE),
        ("resume", traceio.NO_VALUE), ("return", traceio.NO_VALUE)]
    assert trace.footer["error"] == "KeyError"
    sequence = (run.out_dir / "novalues.sequence.txt").read_text(encoding="utf-8")
    assert "send(\u2026)" in sequence and "Loud" not in sequence and "None" not in sequence


def test_a_bad_pattern_is_one_line_before_anything_runs(cotrace, tmp_path):
    script = tmp_path / "x.py"
    script.write_text("print('ran')\n")
    run = cotrace("--redact", "(unclosed", script)
    assert run.returncode == 2 and run.stdout == "" and "'(unclosed' is not a regular expression" in run.stderr
    assert "Traceback" not in run.stderr
