"""The console script (`archcalc`, `python -m archcalc`): a fast path (archcalc/app.py:
`show … --format json`, `diff A B`, `export SPEC`) when one applies, else the click command line (archcalc/cli.py). It sits above both, so that
neither imports the other back.
"""
from __future__ import annotations

import os
import sys

from .app import (
    EXIT_USAGE,
    WRITE_ERRORS,
    fast_diff,
    fast_export,
    fast_show,
    output_failed,
)

# How output written in Unicode reads in ASCII (PYTHONIOENCODING=ascii, LANG=C on old systems).
_ASCII = {"×": "x", "─": "-", "━": "-", "│": "|", "┃": "|", "→": "->", "←": "<-", "…": "...",
          "⌊": "floor(", "⌋": ")", "⌈": "ceil(", "⌉": ")", "·": "*", "−": "-", "≤": "<=", "≥": ">=",
          "—": "--", "–": "-", "Δ": "d", "≈": "~", "√": "sqrt", "²": "^2", "≠": "!=",
          "▏": "#", "▎": "#", "▍": "#", "▌": "#", "▋": "#", "▊": "#", "▉": "#", "█": "#",
          "‘": "'", "’": "'", "“": '"', "”": '"', "\ufffd": "?"}


def _ascii_notation(error: UnicodeEncodeError):
    """Codec error handler: archcalc's Unicode notation in ASCII, anything else as \\uXXXX."""
    pieces = []
    for c in error.object[error.start:error.end]:
        pieces.append(_ASCII.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else
                                        f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}"))
    return "".join(pieces), error.end


def _ascii_safe_streams():
    """Where stdout or stderr cannot encode Unicode, write the ASCII notation instead of
    raising UnicodeEncodeError (every writer, click's included, goes through the streams)."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("_", "-")
        if encoding and encoding not in ("utf-8", "utf8") and hasattr(stream, "reconfigure"):
            import codecs

            codecs.register_error("archcalc-ascii", _ascii_notation)
            try:
                stream.reconfigure(errors="archcalc-ascii")
            except (ValueError, OSError):  # a closed or detached stream
                pass


_MAIN_PID = None


def _interrupted(signum, frame):
    """Ctrl-C: one line and exit 130, at once, from wherever the program is (no traceback,
    no click "Aborted!", no multiprocessing worker noise: a worker leaves silently)."""
    if os.getpid() == _MAIN_PID:
        try:
            os.write(2, b"archcalc: interrupted\n")
        except OSError:
            pass
    os._exit(130)


def main():
    """The console script: a fast path when one applies, else the click command line."""
    global _MAIN_PID
    import signal

    _MAIN_PID = os.getpid()
    signal.signal(signal.SIGINT, _interrupted)
    if sys.stdout is None:  # started with standard output closed (`>&-`)
        if sys.stderr is not None:
            sys.stderr.write("archcalc: error: standard output is closed\n")
        sys.exit(EXIT_USAGE)
    _ascii_safe_streams()
    try:
        code = None
        for fast in (fast_show, fast_diff, fast_export):
            code = fast(sys.argv[1:])
            if code is not None:
                break
    except BrokenPipeError as exc:
        code = output_failed(exc)
    except OSError as exc:
        if exc.errno not in WRITE_ERRORS:
            code = None
        else:
            code = output_failed(exc)
    except Exception:  # noqa: BLE001 - let the full CLI report it the one, tested way
        code = None
    if code is not None:
        sys.exit(code)
    from .cli import run

    run()
