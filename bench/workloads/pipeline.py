"""A five-stage generator pipeline with yield from and a send()-driven sink."""
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 30_000


def source(n):
    yield from range(n)


def double(it):
    for x in it:
        yield 2 * x


def keep_even(it):
    for x in it:
        if x % 4 == 0:
            yield x


def delegate(it):
    return (yield from keep_even(it))


def sink():
    total = 0
    while True:
        total += yield total


s = sink()
next(s)
for v in delegate(double(source(N))):
    s.send(v)
print(s.send(0))
