"""What keeps a suspended generator alive when the program ends.

A generator still suspended at exit is a leak only if something still
refers to it: its ``finally`` blocks are then left to interpreter shutdown,
which runs them in no particular order, when module globals may already be
gone.  Once, at the end of the recording, :func:`describe` asks the garbage
collector for the referrers of those objects and names each in a few
words, the way a person would look for the leak:

* ``{"type": "list", "in": "__main__.kept"}``: a list bound to a module
  global (a dict gives its key too: ``__main__.table['c']``);
* ``{"type": "generator", "obj": 4}``: another recorded object (its frame
  holds it in a local or is suspended in ``yield from``/``await`` on it);
* ``{"type": "frame", "in": "open_all (leaked.py:17)"}``: a frame object,
  named by its function and line;
* ``{"type": "dict", "owner": "Loop", "key": "_gen"}``: a container inside
  another object (its ``__dict__``, or a dict it keeps in an attribute);
* ``{"type": "Reader"}``: anything else, by its type only.

Nothing here runs code of the program: no ``repr``, no ``__eq__``, no
attribute lookup a class could override (dicts are searched by identity
with ``dict.items``, module dicts found through ``sys.modules`` and
``ModuleType``'s own ``__dict__`` descriptor).  Two scans of the heap
(``gc.get_referrers``) however many objects there are; at most
``OBJECTS`` objects and ``PER_OBJECT`` holders each.
"""

from __future__ import annotations

import gc
import os
import sys
import types

from ..isolation import isolated

gc = isolated(gc)

OBJECTS = 100      # suspended objects described (the first, by id)
PER_OBJECT = 3     # holders named per object
KEY_CHARS = 40     # a dict key longer than this is not shown

_MODULE_DICT = vars(types.ModuleType)["__dict__"]   # its own descriptor: no __getattr__ of a module subclass
_CONTAINERS = (list, dict, set, frozenset, tuple)


def _module_dicts() -> dict:
    """id(module.__dict__) -> module name, for the modules in sys.modules."""
    found = {}
    for name, module in list(dict.items(sys.modules)):
        if issubclass(type(module), types.ModuleType) and type(name) is str:
            try:
                found[id(_MODULE_DICT.__get__(module))] = name
            except Exception:  # a module being torn down
                continue
    return found


def _key_in(d: dict, target) -> str | None:
    """The key under which ``d`` holds ``target`` (by identity), as text."""
    for key, value in list(dict.items(d)):   # (a snapshot: another thread may change it)
        if value is target:
            if type(key) is str and len(key) <= KEY_CHARS:
                return key
            return "…"
    return None


def _frame_text(frame) -> str:
    code = frame.f_code
    return "%s (%s:%s)" % (code.co_name, os.path.basename(code.co_filename), frame.f_lineno)


def _excluded(r, skip: set, args: list) -> bool:
    """Our own references: the argument tuples of our calls, our lists and frames."""
    if id(r) in skip:
        return True
    # (its items through the collector: a tuple another thread is still
    # filling may have empty slots, which iterating it would not survive)
    if type(r) is tuple and len(r) == len(args) and \
            {id(x) for x in gc.get_referents(r)} == {id(a) for a in args}:
        return True
    if type(r) is types.FrameType:
        filename = r.f_code.co_filename
        return filename.startswith(_OWN_DIR)
    return False


_OWN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def describe(objects: list, recorded: dict) -> list:
    """For each object of ``objects`` (alive, suspended), up to PER_OBJECT
    holders (dicts, see the module docstring).  ``recorded``: id(object) ->
    its trace id, for every recorded object still alive."""
    given, objects = objects, objects[:OBJECTS]
    if not objects:
        return []
    wanted = {id(o): i for i, o in enumerate(objects)}
    held: list = [[] for _ in objects]
    skip = {id(given), id(objects), id(held), id(wanted), id(recorded)}
    modules = _module_dicts()
    skip.add(id(modules))
    referrers = gc.get_referrers(*objects)
    skip.add(id(referrers))
    second: list = []   # (container, index of the object it holds)
    for r in referrers:
        if _excluded(r, skip, objects):
            continue
        for target in gc.get_referents(r):
            i = wanted.get(id(target))
            if i is None or len(held[i]) >= PER_OBJECT or target is not objects[i]:
                continue
            if id(r) in modules:
                key = _key_in(r, target)
                held[i].append({"type": "module global", "in": modules[id(r)] + ("." + key if key else "")})
            elif id(r) in recorded:
                held[i].append({"type": type(r).__name__, "obj": recorded[id(r)]})
            elif type(r) is types.FrameType:
                held[i].append({"type": "frame", "in": _frame_text(r)})
            else:
                entry = {"type": type(r).__name__}
                held[i].append(entry)
                if issubclass(type(r), _CONTAINERS):
                    key = _key_in(r, target) if issubclass(type(r), dict) else None
                    second.append((r, entry, key))
    if second:
        containers = [c for c, _, _ in second]
        where: dict = {}   # id(container) -> its name
        skip.update((id(second), id(containers), id(where)))
        outer = gc.get_referrers(*containers)
        skip.add(id(outer))
        by_id = {id(c): c for c in containers}
        owner: dict = {}   # id(container) -> the type name of the object it is in
        skip.add(id(owner))
        for r in outer:
            if _excluded(r, skip, containers):
                continue
            if id(r) in modules:
                for key, value in list(dict.items(r)):
                    if id(value) in by_id and by_id[id(value)] is value and id(value) not in where \
                            and type(key) is str and len(key) <= KEY_CHARS:
                        where[id(value)] = modules[id(r)] + "." + key
            elif not issubclass(type(r), _CONTAINERS + (types.FrameType,)) and id(r) not in by_id:
                # an instance: its __dict__, or a container it keeps in an attribute
                for value in gc.get_referents(r):
                    if id(value) in by_id and by_id[id(value)] is value:
                        owner.setdefault(id(value), type(r).__name__)
        for container, entry, key in second:
            name = where.get(id(container))
            if name is not None:
                entry["in"] = name + ("[%r]" % key if key and key != "…" else "")
            elif id(container) in owner:
                entry["owner"] = owner[id(container)]
                if key and key != "…":
                    entry["key"] = key
    return held
