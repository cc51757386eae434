"""Coroutines driven by hand: a round-robin scheduler in the style of
David Beazley's coroutine courses, with a types.coroutine awaitable, and an
awaited coroutine that completes without suspending."""
import types
from collections import deque


@types.coroutine
def switch():
    sent = yield "switch"               # the scheduler's send() arrives here
    return sent


async def quick(n):
    return n * 10                       # completes inside the await: no suspension


async def worker(name, n):
    for i in range(n):
        got = await switch()
        print(name, i, got, await quick(i))
    return name


def run(coros):
    ready = deque(coros)
    started = set()
    tick = 0
    while ready:
        coro = ready.popleft()
        try:
            coro.send(tick if coro in started else None)  # a fresh coroutine only takes None
            started.add(coro)
            ready.append(coro)
        except StopIteration as stop:
            print("finished", stop.value)
        tick += 1


run([worker("a", 2), worker("b", 1)])
