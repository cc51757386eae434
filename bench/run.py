"""Overhead of cotrace, measured: ``python bench/run.py``.

For each workload the untraced run and the traced run are interleaved
(A B A B ...) in the same session, so that both see the same machine load;
the reported ratio is median(traced) / median(untraced).  Peak RSS is the
child's own maximum resident set (``os.wait4``), events and bytes come from
the trace footer and file.  Results are printed and written to
bench/RESULTS.md.  Nothing here asserts a threshold: numbers are reported,
judged by people.

The same command then runs the render benchmark (bench/render.py: every
format drawn from a 1M-event trace); ``--only render`` runs only that,
``--only overhead`` only the recording overhead, ``--only WORKLOAD`` one
overhead workload (not written to RESULTS.md).
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
    parser.add_argument("--render-runs", type=int, default=3, help="runs per render case (default 3)")
    parser.add_argument("--only", action="append",
                        choices=["overhead", "render"] + list(WORKLOADS),
                        help="run only this part (overhead, render) or overhead workload (repeatable)")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite bench/RESULTS.md")
    args = parser.parse_args()
    only = set(args.only or ["overhead", "render"])
    if "overhead" in only:
        only |= set(WORKLOADS)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (what, size) in WORKLOADS.items():
            if name not in only:
                continue
            script = str(HERE / "workloads" / (name + ".py"))
            plain_cmd = [sys.executable, script, size]
            # --no-diagrams: cotrace SCRIPT also draws after recording; measure recording only
            traced_cmd = [sys.executable, "-m", "tracer", "-q", "--no-diagrams", "-o", tmp, script, size]
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
    render_lines = None
    if "render" in only:
        import render

        render_lines = render.section(render.bench(args.render_runs))
    full_overhead = set(WORKLOADS) <= only
    if not args.no_write and (full_overhead or render_lines):
        write_results(rows if full_overhead else None, args.runs, render=render_lines)


def write_results(rows, runs, render=None) -> None:
    """Replace this Python version's section of bench/RESULTS.md: its
    overhead table when ``rows`` is given, its render subsection (the lines
    from bench/render.py, heading first) when ``render`` is; the other part
    is kept as it was."""
    version = platform.python_version()
    section = [
        "## Python %s" % version,
        "",
        "- Machine: %s, %d CPUs, %s" % (platform.machine(), os.cpu_count() or 0, platform.platform()),
        "- Interpreter: %s" % sys.executable,
        "- Date: %s; %s interleaved runs per variant, medians" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                                                runs),
        "- Backend: settrace",
        "",
        "| workload | what | untraced s | traced s | ratio | peak RSS untraced / traced MiB | events | bytes/event |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows or []:
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
    overhead, old_render = _split_render(sections.get(version, []))
    if rows is not None:
        overhead = section[1:]
    elif not overhead:
        overhead = section[1:4]  # machine and interpreter lines, no overhead table yet
    if render is None:
        render = old_render
    while overhead and overhead[-1] == "":
        overhead = overhead[:-1]
    sections[version] = overhead + ([""] + render if render else [])
    head = [
        "# cotrace benchmark results",
        "",
        "Written by `python bench/run.py` (run it with each interpreter to fill its section).  The ratio is"
        " traced / untraced, both measured in the same session with interleaved runs, so that machine load"
        " affects both alike.  Peak RSS is the child process's own maximum resident set.  The render"
        " subsections time `cotrace -q -f FORMATS TRACE` re-drawing a recorded 1M-event trace.",
        "",
    ]
    body = []
    for v in sorted(sections, key=lambda x: tuple(int(p) for p in x.split(".") if p.isdigit())):
        body += ["## Python %s" % v] + [l for l in sections[v]]
        if body[-1] != "":
            body.append("")
    path.write_text("\n".join(head + body))


def _split_render(lines: list) -> tuple:
    """A version section's lines: (overhead part, render subsection or [])."""
    for i, line in enumerate(lines):
        if line.startswith("### Rendering"):
            return lines[:i], lines[i:]
    return lines, []


if __name__ == "__main__":
    main()
