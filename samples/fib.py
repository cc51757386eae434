"""A generator producing the Fibonacci sequence up to a bound.

Each ``yield`` suspends fib() and hands one number to the for loop; the loop
resumes it with next() to get the following one.  When the numbers pass the
bound, fib() returns and the loop ends.

    cotrace samples/fib.py 100
"""
import sys


def fib(bound):
    a, b = 0, 1
    while a <= bound:
        yield a          # suspend with the current number
        a, b = b, a + b
    return "past %d" % bound


if __name__ == "__main__":
    bound = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    print(" ".join(str(n) for n in fib(bound)))
