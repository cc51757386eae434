"""The recorder: interpreter hooks in, trace records out.

::

    source (settrace.py | monitoring.py) ──► machine.py ──► sink.py ──► tracer.traceio.TraceWriter
                      │                         │
         toolid.py (sys.monitoring id,     actors.py (ids, labels)
         3.13's close hook)                 guards.py (SIGINT, gc, fork)

:class:`tracer.record.recorder.Recorder` puts them together;
:mod:`tracer.record.backends` chooses the source.  Helpers used while
recording (framepeek, codeinfo, codecache, awaitables, saferepr, filters)
live here too: every file of this package runs only inside a hook or while
starting and stopping one.  Importing it installs nothing.
"""
