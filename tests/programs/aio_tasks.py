"""Tasks made every way asyncio makes them; each coroutine prints the name
of the task it runs in, for the test to compare with the trace."""
import asyncio
import sys


def say(who):
    print(who, asyncio.current_task().get_name())


async def named():
    say("named")
    await asyncio.sleep(0)


async def gathered(n):
    say("gathered%d" % n)
    await asyncio.sleep(0)
    return n


async def grouped():
    say("grouped")
    await asyncio.sleep(0)


async def waited():
    say("waited")
    await asyncio.sleep(0)
    return "in time"


async def main():
    say("main")
    await asyncio.create_task(named(), name="named-task")
    print(await asyncio.gather(gathered(1), gathered(2)))
    async with asyncio.TaskGroup() as tg:
        tg.create_task(grouped(), name="group-member")
    print(await asyncio.wait_for(waited(), timeout=5))


asyncio.run(main())
