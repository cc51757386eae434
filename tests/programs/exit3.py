"""Leaves through sys.exit(3) from inside a generator."""
import sys


def gen():
    yield 1
    sys.exit(3)


for _ in gen():
    print("one")
