"""send/yield ping-pong between a producer loop and a consumer generator."""
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000


def consumer():
    total = 0
    while True:
        total += yield total


c = consumer()
next(c)
for i in range(N):
    c.send(i)
print(c.send(0))
