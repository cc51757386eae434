"""Cancellation of a task waiting deep in an await chain, and a wait_for timeout."""
import asyncio


async def deep():
    await asyncio.sleep(10)


async def middle():
    try:
        await deep()
    finally:
        print("middle cleaned up")


async def slow():
    await asyncio.sleep(10)


async def main():
    task = asyncio.create_task(middle(), name="victim")
    await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        print("victim cancelled")
    try:
        await asyncio.wait_for(slow(), timeout=0.01)
    except TimeoutError:
        print("timed out")


asyncio.run(main())
