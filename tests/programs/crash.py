"""Dies with an uncaught exception raised inside a generator."""


def numbers():
    yield 1
    raise KeyError("x")


def consume():
    return [n for n in numbers()]


print("before")
consume()
print("never")
