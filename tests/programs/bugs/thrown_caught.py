"""throw() into a generator that catches the exception and goes on."""


def worker():
    while True:
        try:
            job = yield
            print("job", job)
        except ValueError:
            print("ignored a ValueError")


w = worker()
next(w)
w.send(1)
w.throw(ValueError("stop"))
w.send(2)
