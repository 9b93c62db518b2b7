"""Text inside SVG and HTML: every piece of user text (names, titles, messages, source lines)
passes through ``text`` (element content) or ``attr`` (attribute values) here, and nowhere
else is markup built from user text.

Both escape XML's special characters and drop what XML 1.0 cannot carry or what would make
the shown text lie: C0/C1 control characters (tab and newline become spaces), bidirectional
overrides and isolates (the "Trojan Source" characters), lone surrogates and the
non-characters U+FFFE/U+FFFF.
"""
from __future__ import annotations

import re

_DROP = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069"
                   "\ud800-\udfff\ufffe\uffff]")
_SPACE = re.compile("[\t\n\r]")


def clean(value) -> str:
    """Printable text: control and direction-changing characters removed."""
    text = str(value)
    if text.isascii() and text.isprintable():
        return text
    return _DROP.sub("", _SPACE.sub(" ", text))


def clean_block(value) -> str:
    """As ``clean``, but keeping newlines (source excerpts shown in <pre>)."""
    return "\n".join(clean(line) for line in str(value).split("\n"))


def text(value) -> str:
    """Element content."""
    return clean(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def block(value) -> str:
    """Element content keeping newlines."""
    return clean_block(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def attr(value) -> str:
    """An attribute value, for use inside double quotes."""
    return text(value).replace('"', "&quot;").replace("'", "&#39;")
