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


def test_floor_section_lists_every_mode_and_the_allowance():
    result = {"runs": 1, "n": 10, "backend": "settrace",
              "per_iter": {"untraced": 1e-7, "hook": 2e-7, "capture": 5e-7, "capture+json": 9e-7}}
    lines = floor.section(result, allowed=0.5)
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| mode")]
    assert [r.split(" | ")[0][2:] for r in rows] == list(floor.MODES)
    assert "| capture+json | 0.900 | 9.0x |" in lines
    assert any("**0.50 µs per iteration**" in line and "already above the allowance" in line for line in lines)


def test_run_py_parses_its_parts():
    out = subprocess.run([sys.executable, str(BENCH / "run.py"), "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    for part in ("overhead", "floor", "memory", "render"):
        assert part in out.stdout
