"""bench/ stays runnable: every floor mode runs and reports a time, the
report has a row per mode, and bench/run.py parses its options.  No timing
is judged here (see bench/RESULTS.md for the numbers)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))
import floor  # noqa: E402


@pytest.mark.parametrize("mode", floor.MODES)
def test_floor_mode_runs(mode):
    built = ""
    if mode in floor.C_MODES:
        built = floor.build_c()
        if built is None:
            pytest.skip("no C compiler here: the C floor rows say so in RESULTS.md")
    out = subprocess.run([sys.executable, "-I", str(BENCH / "floor.py"), "--child", mode, "2000", built],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) > 0
    assert out.stderr == ""


def test_floor_section_lists_every_mode_and_the_budgets():
    per = {"untraced": 1e-7, "hook": 2e-7, "capture": 5e-7, "capture+json": 9e-7,
           "C hook": 1.2e-7, "C capture": 1.5e-7, "C capture+json": 2e-7}
    result = {"runs": 1, "n": 10, "backend": "settrace", "per_iter": per, "c": "built with cc"}
    budgets = {"pingpong": {"backend": "settrace", "allowed": 2.5, "took": 4.0},
               "pipeline": {"backend": "settrace", "allowed": 0.25, "took": 5.0}}
    lines = floor.section(result, budgets=budgets)
    rows = [line for line in lines if line.startswith("| ") and line.split(" | ")[0][2:] in floor.MODES]
    assert [r.split(" | ")[0][2:] for r in rows] == list(floor.MODES)
    assert "| capture+json | 0.900 | 0.400 | 9.0x |" in lines
    assert "| C capture+json | 0.200 | 0.050 | 2.0x |" in lines
    assert "| workload | backend | budget µs/event | cotrace took µs/event | Python floor µs/event |" \
           " C floor µs/event |" in lines
    assert "| pingpong | settrace | 2.50 | 4.00 | 0.40 | 0.05 |" in lines
    assert "| pipeline | settrace | 0.25 | 5.00 | 0.40 | 0.05 |" in lines
    # without a compiler the C rows say why
    lines = floor.section(dict(result, per_iter={m: per[m] for m in floor.PY_MODES}, c="no C compiler here"))
    assert "| C hook | not run: no C compiler here | | |" in lines


def _stats(median, events=None, **kw):
    s = {"median": median, "min": median, "max": median, "rss_mib": kw.pop("rss", 20.0)}
    if events:
        s.update(events=events, bytes=kw.pop("bytes", 11 * events), dropped=0)
        s["bpe"] = s["bytes"] / events
    return s


def _dense_result():
    import run

    b = "monitoring"
    return {"backends": [b], "viz": ("viz", "1.0"), "runs": 1, "date": "d", "minutes": 1.0, "load": (0.5, 1.0),
            "rows": {"pingpong": {"what": "w", "sizes": ["100", "1000"], "stats": {
                "100": {"untraced": _stats(0.1), b: _stats(1.0, 2_000_000), "viztracer": _stats(3.0)},
                "1000": {"untraced": _stats(0.2), b: _stats(8.2, 20_000_000, rss=30.0, bytes=300_000_000),
                         "viztracer": _stats(3.18)}}}}}, run


def test_marginal_cost_is_the_difference_over_the_added_events():
    result, run = _dense_result()
    rows = {r[0]: r for r in run.dense_rows(result["rows"]["pingpong"], result["backends"], True)}
    label = run._label("monitoring")  # "cotrace monitoring, C core" (or Python core where C is not built)
    assert label == "cotrace monitoring, %s core" % run.DEFAULT_CORE
    assert run._label("settrace:python") == "cotrace settrace, Python core"
    key, small, big, events, added, per, ratio, _ = rows["monitoring"]
    assert (small, big, events, added) == (1.0, 8.2, 20_000_000, 18_000_000)
    assert abs(per - 7.2 / 18_000_000 * 1e6) < 1e-9
    assert abs(rows["viztracer"][5] - 0.18 / 18_000_000 * 1e6) < 1e-12   # its fixed save cost cancels out
    assert abs(ratio - 41.0) < 1e-9            # 8.2 / 0.2 at the big size


def test_dense_section_checks_every_target_of_the_dense_runs():
    result, run = _dense_result()
    lines = run.dense_section(result, {"git": "abc", "missing": {}})
    assert lines[0] == run.DENSE_HEADING
    label = run._label("monitoring")
    text = "\n".join(lines)
    if sys.version_info >= (3, 12):   # the monitoring targets apply on 3.12+
        # 41x against viztracer's 15.9x: 2.58 > 1.0
        assert "| pingpong | %s | ratio at 20M events | ≤ 1 × viztracer's ratio | 41.00x | 15.90x |" \
               " **not met** (2.58 > 1) |" % label in lines
        assert "| µs/event at the margin | ≤ viztracer's | 0.400 | 0.010 | **not met** (40.00 > 1) |" in text
        assert "| peak RSS at 20M events | < 150 MiB | 30.0 MiB |  | met (30.0 MiB < 150 MiB) |" in text
        assert "| bytes per event | ≤ 25 | 15.0 |  | met (15.0 ≤ 25) |" in text


def test_budgets_come_from_the_dense_session():
    result, run = _dense_result()
    b = run._budgets(result)
    # 1.0 x viztracer's 3.18 s - 0.2 s untraced, over 20M events; took: 8.2 s - 0.2 s over them
    assert abs(b["pingpong"]["allowed"] - 2.98 / 20) < 1e-9
    assert abs(b["pingpong"]["took"] - 8.0 / 20) < 1e-9
    assert abs(b["pingpong, marginal"]["allowed"] - 0.01) < 1e-9


def test_verdicts_say_met_or_not_with_the_numbers():
    import run

    assert run.verdict(0.75, 0.8) == "met (0.75 ≤ 0.8)"
    assert run.verdict(1.104, 1.1, "x") == "**not met** (1.104x > 1.1x)"
    assert run.verdict(None, 1.0) == "not measured"
    assert run.verdict(150.0, 150.0, " MiB", le=False, digits=1) == "**not met** (150.00 MiB ≥ 150 MiB)"


def test_run_py_parses_its_parts():
    out = subprocess.run([sys.executable, str(BENCH / "run.py"), "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    for part in ("dense", "overhead", "suite", "floor", "render"):
        assert part in out.stdout


def test_handover_compares_send_with_threads_and_cotrace_counts_the_switches(cotrace):
    # untraced: a time per item for each mode; traced: the switch
    # accounting tells the two apart (every item crosses threads in one)
    import os
    env = dict(os.environ, HANDOVER_ITEMS="300")
    out = subprocess.run([sys.executable, str(BENCH / "handover.py")], capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert [line.split()[0] for line in out.stdout.splitlines()] == ["send", "threads"]
    assert all(float(line.split()[1]) > 0 for line in out.stdout.splitlines())
    from conftest import load_checked
    os.environ["HANDOVER_ITEMS"] = "300"   # (the cotrace fixture passes the environment on)
    try:
        threads = cotrace("-f", "txt", BENCH / "handover.py", "threads", quiet=False)
        send = cotrace("-f", "txt", "-o", threads.out_dir / "send", BENCH / "handover.py", "send")
    finally:
        del os.environ["HANDOVER_ITEMS"]
    assert threads.returncode == send.returncode == 0, threads.stderr + send.stderr
    footer = load_checked(threads.trace_path("handover")).footer
    assert footer["thread_switches"] > 300   # at least one per item
    assert "%d thread switches between events" % footer["thread_switches"] in threads.stderr
    flow = (threads.out_dir / "handover.flow.txt").read_text()
    assert "  thread switches  %d, median " % footer["thread_switches"] in flow
    assert "thread_switches" not in load_checked(threads.out_dir / "send" / "handover.trace.jsonl.zst").footer
    assert "  thread switches  0" in (threads.out_dir / "send" / "handover.flow.txt").read_text()
