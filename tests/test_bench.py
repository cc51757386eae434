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
    out = subprocess.run([sys.executable, "-I", str(BENCH / "floor.py"), "--child", mode, "2000"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) > 0
    assert out.stderr == ""


def test_floor_section_lists_every_mode_and_the_budgets():
    result = {"runs": 1, "n": 10, "backend": "settrace",
              "per_iter": {"untraced": 1e-7, "hook": 2e-7, "capture": 5e-7, "capture+json": 9e-7}}
    budgets = {"pingpong": {"backend": "settrace", "allowed": 2.5, "took": 4.0},
               "pipeline": {"backend": "settrace", "allowed": 0.25, "took": 5.0}}
    lines = floor.section(result, budgets=budgets)
    rows = [line for line in lines if line.startswith("| ") and line.split(" | ")[0][2:] in floor.MODES]
    assert [r.split(" | ")[0][2:] for r in rows] == list(floor.MODES)
    assert "| capture+json | 0.900 | 9.0x |" in lines
    assert "| pingpong | settrace | 2.50 | 4.00 | 0.45 | 2.05 |" in lines
    assert "| pipeline | settrace | 0.25 | 5.00 | 0.45 | -0.20 |" in lines


def test_budgets_come_from_the_overhead_session():
    import run

    def stats(median, events=None):
        return {"median": median, "events": events}

    result = {"backends": ["settrace"],
              "startup": {"untraced": stats(0.05), "settrace": stats(0.15), "viztracer": stats(0.1)},
              "rows": {"pingpong": {"kind": "generator", "size": "500000",
                                    "stats": {"untraced": stats(0.1), "settrace": stats(5.2, 1_000_000),
                                              "viztracer": stats(8.0)}},
                       "calls": {"kind": "calls", "size": "10",
                                 "stats": {"untraced": stats(1.0), "settrace": stats(7.0, 22),
                                           "viztracer": stats(12.0)}}}}
    b = run._budgets(result)
    assert list(b) == ["pingpong"]
    # 0.8 x 8.0 s - 0.1 s untraced - 0.1 s extra start-up, over 1M events
    assert abs(b["pingpong"]["allowed"] - 6.2) < 1e-9
    assert abs(b["pingpong"]["took"] - 5.0) < 1e-9
    assert b["pingpong"]["backend"] == "settrace"


def test_run_py_parses_its_parts():
    out = subprocess.run([sys.executable, str(BENCH / "run.py"), "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    for part in ("overhead", "floor", "memory", "render"):
        assert part in out.stdout


def test_marginal_cost_is_the_difference_over_the_added_events():
    import run

    def stats(median, events=None):
        return {"median": median, "events": events} if events else {"median": median}

    result = {"sizes": ["100", "1000"], "backends": ["settrace"], "viz": ("viz", "1.0"),
              "stats": {"100": {"untraced": stats(0.1), "settrace": stats(1.0, 200), "viztracer": stats(3.0)},
                        "1000": {"untraced": stats(0.2), "settrace": stats(8.2, 2000), "viztracer": stats(3.18)}}}
    rows = {r[0]: r for r in run.marginal_rows(result)}
    label = run._label("settrace")  # "cotrace settrace, C core" (or Python core where C is not built)
    assert label == "cotrace settrace, %s core" % run.DEFAULT_CORE
    assert run._label("settrace:python") == "cotrace settrace, Python core"
    assert rows[label][3] == 1800
    assert abs(rows[label][4] - 7.2 / 1800 * 1e6) < 1e-6
    assert abs(rows["viztracer"][4] - 0.18 / 1800 * 1e6) < 1e-6      # its fixed save cost cancels out
    assert abs(rows[label][5] - 41.0) < 1e-9            # 8.2 / 0.2 at the big size
    lines = run.marginal_section(dict(result, name="pingpong", date="d", runs=1, minutes=1.0, load=(0.5, 1.0)),
                                 {"git": "abc"})
    assert lines[0] == run.MARGINAL_HEADING and any(line.startswith("| %s | 1.00 | 8.20 |" % label)
                                                     for line in lines)
