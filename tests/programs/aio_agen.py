"""An async generator driven every way: async for, asend, athrow, aclose,
and one left to the event loop's shutdown hook."""
import asyncio


async def ticker():
    received = []
    try:
        while True:
            try:
                got = yield len(received)       # the consumer receives the int, not a wrapper
                received.append(got)
                await asyncio.sleep(0)          # an await inside the async generator
            except ValueError:
                received.append("bad")
    finally:
        print("ticker closed after", received)


async def forgotten():
    try:
        yield "first"
        yield "never"
    finally:
        print("forgotten closed")


async def main():
    t = ticker()
    async for v in t:
        print("async for got", v)
        if v >= 1:
            break
    print("asend got", await t.asend("hello"))
    print("athrow got", await t.athrow(ValueError("bad")))
    await t.aclose()
    global kept
    kept = forgotten()
    print("anext got", await anext(kept))     # still suspended when main returns


asyncio.run(main())
