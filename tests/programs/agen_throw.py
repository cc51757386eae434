"""An async generator that catches a thrown exception and yields again at the same yield."""
async def ag():
    while True:
        try:
            yield "tick"
        except ValueError:
            print("caught")
def drive(aw):
    try:
        aw.send(None)
    except StopIteration as e:
        return e.value
a = ag()
print(drive(a.asend(None)))
print(drive(a.athrow(ValueError)))
print(drive(a.asend(None)))
print(drive(a.aclose()))
