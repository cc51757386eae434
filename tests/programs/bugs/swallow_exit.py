"""A stage that swallows GeneratorExit and yields again."""


def stage():
    while True:
        try:
            yield "item"
        except GeneratorExit:
            print("ignoring close")


s = stage()
print(next(s))
try:
    s.close()
except RuntimeError as exc:
    print("caught:", exc)
