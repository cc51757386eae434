"""close() reached three ways: through a call site that first closed something else, from C code, and not at all."""
import operator
def gen(tag):
    yield tag
    yield "second"
class R:
    def close(self):
        pass
def shutdown(x):
    x.close()
shutdown(R())
a = gen("a"); next(a)
shutdown(a)                      # same call site, now a generator
b = gen("b"); next(b)
for f in (print, b.close):       # call site first used for print
    f() if f is not print else None
c = gen("c"); next(c)
operator.methodcaller("close")(c)  # closed from C
d = gen("d"); next(d)
print("after closes")
next(d)
