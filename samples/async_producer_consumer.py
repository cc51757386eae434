"""The producer/consumer of producer_consumer.py with asyncio.

A producer task puts 5..1 on a queue; a consumer task takes numbers until
it has had 3, 4 and 5.  Every ``await`` that has to wait suspends the
coroutine and hands control back to the event loop.
"""
import asyncio


async def consumer(queue, done):
    wanted = {3, 4, 5}
    while wanted:
        n = await queue.get()          # suspends while the queue is empty
        wanted.discard(n)
        print("consumer got", n)
    done.set()
    return "had enough"


async def producer(queue, done):
    for n in range(5, 0, -1):
        if done.is_set():
            break
        await queue.put(n)
        await asyncio.sleep(0)         # let the consumer run
    return "produced"


async def main():
    queue = asyncio.Queue()
    done = asyncio.Event()
    results = await asyncio.gather(producer(queue, done), consumer(queue, done))
    print(results)


if __name__ == "__main__":
    asyncio.run(main())
