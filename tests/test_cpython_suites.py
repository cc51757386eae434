"""Transparency on CPython's own generator and coroutine test suites.

Each suite from the installed standard library runs twice: plainly and under
``cotrace --include '*/test/*' -m unittest`` (so the suite's own generators
and coroutines are recorded).  The results must be the same, test by test,
and the trace must satisfy the alternation invariant.

The asyncio subset (tasks, queues, locks) runs its coroutines as tasks of
real event loops, so its traces must also show coroutines driven by a task.
"""
import re

import pytest

SUITES = ["test_generators", "test_yield_from", "test_coroutines", "test_asyncgen",
          "test_asyncio.test_tasks", "test_asyncio.test_queues", "test_asyncio.test_locks"]


# asyncio's debug mode (IsolatedAsyncioTestCase turns it on) logs every
# task step that took longer than 0.1 s of wall time, in the middle of the
# test's "name ... " line.  Like the time in "Ran N tests in X s" that is a
# measurement, not an outcome: tracing (and a busy machine) stretches it.
_SLOW_STEP = re.compile(r"Executing <[^\n]*> took [0-9.]+ seconds\n")


def _outcomes(stderr: str) -> tuple:
    """(per-test verdict lines, summary line) from unittest -v output."""
    stderr = _SLOW_STEP.sub("", stderr)
    verdicts = sorted(l for l in stderr.splitlines() if re.search(r" \.\.\. (ok|FAIL|ERROR|skipped|expected failure|unexpected success)", l))
    summary = [l for l in stderr.splitlines() if re.match(r"^(OK|FAILED)", l)]
    ran = [l for l in stderr.splitlines() if l.startswith("Ran ")]
    return verdicts, summary, [re.sub(r" in [0-9.]+s$", "", l) for l in ran]


@pytest.mark.parametrize("suite", SUITES)
def test_suite_results_are_unchanged_under_cotrace(cotrace, python, suite):
    plain = python("-m", "unittest", "-v", "test." + suite, timeout=600)
    traced = cotrace("--include", "*/test/*", "-m", "unittest", "-v", "test." + suite, timeout=900)
    assert traced.returncode == plain.returncode
    expected = _outcomes(plain.stderr)
    assert expected[0], "the plain run reported no tests"
    assert _outcomes(traced.stderr) == expected
    assert traced.stdout == plain.stdout
    trace = traced.trace("unittest")   # load_checked: the alternation invariant holds
    assert trace.footer["exit"] == plain.returncode
    assert len(trace.events) > 100
    if suite.startswith("test_asyncio."):
        assert any(e.get("task") for e in trace.events), "no coroutine was recorded inside an asyncio task"
