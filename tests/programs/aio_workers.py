"""A producer and two named workers sharing a bounded queue."""
import asyncio


async def worker(queue, got):
    mine = []
    while True:
        n = await queue.get()
        if n is None:
            break
        mine.append(n)
        got.append((asyncio.current_task().get_name(), n))
        for _ in range(3):          # work on it, letting the others run
            await asyncio.sleep(0)
    return mine


async def produce(queue):
    for n in range(1, 7):
        await queue.put(n)          # waits while the queue is full
        await asyncio.sleep(0)
    for _ in range(2):
        await queue.put(None)


async def main():
    queue = asyncio.Queue(maxsize=1)
    got = []
    workers = [asyncio.create_task(worker(queue, got), name="worker-%d" % i) for i in (1, 2)]
    await asyncio.sleep(0)          # both workers now wait on the empty queue
    await produce(queue)
    results = await asyncio.gather(*workers)
    for name, mine in zip(("worker-1", "worker-2"), results):
        print(name, mine)


asyncio.run(main())
