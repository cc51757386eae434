"""Producer/consumer with coroutines driven by send().

The consumer is a generator used as a coroutine: it is primed with
send(None), then receives numbers through ``n = yield wanted`` and answers
whether it still wants more.  It only wants 3, 4 and 5.

The producer is a generator too: for n = 5..1 it passes n to the consumer
with ``consumer.send(n)`` and yields the consumer's answer to main.  main
keeps pulling from the producer until the consumer says it has had enough.

Run it under cotrace to see who hands control to whom, with which value:

    cotrace samples/producer_consumer.py
"""


def consumer():
    """Accept numbers until it has had 3, 4 and 5; yield True while it wants more."""
    wanted = {3, 4, 5}
    received = []
    while True:
        n = yield bool(wanted)          # suspend here; send(n) resumes with n
        if n in wanted:
            wanted.discard(n)
            received.append(n)
        if not wanted:
            break
    yield False                         # no more, thank you
    return received


def producer(sink):
    """Send 5, 4, 3, 2, 1 to ``sink`` and yield each of its answers."""
    for n in range(5, 0, -1):
        more = sink.send(n)             # hand control to the consumer with n
        yield more                      # hand its answer up to main


def main():
    c = consumer()
    c.send(None)                        # prime: run to the first yield
    p = producer(c)
    for more in p:                      # next() on the producer each time
        print("consumer wants more:", more)
        if not more:
            break
    print("done")


if __name__ == "__main__":
    main()
