"""A `yield` in `finally` of a stage that is stopped early."""


def numbers():
    try:
        yield 1
        yield 2
    finally:
        yield "cleanup"


def first(items):
    for item in items:
        return item


print(first(numbers()))
print("done")
