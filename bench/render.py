"""Drawing traces of 1M and 100M events, measured: ``python bench/render.py``
(or ``python bench/run.py --only render``).

Records three traces once (``cotrace --no-diagrams``): the ping-pong loop at
1M and 100M events and the pipeline at 1M, and checks their footers' event
counts.  Then times ``cotrace -q TRACE`` (the default diagrams) and ``cotrace
-q -f ALL TRACE`` (every format) on each, plus all formats on a
gzip-compressed copy of the 1M-event traces (whose aggregates a reader
cannot reach without reading every event: the pass over all events that
drawing a trace of an older cotrace costs).  Drawing reads the aggregates
at a trace's end and a window of its first events, so the 100M-event trace
should draw as fast as the 1M-event one: that is the target (<= 60 s and
<= 500 MiB whatever the event count).  Runs are interleaved (round after round over every case), medians are
reported, with the child's peak RSS (``os.wait4``; Linux folds in the waited-for
descendants, so a Graphviz ``dot`` child counts too) and the sizes of the files
drawn.  Nothing here asserts a threshold: the targets (< 30 s, < 500 MiB) are
reported beside the numbers, judged by people.
"""
from __future__ import annotations

import gzip
import os
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from run import _footer, _size, run_once, traceio  # noqa: E402  (bench/run.py, the overhead benchmark)

FORMATS = ("svg", "png", "pdf", "dot", "mermaid", "plantuml", "txt")
ALL = ",".join(FORMATS)
TARGET_S, TARGET_MIB = 60.0, 500.0
# trace name -> (workload, description, size argument, at least this many
# events): pingpong records 2 events per iteration, the pipeline 7 per item
TRACES = {
    "pingpong-1M": ("pingpong", "send/yield ping-pong", "500000", 1_000_000),
    "pingpong-100M": ("pingpong", "send/yield ping-pong", "50000000", 100_000_000),
    "pipeline-1M": ("pipeline", "5-stage pipeline, yield from, send() sink", "143000", 1_000_000),
}
VIEWS = ("sequence", "states", "flow")
HEADING = "### Drawing a 100M-event trace"


def record(tmp: Path, name: str, workload: str, size: str, least: int) -> tuple[Path, int, float]:
    """Record ``workload`` once, without drawing, as trace ``name``; its path,
    event count and the recording's seconds."""
    script = str(HERE / "workloads" / (workload + ".py"))
    out = tmp / ("record-" + name)
    elapsed, _ = run_once([sys.executable, "-m", "tracer", "-q", "--no-diagrams", "-o", str(out), script, size])
    trace = out / (workload + traceio.SUFFIXES[traceio.DEFAULT_CODEC])
    events = _footer(trace)["events"]
    if events < least:
        raise SystemExit("%s N=%s recorded only %d events (< %d): raise its size" % (workload, size, events, least))
    named = out / (name + traceio.SUFFIXES[traceio.DEFAULT_CODEC])
    trace.rename(named)
    return named, events, elapsed


def _gzip_copy(src: Path, dst: Path) -> None:
    """The same records as one gzip stream, streamed (the parent stays small:
    its peak RSS would leak into the children's, which Linux carries across
    fork and exec).  Its aggregates cannot be reached from its end: drawing
    it is a pass over every event, as for a trace of an older cotrace."""
    import io
    with gzip.open(dst, "wb", compresslevel=6) as fout:
        traceio.copy_lines(str(src), io.TextIOWrapper(fout, encoding="utf-8", write_through=True))


def _case_dir(tmp: Path, trace: Path, label: str, compressed: bool) -> Path:
    """A directory of its own for one case, holding a link to the trace (the
    diagrams are written beside the trace), so the sizes are of this case's
    files only."""
    d = tmp / ("%s-%s" % (trace.name.split(".")[0], label))
    d.mkdir()
    if compressed:
        _gzip_copy(trace, d / (trace.name.split(".")[0] + ".trace.jsonl.gz"))
    else:
        os.link(trace, d / trace.name)
    return d


def _outputs(d: Path) -> dict:
    """view -> total bytes of the diagram files in d."""
    sizes = dict.fromkeys(VIEWS, 0)
    for p in d.iterdir():
        parts = p.name.split(".")
        if len(parts) >= 3 and parts[1] in sizes:
            sizes[parts[1]] += p.stat().st_size
    return sizes


def bench(runs: int = 2, only: list | None = None, scale: float = 1.0) -> dict:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cotrace-render-") as t:
        tmp = Path(t)
        cases = []  # (trace name, label, dir, trace file, formats or None: the default diagrams)
        traces = {}
        for name, (workload, what, size, least) in TRACES.items():
            if only and name not in only:
                continue
            size = str(max(1, int(int(size) * scale)))
            trace, events, took = record(tmp, name, workload, size, int(least * scale))
            traces[name] = {"what": what, "size": size, "events": events, "bytes": trace.stat().st_size,
                            "record_s": took}
            print("recorded %-13s N=%s: %d events, %.1f MB, %.1fs"
                  % (name, size, events, trace.stat().st_size / 1e6, took), flush=True)
            for label, fmts in (("default", None), ("all", ALL)):
                d = _case_dir(tmp, trace, label, False)
                cases.append((name, label, d, d / trace.name, fmts))
            if events < 10_000_000:
                d = _case_dir(tmp, trace, "all-gz", True)
                gz = d / (trace.name.split(".")[0] + ".trace.jsonl.gz")
                traces[name]["gz_bytes"] = gz.stat().st_size
                cases.append((name, "all, .gz", d, gz, ALL))
        times: dict = {}
        loads = []
        for r in range(runs):
            for name, label, d, path, fmts in cases:
                loads.append(os.getloadavg()[0])
                fmt_args = ["-f", fmts] if fmts else []
                elapsed, rss = run_once([sys.executable, "-m", "tracer", "-q", *fmt_args, str(path)])
                times.setdefault((name, label), []).append((elapsed, rss))
                print("run %d/%d %-13s %-9s %7.2fs %7.1f MiB" % (r + 1, runs, name, label, elapsed, rss / 1024),
                      flush=True)
        rows = []
        for name, label, d, path, fmts in cases:
            ts = times[(name, label)]
            rows.append({
                "workload": name, "formats": label, "median_s": statistics.median(t for t, _ in ts),
                "min_s": min(t for t, _ in ts), "max_s": max(t for t, _ in ts),
                "rss_mib": max(r for _, r in ts) / 1024, "outputs": _outputs(d),
            })
    return {"runs": runs, "traces": traces, "rows": rows, "load": (min(loads), max(loads)) if loads else (0, 0)}


def section(result: dict) -> list:
    """The lines of this Python version's render subsection (heading first)."""
    lines = [
        HEADING,
        "",
        "- Machine: %s, %d CPUs, %s" % (platform.machine(), os.cpu_count() or 0, platform.platform()),
        "- Interpreter: %s" % sys.executable,
        "- Date: %s; %d interleaved runs per case, medians (min-max); peak RSS is the largest of the runs,"
        " Graphviz children included" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), result["runs"]),
        "- Machine load (1-minute load average before each run): %.1f to %.1f; other work on the machine slows"
        " the runs it overlaps, so min is the better guide to the code's own speed" % result["load"],
        "- Command: `cotrace -q TRACE` (\"default\": the sequence, states and flow diagrams as SVG) and `cotrace -q -f"
        " FORMATS TRACE`, a fresh process per run; \"all\" is `-f %s`" % ALL,
        "- Target (issue \"Real programs at full size\"): the default diagrams of a 100M-event trace in ≤ %.0f s and"
        " ≤ %.0f MiB, whatever the event count" % (TARGET_S, TARGET_MIB),
    ]
    for name, t in result["traces"].items():
        lines.append("- Trace `%s` (%s, N=%s): %d events, %s (%.1f B/event), recorded in %.0f s%s"
                     % (name, t["what"], t["size"], t["events"], _size(t["bytes"]), t["bytes"] / t["events"],
                        t["record_s"], "; gzip-compressed copy %s" % _size(t["gz_bytes"]) if "gz_bytes" in t else ""))
    lines += [
        "",
        "| trace | formats | median s | min-max s | peak RSS MiB | output sequence / states / flow | within target |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        o = r["outputs"]
        ok = r["median_s"] <= TARGET_S and r["rss_mib"] <= TARGET_MIB
        lines.append("| %s | %s | %.2f | %.2f-%.2f | %.1f | %s / %s / %s | %s |" % (
            r["workload"], r["formats"], r["median_s"], r["min_s"], r["max_s"], r["rss_mib"],
            _size(o["sequence"]), _size(o["states"]), _size(o["flow"]), "yes" if ok else "**no**"))
    return lines


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=2, help="runs per case (default 2)")
    parser.add_argument("--trace", action="append", choices=sorted(TRACES), help="only this trace (repeatable)")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite bench/RESULTS.md")
    args = parser.parse_args(argv)
    result = bench(args.runs, args.trace)
    if not args.no_write and not args.trace:
        from run import write_results
        write_results({HEADING: section(result)})


if __name__ == "__main__":
    main()
