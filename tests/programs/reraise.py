"""Exceptions re-raised by finally blocks and bare raise fire no trace event."""
import asyncio


def cleanup_in_finally():
    try:
        yield 1
    finally:
        try:
            int("x")               # raised and caught while GeneratorExit is handled
        except ValueError:
            pass


def reraise_in_except():
    try:
        yield 1
    except KeyError:
        try:
            {}["a"]
        except KeyError:
            pass
        raise                      # re-raises KeyError('k'), not KeyError('a')


async def cleanup():
    await asyncio.sleep(0)


async def worker():
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        await cleanup()            # suspends again while handling the cancellation
        raise


async def main():
    task = asyncio.create_task(worker())
    await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        print("worker cancelled")


g = cleanup_in_finally()
next(g)
g.close()
h = reraise_in_except()
next(h)
try:
    h.throw(KeyError("k"))
except KeyError as exc:
    print("escaped", exc)
asyncio.run(main())
