"""The seed tutorial's opening claim, measured: handing items between two
generators with send() against handing them between two threads through a
queue.  Each side is a generator in both modes, so cotrace sees every
hand-over:

    python bench/handover.py                  # both modes, untraced: ns per item
    cotrace -f txt bench/handover.py threads  # then output/handover.flow.txt:
    cotrace -f txt bench/handover.py send     # "hand-overs" and "thread switches"

Untraced, the numbers are the answer (median of 5 runs, same process);
traced, cotrace's own cost per event is in every gap it reports, but the
thread switches stand out all the same.
"""
from __future__ import annotations

import os
import queue
import statistics
import sys
import threading
import time

ITEMS = int(os.environ.get("HANDOVER_ITEMS", "20000"))


def source(n):
    for i in range(n):
        yield i


def sink():
    total = 0
    while True:
        item = yield
        if item is None:
            return total
        total += item


def by_send(n: int) -> int:
    consumer = sink()
    next(consumer)
    for item in source(n):
        consumer.send(item)
    try:
        consumer.send(None)
    except StopIteration as stop:
        return stop.value
    return -1


def by_threads(n: int) -> int:
    q: queue.Queue = queue.Queue(maxsize=1)   # a hand-over per item: the producer waits for the consumer
    result = []

    def produce():
        for item in source(n):
            q.put(item)
        q.put(None)

    def consume():
        consumer = sink()
        next(consumer)
        while True:
            item = q.get()
            try:
                consumer.send(item)
            except StopIteration as stop:
                result.append(stop.value)
                return

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return result[0]


MODES = {"send": by_send, "threads": by_threads}


def main(argv: list) -> None:
    modes = argv or list(MODES)
    n = ITEMS
    expected = n * (n - 1) // 2
    for mode in modes:
        runs = []
        for _ in range(1 if argv else 5):
            t0 = time.perf_counter_ns()
            assert MODES[mode](n) == expected
            runs.append((time.perf_counter_ns() - t0) / n)
        print("%-8s %8.0f ns per item (median of %d runs, %d items)" % (mode, statistics.median(runs), len(runs), n))


if __name__ == "__main__":
    main(sys.argv[1:])
