"""A coroutine created and never awaited."""
import asyncio


async def save(item):
    await asyncio.sleep(0)
    print("saved", item)


async def main():
    save("a")          # forgot the await
    await save("b")


asyncio.run(main())
