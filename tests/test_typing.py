"""The package type-checks (the seams are typed; see setup.cfg [mypy])."""
import subprocess
import sys

import pytest

from conftest import ROOT


def test_mypy_is_clean(tmp_path):
    pytest.importorskip("mypy")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"), "tracer"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
