"""A three-level ``yield from`` pipeline with return values.

``read_numbers`` yields raw values and returns how many it read.
``clean`` delegates to it with ``yield from`` (the values pass straight
through), then returns the count it got back.  ``report`` delegates to
``clean`` the same way and yields a summary at the end.
"""


def read_numbers(lines):
    count = 0
    for line in lines:
        count += 1
        yield int(line)
    return count


def clean(lines):
    count = yield from read_numbers(lines)   # values pass through to the caller
    return count * 10


def report(lines):
    total = yield from clean(lines)
    yield "read %d" % (total // 10)
    return total


if __name__ == "__main__":
    for item in report(["3", "1", "4"]):
        print(item)
