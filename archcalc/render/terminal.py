"""Where output meets the terminal: its width, whether to colour, and printing lines of
styled pieces. rich is imported only when colour is actually drawn."""
from __future__ import annotations

import io
import os
import sys


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
