"""The command: runs targets exactly like python, exits like them, always leaves a trace."""
import os
import shutil
import signal
import subprocess
import re
import sys
import time
from pathlib import Path

from conftest import BACKEND, PROGRAMS, ROOT, SAMPLES, TRACE, _env, load_checked

import pytest

from tracer import session



def _without_summary(stderr: str) -> str:
    return "".join(l for l in stderr.splitlines(True) if not l.startswith("cotrace: "))


def _with_our_hook(stdout: str) -> str:
    """What the program prints under cotrace: the settrace backend's trace
    function is visible to sys.gettrace(); sys.monitoring leaves it alone."""
    return stdout.replace("trace hook False", "trace hook True") if BACKEND == "settrace" else stdout


def test_script_sees_what_python_gives_it(cotrace, python, tmp_path):
    script = tmp_path / "sub" / "introspect.py"
    script.parent.mkdir()
    shutil.copy(PROGRAMS / "introspect.py", script)
    for how in (["sub/introspect.py"], [str(script)]):
        plain = python(*how, "a", "--flag", "-o", "x")
        traced = cotrace(*how, "a", "--flag", "-o", "x")
        assert traced.returncode == plain.returncode == 0
        assert traced.stdout == _with_our_hook(plain.stdout)
        assert traced.stderr == plain.stderr == "to stderr\n"
        assert "argv ['%s', 'a', '--flag', '-o', 'x']" % how[0] in traced.stdout


def test_module_mode_sees_what_python_m_gives_it(cotrace, python, tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    shutil.copy(PROGRAMS / "introspect.py", pkg / "intro.py")
    plain = python("-m", "pkg.intro", "x", "-m", "y")
    traced = cotrace("-m", "pkg.intro", "x", "-m", "y")
    assert traced.returncode == plain.returncode == 0
    assert traced.stdout == _with_our_hook(plain.stdout)
    assert "package pkg" in traced.stdout and "spec pkg.intro" in traced.stdout
    assert (traced.out_dir / ("pkg.intro" + TRACE)).exists()


def test_uncaught_exception_traceback_and_exit_status(cotrace, python):
    plain = python(PROGRAMS / "crash.py")
    traced = cotrace(PROGRAMS / "crash.py")
    assert plain.returncode == traced.returncode == 1
    assert traced.stdout == plain.stdout == "before\n"
    assert traced.stderr == plain.stderr
    assert "tracer" not in traced.stderr
    trace = traced.trace("crash")
    assert trace.footer["exit"] == 1 and trace.footer["error"] == "KeyError: 'x'"
    assert [e["ev"] for e in trace.events][-1] == "raise"
    assert trace.events[-1]["value"] == "KeyError('x')"


def test_sys_exit_status_is_kept(cotrace, python, tmp_path):
    traced = cotrace(PROGRAMS / "exit3.py")
    assert traced.returncode == python(PROGRAMS / "exit3.py").returncode == 3
    trace = traced.trace("exit3")
    assert trace.footer["exit"] == 3
    assert [e["ev"] for e in trace.events] == ["start", "yield", "resume", "raise"]
    assert trace.events[-1]["value"] == "SystemExit(3)"
    msg = tmp_path / "msg.py"
    msg.write_text("import sys\nsys.exit('bye')\n")
    plain, traced = python(msg), cotrace(msg)
    assert (traced.returncode, traced.stderr) == (plain.returncode, plain.stderr) == (1, "bye\n")


def test_missing_script_and_module_fail_like_python(cotrace, python):
    plain, traced = python("nope.py"), cotrace("nope.py")
    assert traced.returncode == plain.returncode == 2
    assert traced.stderr == plain.stderr
    plain, traced = python("-m", "no_such_module_here"), cotrace("-m", "no_such_module_here")
    assert traced.returncode == plain.returncode == 1
    assert traced.stderr == plain.stderr


def test_syntax_error_is_reported_like_python(cotrace, python, tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n    pass\n")
    plain, traced = python(bad), cotrace(bad)
    assert traced.returncode == plain.returncode == 1
    assert traced.stderr == plain.stderr


def test_summary_line(cotrace):
    run = cotrace(ROOT / "samples" / "producer_consumer.py", quiet=False)
    line = run.stderr.strip().splitlines()[-1]
    assert line.startswith("cotrace: 18 events, 2 objects")
    out = run.out_dir / "producer_consumer"
    size = session.human_size(os.path.getsize("%s.trace.jsonl.zst" % out))
    assert line.endswith(" -> %s.trace.jsonl.zst (%s); diagrams: %s.sequence.svg, %s.states.svg, %s.flow.svg"
                         % (out, size, out, out, out))
    assert [session.human_size(n) for n in (999, 1569, 24_100_000, 3 * 10**12)] == \
        ["999 B", "1.6 kB", "24.1 MB", "3000.0 GB"]


def test_usage_errors(cotrace):
    run = cotrace()
    assert run.returncode == 2 and "SCRIPT" in run.stderr and "Traceback" not in run.stderr
    run = cotrace("--max-events", "many", "x.py")
    assert run.returncode == 2 and "Traceback" not in run.stderr


def test_console_script_and_python_m_are_the_same_command():
    exe = shutil.which("cotrace", path=os.path.dirname(sys.executable))
    if exe is None:
        pytest.skip("cotrace is not installed next to this interpreter")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True)
    mod = subprocess.run([sys.executable, "-m", "tracer", "--help"], capture_output=True, text=True, env=_env())
    assert out.returncode == mod.returncode == 0
    assert out.stdout.replace("python -m tracer", "cotrace") == mod.stdout.replace("python -m tracer", "cotrace")
    assert "--output-dir" in out.stdout


def _start(tmp_path, *args):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "tracer", "-q", "-o", str(out), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=tmp_path)
    assert proc.stdout.readline() == "running\n"
    return proc, out


def test_ctrl_c_ends_like_python_after_writing_the_trace(tmp_path):
    plain = subprocess.Popen([sys.executable, str(PROGRAMS / "forever.py")], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert plain.stdout.readline() == "running\n"
    plain.send_signal(signal.SIGINT)
    plain.communicate(timeout=60)
    proc, out = _start(tmp_path, PROGRAMS / "forever.py")
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    # Python dies of SIGINT after printing the traceback (a shell shows 130)
    assert proc.returncode == plain.returncode == -signal.SIGINT
    assert err.splitlines()[-1] == "KeyboardInterrupt"
    assert "tracer" not in err
    trace = load_checked(out / ("forever" + TRACE))
    assert trace.footer["exit"] == 130 and trace.footer["error"] == "KeyboardInterrupt"  # 128 + SIGINT
    # the interrupt lands either in the module loop (ticker stays suspended)
    # or inside ticker itself (which then dies of it)
    last = trace.events[-1]
    assert trace.footer["suspended"] == [last["obj"]] or (last["ev"], last["value"]) == ("raise", "KeyboardInterrupt()")
    assert len(trace.events) > 100
    # and the diagrams were drawn before the process died
    for view in ("sequence", "states", "flow"):
        assert (out / ("forever.%s.svg" % view)).stat().st_size > 500


def test_killed_target_leaves_a_readable_trace(tmp_path):
    proc, out = _start(tmp_path, PROGRAMS / "forever.py")
    path = out / ("forever" + TRACE)
    deadline = time.time() + 30
    while time.time() < deadline and (not path.exists() or path.stat().st_size < 200_000):
        time.sleep(0.05)
    proc.kill()
    proc.communicate(timeout=30)
    trace = load_checked(path)
    assert trace.footer is None
    assert any("no footer" in w for w in trace.warnings)
    assert len(trace.events) > 1000
    assert trace.events[0]["ev"] == "start"


def test_forked_child_runs_untraced_and_leaves_the_trace_alone(cotrace, python):
    plain = python(PROGRAMS / "forks.py")
    traced = cotrace(PROGRAMS / "forks.py")
    assert (traced.returncode, traced.stdout, traced.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    assert "child exit 7" in traced.stdout
    trace = traced.trace("forks")
    values = [e["value"] for e in trace.events if e["ev"] == "yield"]
    assert values == ["'parent-before-%d'" % i for i in range(3)] + ["'parent-after-%d'" % i for i in range(3)]
    assert trace.footer["exit"] == 0
    text = traced.trace_text("forks")
    assert text.count('"type":"footer"') == 1 and text.count('"type":"header"') == 1


def test_asyncio_ctrl_c_handling_is_unchanged(cotrace, python, tmp_path):
    """asyncio.run cancels the main task on Ctrl-C only if it finds Python's
    default SIGINT handler; cotrace's wrapper must not hide it."""
    script = tmp_path / "aio_sigint.py"
    script.write_text(
        "import asyncio, os, signal\n"
        "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n"
        "async def child():\n"
        "    try:\n"
        "        await asyncio.sleep(5)\n"
        "    except asyncio.CancelledError:\n"
        "        print('child cancelled')\n"
        "        raise\n"
        "async def main():\n"
        "    t = asyncio.create_task(child())\n"
        "    await asyncio.sleep(0.05)\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    try:\n"
        "        await asyncio.sleep(5)\n"
        "    except asyncio.CancelledError:\n"
        "        print('main cancelled; cleanup runs')\n"
        "        raise\n"
        "try:\n"
        "    asyncio.run(main())\n"
        "except KeyboardInterrupt:\n"
        "    print('KeyboardInterrupt reached top level')\n"
        "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n")
    plain, traced = python(script), cotrace(script)
    assert "main cancelled; cleanup runs" in plain.stdout
    assert (traced.returncode, traced.stdout, traced.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    events = [(e["ev"], e["value"]) for e in traced.trace("aio_sigint").events]
    assert ("throw", "CancelledError()") in events


def _same(cotrace, python, *args, cwd=None, stdin=None):
    """Run ``python ARGS`` and ``cotrace ARGS``; both must end the same way."""
    plain = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, input=stdin, capture_output=True,
                           text=True, env=_env(), timeout=120)
    traced = subprocess.run([sys.executable, "-m", "tracer", "-q", "-o", str(Path(cwd) / "out"), *map(str, args)],
                            cwd=cwd, input=stdin, capture_output=True, text=True, env=_env(), timeout=120)
    assert (traced.returncode, traced.stdout, traced.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    return traced


def test_module_options_belong_to_the_module(cotrace, python, tmp_path):
    (tmp_path / "tool.py").write_text(
        "import argparse\np = argparse.ArgumentParser()\n"
        "p.add_argument('-o'); p.add_argument('-q', action='store_true'); p.add_argument('-m')\n"
        "p.add_argument('--all', action='store_true')\nprint(p.parse_args())\n")
    _same(cotrace, python, "-m", "tool", "-o", "X", "-q", "--all", "-m", "z", cwd=tmp_path)
    _same(cotrace, python, "-m", "tool", "--help", cwd=tmp_path)
    _same(cotrace, python, "-mtool", "-o", "Y", cwd=tmp_path)
    bogus = subprocess.run([sys.executable, "-m", "tracer", "--bogus", "x.py"], capture_output=True, text=True,
                           env=_env(), cwd=tmp_path)
    assert bogus.returncode == 2 and "No such option" in bogus.stderr


def test_directory_zip_and_stdin_targets(cotrace, python, tmp_path):
    import zipfile
    app = tmp_path / "app"
    app.mkdir()
    body = ("import sys\nprint(sys.argv, sys.path[0], __file__, type(__loader__).__name__, __package__,\n"
            "      __spec__ and __spec__.name)\ndef g():\n    yield 1\nprint(list(g()))\n")
    (app / "__main__.py").write_text(body)
    with zipfile.ZipFile(tmp_path / "app.zip", "w") as z:
        z.writestr("__main__.py", body)
    _same(cotrace, python, "app", "x", cwd=tmp_path)
    _same(cotrace, python, "./app", cwd=tmp_path)
    _same(cotrace, python, "app.zip", "y", cwd=tmp_path)
    _same(cotrace, python, "-", "a", cwd=tmp_path, stdin=body.replace("__file__", "repr(__file__)"))
    assert (tmp_path / "out" / ("stdin" + TRACE)).exists()
    assert [e["ev"] for e in load_checked(tmp_path / "out" / ("app" + TRACE)).events][:2] == ["start", "yield"]


def test_paths_are_kept_as_typed(cotrace, python, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "p.py").write_text("import sys\nprint(__file__, sys.argv[0], sys.path[0])\n")
    _same(cotrace, python, "./sub/../sub/p.py", cwd=tmp_path)


def test_interpreter_exit_details(cotrace, python, tmp_path):
    (tmp_path / "hook.py").write_text(
        "import sys, atexit\n"
        "def h(*a):\n    raise RuntimeError('hook broke')\n"
        "sys.excepthook = h\n"
        "atexit.register(lambda: print('last', sys.last_value))\n"
        "raise ValueError('x')\n")
    _same(cotrace, python, "hook.py", cwd=tmp_path)
    (tmp_path / "ki.py").write_text(
        "import atexit, threading, time\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "threading.Thread(target=lambda: (time.sleep(.2), print('thread done'))).start()\n"
        "raise KeyboardInterrupt\n")
    traced = _same(cotrace, python, "ki.py", cwd=tmp_path)
    assert traced.stdout == "thread done\natexit ran\n"
    (tmp_path / "closed.py").write_text("import sys\nprint('x')\nsys.stderr.close()\n")
    plain = python(tmp_path / "closed.py")
    loud = cotrace(tmp_path / "closed.py", quiet=False)   # the summary line has nowhere to go
    assert (loud.returncode, loud.stdout) == (plain.returncode, plain.stdout) == (0, "x\n")


def test_odd_names_and_concurrent_recordings(cotrace, tmp_path):
    script = tmp_path / "slow.py"
    script.write_text("import sys, time\ndef g():\n    while True:\n        yield 1\nx = g()\n"
                      "for i in range(int(sys.argv[1])):\n    next(x)\n    time.sleep(0.001)\n")
    out = tmp_path / "out"
    first = subprocess.Popen([sys.executable, "-m", "tracer", "-q", "-o", str(out), str(script), "400"],
                             env=_env(), cwd=tmp_path)
    time.sleep(0.3)
    second = cotrace(script, "20")
    first.wait(timeout=60)
    assert first.returncode == 0 and second.returncode == 0
    # the second run found the file busy and took another name
    assert len(load_checked(out / ("slow" + TRACE)).events) == 800
    assert len(load_checked(out / ("slow-2" + TRACE)).events) == 40
    odd = cotrace(script, "\udcff", quiet=False)   # a non-UTF-8 argument (surrogate-escaped)
    assert odd.returncode == 1 and "ValueError" in odd.stderr  # the program's own int() error
    assert load_checked(odd.trace_path("slow")).header["argv"][1] == "\udcff"


def test_program_clearing_sys_modules(cotrace, python, tmp_path):
    script = tmp_path / "clr.py"
    script.write_text("import sys\nsys.modules.clear()\nprint('cleared')\n")
    plain, traced = python(script), cotrace(script)
    assert (traced.returncode, traced.stdout) == (plain.returncode, plain.stdout) == (0, "cleared\n")
    assert traced.trace("clr").footer["exit"] == 0


def test_options_may_follow_a_trace_file(cotrace, tmp_path):
    first = cotrace("--no-diagrams", SAMPLES / "fib.py")
    trace = first.trace_path("fib")
    # a trace takes no program arguments, so what follows it is cotrace's
    run = cotrace(trace, "-f", "txt", "-o", tmp_path / "drawn", out=tmp_path / "unused")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "drawn" / "fib.sequence.txt").exists()
    stray = cotrace(trace, "stray")
    assert stray.returncode == 2
    assert "a trace file is drawn, not run: it takes no arguments (got stray)" in stray.stderr
    assert "Traceback" not in stray.stderr


def test_a_run_of_only_library_generators_says_how_to_record_them(cotrace, tmp_path):
    # before: "0 events" and "no generator or coroutine ran" in every
    # picture, though tokenize's generator had run (outside the filters)
    import validators
    prog = tmp_path / "lib_only.py"
    prog.write_text("import io, tokenize\n"
                    "print(len(list(tokenize.generate_tokens(io.StringIO('a = 1\\n').readline))))\n")
    run = cotrace("-f", "txt,mermaid,plantuml,dot,svg", "--include", "nothing/*", "--include", "lib_only.py",
                  prog, quiet=False)
    assert run.returncode == 0, run.stderr
    footer = load_checked(run.trace_path("lib_only")).footer
    assert footer["objects"] == 0 and footer["unrecorded"]["not included"] >= 1
    assert any(e.endswith("tokenize.py)") for e in footer["unrecorded"]["examples"]), footer
    assert footer["unmatched"] == ["nothing/*", "lib_only.py"]   # (lib_only.py has no generator of its own)
    assert "cotrace: warning: --include 'nothing/*' matched no file whose generators or coroutines ran" in run.stderr
    said = "generator function%s ran unrecorded (outside --include)"
    assert re.search(r"0 objects, \d+ " + re.escape(said).replace("%s", "s?"), run.stderr), run.stderr
    for view in ("sequence", "states", "flow"):
        text = (run.out_dir / ("lib_only.%s.txt" % view)).read_text()
        assert re.search(r"^nothing recorded: \d+ generator functions? ran unrecorded \(outside --include\)$",
                         text, re.M), text
    mermaid = [(run.out_dir / ("lib_only.%s.mmd" % v)).read_text() for v in ("sequence", "states", "flow")]
    assert all("ran unrecorded" in m for m in mermaid)
    validators.check_mermaid(mermaid)
    validators.check_plantuml([(run.out_dir / ("lib_only.%s.puml" % v)).read_text() for v in ("sequence", "states", "flow")])
    for v in ("states", "flow"):
        validators.check_dot((run.out_dir / ("lib_only.%s.dot" % v)).read_text())
        assert "ran unrecorded" in validators.svg_text((run.out_dir / ("lib_only.%s.svg" % v)).read_text())
    assert "ran unrecorded" in validators.svg_text((run.out_dir / "lib_only.sequence.svg").read_text())
    # the default filters: the standard library, and how to record it; a tail pattern records it
    run = cotrace("-f", "txt", prog, quiet=False)
    assert "(stdlib or site-packages: --all records them)" in run.stderr
    run = cotrace("-f", "txt", "--include", "tokenize.py", prog, quiet=False)
    assert load_checked(run.trace_path("lib_only")).footer["objects"] == 1 and "warning" not in run.stderr
