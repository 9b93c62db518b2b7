"""archcalc's limits, in one place: what a spec and the command line may hold, so that a
hostile or unlucky input is refused quickly, located, instead of hanging or exhausting memory.

Every bound is far beyond any real network (the largest built-in spec is a few kilobytes,
its largest number below 10^12). README.md ("Promises and limits") states them for users.

How to use them (new code gets the bounds by going through these mechanisms):

* Spec integers: the YAML reader (readers/yaml_.py) refuses any integer literal beyond ``MAX_INTEGER``
  or longer than ``MAX_NUMBER_TEXT`` characters, and any NaN or infinity, as located
  diagnostics; the field types of layers/base.py (``POSITIVE_INT``, ``PAIR``, ...) and the
  expression reader (compiler.py) apply ``check_integer`` to every value they accept, and the
  engine refuses any computed dimension beyond ``MAX_INTEGER``. A new field type should
  build on those types or call ``check_integer``.
* Command-line integers: ``parse_bounded_int`` (and app.parse_shape, engine.parse_count).
* Files: ``max_spec_bytes()`` is checked before reading (readers/files.py), overridable with
  the environment variable ``ARCHCALC_MAX_BYTES``.
* Output width: ``clamp_width`` (render/terminal.console_width uses it).
* Output size: ``MAX_VIEW_ROWS``, checked by compiler.view_limit(analysis, what) before any
  per-layer view or export is built (cli.check_view_size for commands; export_pytorch checks it itself).
"""
from __future__ import annotations

import os

# Any integer a spec or the command line holds, and any dimension the engine computes:
# |n| <= MAX_INTEGER (10^18, about 2^60). Products of a few such numbers stay exact and
# still convert to floats for percentages and bars.
MAX_INTEGER = 10**18
# An integer literal longer than this is refused before it is converted (a long `0x…` or
# base-60 literal would otherwise cost quadratic time).
MAX_NUMBER_TEXT = 64
# Bytes of a spec file or of standard input; checked before reading, overridable.
MAX_SPEC_BYTES = 8 * 1024 * 1024
MAX_BYTES_VARIABLE = "ARCHCALC_MAX_BYTES"
# YAML nodes of a document with aliases expanded, and YAML nesting depth. A spec of 100,000
# literal layers holds 400,000 to 1,000,000 nodes (a conv with three settings is 9); within
# the 8 MiB of a file, the largest accepted spec takes about half a gigabyte of memory.
MAX_NODES = 1_000_000
MAX_NESTING = 200
# Leaf layers plus scopes a network may expand to, and how deep blocks may call blocks.
MAX_LEAVES = 1_000_000
MAX_BLOCK_DEPTH = 64
# `${...}` expressions: characters, and nesting of parentheses and unary minus signs.
MAX_EXPRESSION_TEXT = 1_000
MAX_EXPRESSION_DEPTH = 32
# Nodes of an ONNX model, counted before its graph is followed.
MAX_ONNX_NODES = 200_000
# Layers that a view printing a row (or writing code) per layer may hold: the table,
# Markdown, HTML, --chart, explain, diff and export. Past it they refuse at once, located at
# the repeat that multiplies (a 70-byte spec would otherwise print 188 MB of HTML); JSON and
# CSV stream every layer, up to MAX_LEAVES.
MAX_VIEW_ROWS = 50_000
# Output width in columns (--width, COLUMNS, the terminal's): wider is clamped.
MIN_WIDTH = 40
MAX_WIDTH = 1_000


def max_spec_bytes() -> int:
    """MAX_SPEC_BYTES, or the value of ARCHCALC_MAX_BYTES when it is a positive integer."""
    text = os.environ.get(MAX_BYTES_VARIABLE, "").strip()
    if text.isascii() and text.isdigit() and 0 < len(text) <= 18:
        return int(text)
    return MAX_SPEC_BYTES


def within(n: int) -> bool:
    return -MAX_INTEGER <= n <= MAX_INTEGER


def check_integer(n: int) -> int:
    """``n`` itself, or OverflowError when it lies beyond MAX_INTEGER."""
    if not -MAX_INTEGER <= n <= MAX_INTEGER:
        raise OverflowError("beyond archcalc's limit of 10^18")
    return n


def parse_bounded_int(text: str) -> int | None:
    """ASCII decimal digits only (no '٣', no '+', no '_'), at most MAX_INTEGER; None otherwise."""
    text = text.strip()
    if not text or len(text) > 19 or not (text.isascii() and text.isdigit()):
        return None
    n = int(text)
    return n if n <= MAX_INTEGER else None


def clamp_width(width: int) -> int:
    return max(MIN_WIDTH, min(MAX_WIDTH, width))
