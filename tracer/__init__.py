"""cotrace: record and draw how control passes between generators and coroutines.

Distributed as ``cotrace``; the import package is ``tracer``.  Importing it has
no side effects: nothing is traced until :class:`tracer.record.Recorder`
is started, usually by the ``cotrace`` command.
"""
import os as _os

__version__ = "0.3.1"
# the directory of this package: "cotrace's own code" (never recorded, never
# shown in a traceback; a Ctrl-C inside it is deferred to the program)
PACKAGE_DIR = _os.path.dirname(_os.path.abspath(__file__))
