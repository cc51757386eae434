"""asyncio: 200 tasks passing numbers through a queue."""
import asyncio
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20


async def producer(q, n):
    for i in range(n):
        await q.put(i)
        await asyncio.sleep(0)


async def consumer(q, out):
    while True:
        out.append(await q.get())
        q.task_done()


async def main():
    q = asyncio.Queue(maxsize=10)
    out = []
    consumers = [asyncio.create_task(consumer(q, out)) for _ in range(100)]
    await asyncio.gather(*(producer(q, N) for _ in range(100)))
    await q.join()
    for c in consumers:
        c.cancel()
    print(len(out))


asyncio.run(main())
