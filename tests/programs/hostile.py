"""Values whose repr misbehaves must not disturb the program."""
import sys


class Raises:
    def __repr__(self):
        raise RuntimeError("no repr for you")


class NotAString:
    def __repr__(self):
        return 42


class Recursive:
    def __repr__(self):
        return "R(%r)" % self


class Huge:
    def __repr__(self):
        return "H" * 5_000_000


class Hangs:
    def __repr__(self):
        while True:
            pass


class Hostile:
    def __repr__(self):
        return '"quoted" <tag> & ]] --> ; \n newline \x00 nul \u202e bidi'


def gen():
    received = []
    for value in (Raises(), NotAString(), Recursive(), Huge(), Hangs(), Hostile(), [Raises()] * 3):
        received.append((yield value))
    return received


g = gen()
items = [next(g)]
while True:
    try:
        items.append(g.send(Raises()))
    except StopIteration as stop:
        result = stop.value
        break
print("yielded", len(items), "received", len(result))
sys.exit(0)
