"""Caches keyed by code object, without hashing code objects.

Code objects hash by content (O(size), microseconds for a big function on
3.13), so these caches are keyed by ``id(code)``.  A weak reference to the
code object drops its entries when it dies, before its id can be reused,
and code compiled over and over (templates, ``exec``) does not pile up.
"""
from __future__ import annotations

import functools
import weakref

from ..isolation import isolated

# private copies: the program may patch these modules (see tracer.isolation)
weakref = isolated(weakref)
functools = isolated(functools)

_CACHES: list = []
_WATCHED: dict = {}


def _forget(key: int) -> None:
    _WATCHED.pop(key, None)
    for cache in list(_CACHES):
        cache.pop(key, None)


def track(table: dict) -> None:
    """Have ``table`` (keyed by ``id(code)``) forget dead code objects;
    callers use :func:`watch` on every code object they add."""
    _CACHES.append(table)


def untrack(table: dict) -> None:
    _CACHES[:] = [c for c in _CACHES if c is not table]


def watch(code) -> None:
    """Make sure every tracked table forgets ``code`` when it dies."""
    key = id(code)
    if key not in _WATCHED:
        _WATCHED[key] = weakref.ref(code, functools.partial(_forget_ref, key))


def _forget_ref(key: int, _ref) -> None:
    _forget(key)


def per_code(fn):
    """Cache ``fn(code)`` per code object."""
    cache: dict = {}
    _CACHES.append(cache)

    @functools.wraps(fn)
    def cached(code):
        try:
            return cache[id(code)]
        except KeyError:
            watch(code)
            value = cache[id(code)] = fn(code)
            return value

    return cached


def per_location(fn):
    """Cache ``fn(code, offset)`` per code object and offset."""
    cache: dict = {}   # id(code) -> {offset: value}
    _CACHES.append(cache)

    @functools.wraps(fn)
    def cached(code, offset):
        try:
            return cache[id(code)][offset]
        except KeyError:
            watch(code)
            value = cache.setdefault(id(code), {})[offset] = fn(code, offset)
            return value

    return cached
