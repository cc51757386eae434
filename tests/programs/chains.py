"""throw() and close() passed down a yield-from chain, and finalization."""
import gc


def inner():
    try:
        x = yield "i1"
        yield x
    except ValueError:
        yield "caught"
    return "inner done"


def outer():
    r = yield from inner()
    yield r


def plain():
    yield 1
    yield 2


def throw_through():
    g = outer()
    next(g)
    print(g.throw(ValueError("v")))
    g.close()


def close_through():
    g = outer()
    next(g)
    g.close()


def gc_through():
    g = outer()
    next(g)
    del g
    gc.collect()


def close_plain():
    g = plain()
    next(g)
    g.close()          # 3.13: finishes without entering the frame
    print("closed", g.gi_frame)


def gc_plain():
    g = plain()
    next(g)
    del g              # 3.13: finalized without entering the frame


def throw_unstarted():
    g = plain()
    try:
        g.throw(KeyError("early"))
    except KeyError:
        print("early throw escaped")


def outer_plain():
    yield from plain()


def close_through_plain():
    g = outer_plain()
    next(g)
    g.close()          # 3.13: plain() is closed in C, outer_plain() re-entered


def gc_through_plain():
    g = outer_plain()
    next(g)
    del g


def closer_alias():
    g = plain()
    next(g)
    shut = g.close
    shut()             # the bound method, called under another name


for case in (throw_through, close_through, gc_through, close_plain, gc_plain, throw_unstarted,
             close_through_plain, gc_through_plain, closer_alias):
    case()
