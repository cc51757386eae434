"""What never reaches the trace: ``--redact REGEX`` and the names redacted
by default (:data:`tracer.defaults.REDACT_NAMES`).

Two rules, applied where values become text (:class:`tracer.record.saferepr.SafeRepr`,
the one place every recorded value passes), before the text is cut to
``--repr-limit`` (a prefix of a secret is still a secret):

* a value whose repr matches one of the ``--redact`` patterns is written
  as ``<redacted>``, whole;
* in a value's repr, what follows a *name* that matches (a dict key, a
  keyword field such as ``User(password='...')``, ``token=...`` in a
  string) becomes ``<redacted>``, the rest of the value stays readable.
  Names match the default list (unless turned off) and the ``--redact``
  patterns.  The program's arguments get the same: ``--password=x`` and
  ``--token x`` keep the option and lose its value.
"""
from __future__ import annotations

import re

from .defaults import REDACT_NAMES

REDACTED = "<redacted>"

# a value after "name=" or "name:": a quoted string (with a b/r/f prefix,
# escapes, or cut short), or a bare word up to the next separator
_VALUE = r"""(?:[bBrRuUfF]{0,2}(?:'(?:[^'\\]|\\.)*(?:'|$)|"(?:[^"\\]|\\.)*(?:"|$))|[^\s,;&)}\]]+)"""


class Redactor:
    """Compiled once per recording; ``text(s)`` is the only entry point the
    recorder needs, ``argv(list)`` the one the header needs."""

    def __init__(self, patterns: tuple | list = (), default_names: bool = True) -> None:
        self.patterns = tuple(patterns)
        for p in self.patterns:
            re.compile(p)   # re.error: the command reports it before anything runs
        self.values = re.compile("|".join("(?:%s)" % p for p in self.patterns)) if self.patterns else None
        defaults = [re.escape(n.lower()) for n in (REDACT_NAMES if default_names else ())]
        self.pairs: re.Pattern | None = None
        self._quick: re.Pattern | None = None
        if defaults:
            # a name is a word (letters, digits, _ and -) that contains one of
            # the names: db_password, X-Auth-Token, apiKey.  (A --redact
            # pattern found in a repr takes the whole value, so only the
            # default names need this.)
            word = r"[A-Za-z0-9_\-]*?(?:%s)[A-Za-z0-9_\-]*" % "|".join(defaults)
            self.pairs = re.compile(r"""(?P<key>(?<![A-Za-z0-9_])[bB]?['"]?%s['"]?\s*[:=]\s*)%s""" % (word, _VALUE),
                                    re.IGNORECASE)
            self._quick = re.compile("|".join(defaults))   # on the lowered text: far faster than IGNORECASE
        names = defaults + ["(?:%s)" % p for p in self.patterns]
        self._name: re.Pattern | None = re.compile("|".join(names), re.IGNORECASE) if names else None
        self.active = self.values is not None or self.pairs is not None

    def whole(self, text: str) -> bool:
        """True if ``text`` matches a --redact pattern (the value goes whole)."""
        return self.values is not None and self.values.search(text) is not None

    def text(self, text: str) -> str:
        """``text`` with what must not be seen replaced."""
        if self.values is not None and self.values.search(text):
            return REDACTED
        if self.pairs is not None and ("=" in text or ":" in text) and self._quick.search(text.lower()):  # type: ignore[union-attr]
            return self.pairs.sub(lambda m: m.group("key") + REDACTED, text)
        return text

    def name(self, name: str) -> bool:
        """True if a value called ``name`` (a dict key, a local) is redacted."""
        return self._name is not None and self._name.search(name) is not None

    def argv(self, argv: list) -> list:
        """The program's arguments as the header records them."""
        out = []
        hide_next = False
        for arg in argv:
            if hide_next:
                out.append(REDACTED)
                hide_next = False
                continue
            if arg.startswith("-") and self._name is not None:
                key, eq, _ = arg.partition("=")
                if self._name.search(key.lstrip("-")):   # --password=x, --token x: the option stays
                    if eq:
                        out.append(key + "=" + REDACTED)
                    else:
                        out.append(arg)
                        hide_next = True
                    continue
            out.append(self.text(arg))
        return out


NONE = Redactor((), default_names=False)
