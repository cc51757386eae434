"""The producer/consumer of producer_consumer.py, with asyncio.

The consumer is a task named "consumer": it takes numbers from a queue and
answers on a second queue whether it still wants more.  It only wants 3, 4
and 5.

The producer is an async generator: for n = 5..1 it puts n on the
consumer's queue, waits for the answer and yields it to main.  main pulls
from the producer with ``async for`` until the consumer has had enough; the
producer, abandoned at its yield, is then closed by the event loop.

Every ``await`` that has to wait suspends the task and hands control back to
the event loop, which resumes another task:

    cotrace -f svg,txt samples/async_producer_consumer.py
"""
import asyncio


async def consumer(inbox, answers):
    """Take numbers until it has had 3, 4 and 5; answer True while it wants more."""
    wanted = {3, 4, 5}
    received = []
    while wanted:
        n = await inbox.get()           # suspend until the producer puts a number
        if n in wanted:
            wanted.discard(n)
            received.append(n)
        await answers.put(bool(wanted))  # the answer goes back on the other queue
    return received


async def producer(inbox, answers):
    """Put 5, 4, 3, 2, 1 on ``inbox`` and yield each answer of the consumer."""
    for n in range(5, 0, -1):
        await inbox.put(n)              # hand n to the consumer
        more = await answers.get()      # suspend until it answers
        yield more                      # hand its answer up to main


async def main():
    inbox, answers = asyncio.Queue(), asyncio.Queue()
    async with asyncio.TaskGroup() as group:
        task = group.create_task(consumer(inbox, answers), name="consumer")
        async for more in producer(inbox, answers):   # asend(None) each time
            print("consumer wants more:", more)
            if not more:
                break
    print("received", task.result())
    print("done")


if __name__ == "__main__":
    asyncio.run(main())
