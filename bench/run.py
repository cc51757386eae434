"""Overhead of cotrace, measured: ``python bench/run.py``.

For each workload the untraced run and the traced run are interleaved
(A B A B ...) in the same session, so that both see the same machine load;
the reported ratio is median(traced) / median(untraced).  Peak RSS is the
child's own maximum resident set (``os.wait4``), events and bytes come from
the trace footer and file.  Results are printed and written to
bench/RESULTS.md.  Nothing here asserts a threshold: numbers are reported,
judged by people.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKLOADS = {
    "pingpong": ("send/yield ping-pong", "100000"),
    "pipeline": ("5-stage pipeline, yield from, send() sink", "30000"),
    "asyncio_tasks": ("asyncio, 200 tasks and a queue", "20"),
    "calls": ("mostly ordinary calls, a few generators", "300000"),
}


def run_once(cmd: list[str]) -> tuple[float, int]:
    """Wall time (s) and peak RSS (KiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("benchmark command failed: %s\n%s" % (" ".join(cmd), err))
    return elapsed, usage.ru_maxrss


def _footer(path: Path) -> dict:
    """The last line of a trace, read without loading the file (a big parent
    process would inflate the children's peak RSS, which Linux carries
    across fork and exec)."""
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 4096))
        return json.loads(fh.read().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=5, help="runs per variant (default 5)")
    parser.add_argument("--only", action="append", help="run only this workload (repeatable)")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite bench/RESULTS.md")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (what, size) in WORKLOADS.items():
            if args.only and name not in args.only:
                continue
            script = str(HERE / "workloads" / (name + ".py"))
            plain_cmd = [sys.executable, script, size]
            traced_cmd = [sys.executable, "-m", "tracer", "-q", "-o", tmp, script, size]
            plain, traced = [], []
            for _ in range(args.runs):
                plain.append(run_once(plain_cmd))
                traced.append(run_once(traced_cmd))
            trace = Path(tmp) / (name + ".trace.jsonl")
            footer = _footer(trace)
            size_bytes = trace.stat().st_size
            p = statistics.median(t for t, _ in plain)
            t = statistics.median(t for t, _ in traced)
            rows.append({
                "workload": name, "what": what, "plain_s": p, "traced_s": t, "ratio": t / p,
                "plain_rss_mib": max(r for _, r in plain) / 1024, "traced_rss_mib": max(r for _, r in traced) / 1024,
                "events": footer["events"], "bytes": size_bytes,
                "bytes_per_event": size_bytes / footer["events"] if footer["events"] else 0,
            })
            r = rows[-1]
            print("%-14s untraced %6.3fs  traced %7.3fs  ratio %6.2fx  rss %5.1f/%5.1f MiB  %8d events  %5.0f B/event"
                  % (name, p, t, r["ratio"], r["plain_rss_mib"], r["traced_rss_mib"], r["events"],
                     r["bytes_per_event"]), flush=True)
    if not args.no_write and not args.only:
        write_results(rows, args.runs)


def write_results(rows, runs) -> None:
    """Replace this Python version's section of bench/RESULTS.md."""
    version = platform.python_version()
    section = [
        "## Python %s" % version,
        "",
        "- Machine: %s, %d CPUs, %s" % (platform.machine(), os.cpu_count() or 0, platform.platform()),
        "- Interpreter: %s" % sys.executable,
        "- Date: %s; %d interleaved runs per variant, medians" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                                                runs),
        "- Backend: settrace",
        "",
        "| workload | what | untraced s | traced s | ratio | peak RSS untraced / traced MiB | events | bytes/event |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        section.append("| %s | %s | %.3f | %.3f | %.2fx | %.1f / %.1f | %d | %.0f |" % (
            r["workload"], r["what"], r["plain_s"], r["traced_s"], r["ratio"], r["plain_rss_mib"],
            r["traced_rss_mib"], r["events"], r["bytes_per_event"]))
    path = HERE / "RESULTS.md"
    sections = {}
    if path.exists():
        current = None
        for line in path.read_text().splitlines():
            if line.startswith("## Python "):
                current = line[len("## Python "):].strip()
                sections[current] = []
            elif current is not None:
                sections[current].append(line)
    sections[version] = section[1:]
    head = [
        "# cotrace benchmark results",
        "",
        "Written by `python bench/run.py` (run it with each interpreter to fill its section).  The ratio is"
        " traced / untraced, both measured in the same session with interleaved runs, so that machine load"
        " affects both alike.  Peak RSS is the child process's own maximum resident set.",
        "",
    ]
    body = []
    for v in sorted(sections, key=lambda x: tuple(int(p) for p in x.split(".") if p.isdigit())):
        body += ["## Python %s" % v] + [l for l in sections[v]]
        if body[-1] != "":
            body.append("")
    path.write_text("\n".join(head + body))


if __name__ == "__main__":
    main()
