"""throw(), close() and finally: how a suspended generator is interrupted.

* throw(exc) resumes the generator by raising ``exc`` at its yield; the
  generator may catch it and carry on.
* close() raises GeneratorExit at the yield; ``finally`` blocks run and the
  generator must not yield again.
* A generator that is dropped while suspended is closed by the garbage
  collector the same way.
"""


def worker(name):
    """Yield a running count; a ValueError thrown in resets it."""
    count = 0
    try:
        while True:
            try:
                received = yield count
                count += received or 1
            except ValueError as exc:
                print(name, "reset because of", exc)
                count = 0
    finally:
        print(name, "cleaning up")


def main():
    w = worker("w1")
    next(w)              # start: runs to the first yield
    w.send(5)            # count = 5
    w.throw(ValueError("bad"))   # caught inside: count = 0
    w.send(2)
    w.close()            # GeneratorExit at the yield: the finally block runs

    lost = worker("w2")
    next(lost)
    del lost             # the garbage collector closes it

    try:
        g = worker("w3")
        next(g)
        g.throw(KeyError("not handled"))   # not caught: the generator dies
    except KeyError as exc:
        print("KeyError escaped:", exc)


if __name__ == "__main__":
    main()
