"""cotrace: record and draw how control passes between generators and coroutines.

Distributed as ``cotrace``; the import package is ``tracer``.  Importing it has
no side effects: nothing is traced until :class:`tracer.recorder.Recorder`
is started, usually by the ``cotrace`` command.
"""
__version__ = "0.3.0"
