"""The sent value must reach the resume event wherever the yield sits."""


def assign():
    x = yield "ready"
    print("assign got", x)
    yield x


def augmented():
    total = 0
    while True:
        total += yield total


def as_arguments():
    return pair((yield "a?"), (yield "b?"))


def pair(a, b):
    return a, b


def bare():
    yield            # the sent value is discarded
    yield


def in_expression():
    return [(yield 1) * 2, {"k": (yield 2)}]


g = assign()
next(g)
g.send("hello")

g = augmented()
next(g)
g.send(10)
g.send(32)

g = as_arguments()
next(g)
g.send("first")
try:
    g.send("second")
except StopIteration as stop:
    print("as_arguments returned", stop.value)

g = bare()
next(g)
g.send(["discarded", 1])

g = in_expression()
next(g)
g.send(21)
try:
    g.send(3.5)
except StopIteration as stop:
    print("in_expression returned", stop.value)
