"""Mostly ordinary function calls, with a few generators."""
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000


def add(a, b):
    return a + b


def work(n):
    total = 0
    for i in range(n):
        total = add(total, i % 7)
    return total


def few():
    for i in range(10):
        yield i


print(work(N), sum(few()))
