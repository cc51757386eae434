"""Runs generators until killed or interrupted."""
import time


def ticker():
    n = 0
    while True:
        n = (yield n) or n + 1


t = ticker()
next(t)
print("running", flush=True)
i = 0
while True:
    t.send(i)
    i += 1
    if i % 1000 == 0:
        time.sleep(0.001)
