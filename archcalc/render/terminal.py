"""Where output meets the terminal: its width, whether to colour, and printing lines of
styled pieces. rich is imported only when colour is actually drawn."""
from __future__ import annotations

import io
import os
import re
import sys

# What must never reach a terminal or a file unescaped: C0 controls but tab and newline,
# DEL, C1 controls, zero-width and direction marks, line and paragraph separators, bidi
# embeddings, overrides and isolates ("Trojan Source"), invisible operators, BOM, lone
# surrogates and tag characters. Written as \uXXXX, which is also a valid JSON escape.
_UNSAFE = re.compile("\x1b\\[[0-9;]*m|[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f"
                     "\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff"
                     "\U000e0000-\U000e007f]")


def visible(text: str, colour: bool = False) -> str:
    """``text`` with every unsafe character (see _UNSAFE) written as a visible ``\\uXXXX``
    escape: the one mechanism by which archcalc's output (stdout, -o files, stderr) is made
    safe, whatever the renderer. ``colour``: keep SGR colour sequences (``ESC[…m``), which
    colour output is made of; the renderers' pieces are escaped before they are styled
    (``emit``), so only archcalc's own colours remain."""
    if text.isascii() and (text.isprintable() or text.replace("\n", "").replace("\t", "").isprintable()):
        return text  # ASCII without control characters but newline and tab: nothing to escape
    return _UNSAFE.sub(lambda found: found.group(0) if colour and len(found.group(0)) > 1
                       else _escape(found.group(0)[0]) + found.group(0)[1:], text)


def _escape(text: str) -> str:
    out = []
    for ch in text:
        code = ord(ch)
        if code > 0xFFFF:  # a surrogate pair, as JSON writes it
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out)


def console_width(width: int | None) -> int:
    """--width, else the terminal's, else COLUMNS, else 100; always clamped to
    [limits.MIN_WIDTH, limits.MAX_WIDTH], so COLUMNS=20000000 cannot cost gigabytes."""
    from ..limits import MAX_WIDTH, MIN_WIDTH, clamp_width, parse_bounded_int

    if width is not None:
        return clamp_width(width)
    if sys.stdout is not None and sys.stdout.isatty():
        try:
            columns = os.get_terminal_size(sys.stdout.fileno()).columns
            if columns >= MIN_WIDTH:  # a pseudo-terminal may report 0
                return clamp_width(columns)
        except (OSError, ValueError):
            pass
    text = os.environ.get("COLUMNS", "").strip()
    if text.isascii() and text.isdigit():
        columns = parse_bounded_int(text) or MAX_WIDTH  # more digits than 10^18: clamped too
        if columns >= MIN_WIDTH:
            return clamp_width(columns)
    return 100


def table_width(width: int | None) -> int | None:
    """The width a table must fit: --width, else the terminal's; None when the output is piped
    (a file or another program is not a screen: nothing is cut or left out there)."""
    if width is not None:
        return width
    if sys.stdout.isatty():
        return console_width(None)
    return None


def use_colour() -> bool:
    """Colour only on a terminal that can show it, never with NO_COLOR set (no-color.org)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def make_console(width: int | None, piped_unlimited: bool = False):
    """A rich console that renders to a string, for views drawn with rich's own widgets.
    ``piped_unlimited``: piped output is not narrowed (tables take their natural width)."""
    from rich.console import Console

    colour = use_colour()
    if piped_unlimited and table_width(width) is None:
        width = 1000
    return Console(file=io.StringIO(), width=console_width(width), force_terminal=colour,
                   no_color=not colour, highlight=False, emoji=False, soft_wrap=False)


def emit(lines, colour: bool | None = None) -> str:
    """Lines of (text, style) pieces as plain text (trailing blanks stripped), or, when
    ``colour`` (default: ``use_colour()``), styled by rich. Lines are never wrapped."""
    if colour is None:
        colour = use_colour()
    lines = [[(visible(text), style) for text, style in line] for line in lines]
    if not colour:
        return "".join("".join(text for text, _ in line).rstrip() + "\n" for line in lines)
    from rich.console import Console
    from rich.text import Text

    console = Console(file=io.StringIO(), force_terminal=True, highlight=False, emoji=False,
                      width=10_000)
    for line in lines:
        text = Text()
        for piece, style in line:
            text.append(piece, style=style)
        text.rstrip()
        console.print(text, soft_wrap=True)
    return console.file.getvalue()
