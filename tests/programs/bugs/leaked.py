"""Generators left suspended: one kept in a list, one in a dict."""


def reader(name):
    yield name + ":header"
    yield name + ":body"


kept = []
table = {}


def open_all():
    for name in ("a", "b"):
        r = reader(name)
        next(r)
        kept.append(r)
    t = reader("c")
    next(t)
    table["c"] = t


open_all()
print(len(kept), len(table))
