"""StopIteration leaking out of a generator becomes RuntimeError (PEP 479)."""


def pairs(items):
    it = iter(items)
    while True:
        a = next(it)
        b = next(it)
        yield a, b


try:
    print(list(pairs([1, 2, 3, 4])))
except RuntimeError as exc:
    print("caught:", exc)
