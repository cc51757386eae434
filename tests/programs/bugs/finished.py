"""Resuming a finished generator, and a re-entrant next()."""


def once():
    yield 1


g = once()
print(list(g))
try:
    g.send(None)
except StopIteration:
    print("already finished")


def reentrant():
    yield next(me)


me = reentrant()
try:
    next(me)
except ValueError as exc:
    print("caught:", exc)
