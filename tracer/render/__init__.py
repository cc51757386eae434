"""Renderers: a recorded trace in, diagram files out.

One registry (:data:`FORMATS`) of small classes, one per output format.
Every format draws the three views (``sequence``, ``states``, ``flow``)
from the same models (:func:`tracer.model.build`), so they cannot drift
apart.  Files are written atomically beside the trace:
``DIR/<stem>.<view>.<ext>``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import importlib
import typing

from ..defaults import DEFAULT_MAX_MESSAGES
from ..traceio import TRACE_SUFFIXES

if typing.TYPE_CHECKING:
    from .. import model as m
    from . import scene

# The drawing modules (and the models) are imported when something is drawn:
# the command imports this registry to check formats before recording, and
# a recording must start fast.


def _mod(name: str):
    return importlib.import_module("." + name, __name__)

VIEWS = ("sequence", "states", "flow")
TASK_VIEW = "tasks"     # asyncio programs only, in the formats that list it


class RenderError(Exception):
    """A format cannot be rendered here (the message says how to fix it)."""


class Format:
    name = ""
    ext = ""
    views = VIEWS + (TASK_VIEW,)
    needs = "nothing beyond cotrace's own dependencies"
    what = ""

    def problem(self) -> str | None:
        """Why this format cannot be rendered on this machine, or None."""
        return None

    def render(self, models: m.Models, view: str) -> bytes:
        raise NotImplementedError


FORMATS: dict = {}


def register(cls):
    FORMATS[cls.name] = cls()
    return cls


def _scene(models: m.Models, view: str) -> scene.Scene:
    """The laid-out picture of the sequence or task view (made once per trace)."""
    cache = models.__dict__.setdefault("_scenes", {})
    if view not in cache:
        if view == "sequence":
            cache[view] = _mod("scene").sequence(models.sequence, models.title)
        else:
            assert models.tasks is not None  # render_trace draws the task view only then
            cache[view] = _mod("taskview").tasks_scene(models.tasks, models.title)
    return cache[view]


_SCENE_VIEWS = ("sequence", TASK_VIEW)


def _graph_dot(models: m.Models, view: str, **fonts) -> str:
    graphs = _mod("graphs")
    write = graphs.states_dot if view == "states" else graphs.flow_dot
    return write(getattr(models, view), models.title, **fonts)


@register
class Svg(Format):
    name, ext = "svg", "svg"
    what = "SVG pictures; the sequence diagram is drawn by cotrace, the graphs by Graphviz"
    needs = "nothing extra: uses the system Graphviz if installed, else the bundled WebAssembly Graphviz"

    def render(self, models, view):
        if view in _SCENE_VIEWS:
            return _mod("draw").to_svg(_scene(models, view)).encode("utf-8")
        gv = _mod("gv")
        if gv.system_dot():
            return gv.svg(_graph_dot(models, view))
        # the WebAssembly Graphviz knows no monospace font's widths but Courier's
        graphs = _mod("graphs")
        return gv.wasm_svg(_graph_dot(models, view, mono=gv.WASM_MONO), rename={gv.WASM_MONO: graphs.MONO_FONT})


class _Raster(Format):
    needs = "Graphviz's dot program (system package graphviz)"

    def problem(self):
        return _mod("gv").missing(self.name)

    def render(self, models, view):
        if view in _SCENE_VIEWS:
            return _mod("gv").run(_mod("draw").to_dot(_scene(models, view)), self.name, pinned=True)
        return _mod("gv").run(_graph_dot(models, view), self.name)


@register
class Png(_Raster):
    name, ext = "png", "png"
    what = "PNG images (96 dpi)"
    needs = "Graphviz's dot program (system package graphviz), or the resvg-py wheel"

    def render(self, models, view):
        gv = _mod("gv")
        if gv.system_dot():
            return super().render(models, view)
        return gv.png_of_svg(FORMATS["svg"].render(models, view))   # (without Graphviz: the SVG, drawn by resvg)


@register
class Pdf(_Raster):
    name, ext = "pdf", "pdf"
    what = "PDF documents"


@register
class Dot(Format):
    name, ext = "dot", "dot"
    what = "Graphviz sources (the sequence diagram with pinned positions: neato -n2)"

    def render(self, models, view):
        if view in _SCENE_VIEWS:
            return _mod("draw").to_dot(_scene(models, view)).encode("utf-8")
        return _graph_dot(models, view).encode("utf-8")


class _Text(Format):
    """A format whose views are texts, one writer per view."""
    writers: dict = {}

    @property
    def views(self):  # type: ignore[override]
        return tuple(self.writers)

    def render(self, models, view):
        module, function = self.writers[view].split(".")  # "module.function" of this package
        return getattr(_mod(module), function)(getattr(models, view), models.title).encode("utf-8")


@register
class Mermaid(_Text):
    name, ext = "mermaid", "mmd"
    what = "Mermaid sources (sequenceDiagram, stateDiagram-v2, flowchart) for GitHub markdown"
    writers = {"sequence": "textual.mermaid_sequence", "states": "textual.mermaid_states",
               "flow": "textual.mermaid_flow"}


@register
class PlantUml(_Text):
    name, ext = "plantuml", "puml"
    what = "PlantUML sources (sequence, state and component diagrams)"
    writers = {"sequence": "textual.plantuml_sequence", "states": "textual.plantuml_states",
               "flow": "textual.plantuml_flow"}


@register
class Txt(_Text):
    name, ext = "txt", "txt"
    what = "plain text for a terminal: numbered conversation, state tables, flow list"
    writers = {"sequence": "textual.text_sequence", "states": "textual.text_states", "flow": "textual.text_flow",
               TASK_VIEW: "taskview.tasks_text"}


def parse_formats(values) -> list:
    """``-f svg -f png,pdf`` -> ["svg", "png", "pdf"]; unknown names raise
    RenderError listing the valid ones."""
    names: list = []
    for value in values:
        for name in value.split(","):
            name = name.strip().lower()
            if not name:
                continue
            if name not in FORMATS:
                raise RenderError("unknown format %r; valid formats: %s" % (name, ", ".join(FORMATS)))
            if name not in names:
                names.append(name)
    return names


def check(names: list) -> None:
    """Fail before any work if a format cannot be rendered here."""
    for name in names:
        problem = FORMATS[name].problem()
        if problem:
            raise RenderError(problem)


def stem_of(trace_path: str) -> str:
    base = os.path.basename(trace_path)
    for suffix in TRACE_SUFFIXES:
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base.rsplit(".", 1)[0]


@dataclass
class Result:
    outputs: list
    warnings: list
    messages: int
    folded: bool


def render_trace(trace_path: str, names: list, out_dir: str | None = None,
                 max_messages: int = DEFAULT_MAX_MESSAGES, fold: bool | None = None,
                 hide_loop: bool = False) -> Result:
    """Render every view of the trace in each format, beside the trace."""
    from .. import model as m
    models = m.build(trace_path, max_messages=max_messages, fold=fold, hide_loop=hide_loop)
    out_dir = out_dir or os.path.dirname(trace_path) or "."
    os.makedirs(out_dir, exist_ok=True)
    stem = stem_of(trace_path)
    outputs = []
    for name in names:
        fmt = FORMATS[name]
        for view in fmt.views:
            if view == TASK_VIEW and models.tasks is None:
                continue
            path = os.path.join(out_dir, "%s.%s.%s" % (stem, view, fmt.ext))
            write_atomic(path, fmt.render(models, view))
            outputs.append(path)
    return Result(outputs, models.warnings, models.sequence.total_messages, models.sequence.folded)


def _umask() -> int:
    """The process's umask (read by setting it and putting it back: POSIX has no call that only reads it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str, data: bytes) -> None:
    """All of ``data`` at ``path``, or nothing: a failed write leaves no partial file."""
    directory = os.path.dirname(path) or "."
    import tempfile  # here, not at the top: it costs ~10 ms of every recording's start-up (shutil, lzma)

    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # what open() would have made (mkstemp makes 0600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
