"""A project's own test suite, run by pytest from its directory (the
``suite`` part of bench/run.py: more-itertools' sdist, unpacked in
bench/.cache/): ``python suite.py DIR``.  Exits with pytest's status."""
import os
import sys

import pytest

here = os.path.abspath(sys.argv[1])
os.chdir(here)
sys.path.insert(0, here)
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "tests"]))
