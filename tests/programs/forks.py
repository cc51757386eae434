"""Forks a child that runs generators and exits through sys.exit."""
import os
import sys


def numbers(tag):
    for i in range(3):
        yield "%s-%d" % (tag, i)


print(list(numbers("parent-before")), flush=True)
pid = os.fork()
if pid == 0:
    print(list(numbers("child")), flush=True)
    sys.exit(7)
_, status = os.waitpid(pid, 0)
print("child exit", os.waitstatus_to_exitcode(status), flush=True)
print(list(numbers("parent-after")), flush=True)
