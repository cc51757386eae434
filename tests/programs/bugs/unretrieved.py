"""A task whose exception is never retrieved."""
import asyncio
import gc


async def fail():
    raise ValueError("lost")


async def main():
    task = asyncio.get_running_loop().create_task(fail())
    await asyncio.sleep(0.01)
    del task
    gc.collect()


asyncio.run(main())
