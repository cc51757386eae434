"""``python -m tracer`` is the ``cotrace`` command."""
from tracer.cli import main

if __name__ == "__main__":
    main()
