"""Writing to a stream the traced program may have closed or replaced."""
from __future__ import annotations


def say(stream, text: str) -> None:
    """Write ``text`` and flush; say nothing if the stream is gone (the
    program closed stderr, replaced it by something that raises, ...)."""
    try:
        stream.write(text)
        stream.flush()
    except Exception:
        pass
