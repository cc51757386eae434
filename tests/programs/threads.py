"""Generators in several threads: each thread's generators are recorded."""
import threading


def counter(name, n):
    for i in range(n):
        yield "%s-%d" % (name, i)


def work(name):
    print(name, list(counter(name, 3)) == ["%s-%d" % (name, i) for i in range(3)])


threads = [threading.Thread(target=work, args=("t%d" % i,), name="worker-%d" % i) for i in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
work("main")
