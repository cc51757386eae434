"""Defaults shared by the command line and the models, in a module that
imports nothing (the command must start fast: a recording needs neither
the models nor the renderers, which are imported when drawing)."""

DEFAULT_MAX_MESSAGES = 400   # messages drawn in a sequence diagram before the rest are counted
