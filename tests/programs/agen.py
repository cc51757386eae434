"""An async generator driven by async for, __anext__, asend and aclose."""
import asyncio
async def ticks(n):
    for i in range(n):
        got = yield i
        if got: print("got", got)
async def main():
    async for t in ticks(2):
        print("tick", t)
    g = ticks(3)
    print(await g.__anext__())
    print(await g.asend("hello"))
    await g.aclose()
asyncio.run(main())
