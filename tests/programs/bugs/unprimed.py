"""A coroutine never primed: send() a value into a generator that never ran."""


def averager():
    total = count = 0
    average = None
    while True:
        value = yield average
        total += value
        count += 1
        average = total / count


avg = averager()
try:
    avg.send(10)
except TypeError as exc:
    print("caught:", exc)
