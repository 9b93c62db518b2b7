"""Ignoring known, accepted warnings — narrowly, and never silently.

Three places say which warnings to ignore:

* the command line, `--ignore CODE` (repeatable) on `show` and `validate`: every warning of
  that code in the files checked;
* the spec's top level, `ignore: [CODE, ...]`: every warning of that code in this file;
* any layer entry, `ignore: CODE` or `ignore: [CODE, ...]`: the warnings of that layer or,
  on a composite or block call, of the layers inside it.

Only warnings can be ignored: an error means the figures are wrong. An ignored warning
leaves `diagnostics` (so it neither prints nor fails `--strict`) and is listed under
`ignored` in the JSON outputs with what ignored it. A spec's ignore that matches nothing is
itself reported (`unused-ignore`), so stale ignores do not pile up.
"""
from __future__ import annotations

from .diagnostics import CATALOGUE, WARNING, Mark, make


def check_code(code) -> str | None:
    """Why ``code`` cannot be ignored, or None when it can."""
    if not isinstance(code, str) or code not in CATALOGUE:
        from .vocabulary import _spelling

        close = _spelling(str(code), CATALOGUE)
        return f"{code!r} is not a diagnostic code" + (f"; did you mean {close!r}?" if close else
                                                       " (`archcalc explain CODE` lists them)")
    if CATALOGUE[code][0] != WARNING:
        return f"{code!r} is an error, and only warnings can be ignored: an error means the figures are wrong"
    return None


def parse(value, mark: Mark, item_marks, diagnostics: list, layer=None) -> tuple:
    """A spec's `ignore` value -> ((code, mark of the code), ...); problems become diagnostics."""
    from .readers.located import LList

    if isinstance(value, str):
        items, marks = [value], [mark]
    elif isinstance(value, LList):
        items, marks = list(value), list(item_marks)
    else:
        from .layers.base import describe_found

        diagnostics.append(make("wrong-type", f"`ignore` expects a warning code or a list of them, found "
                                f"{describe_found(value)}", mark, layer=layer,
                                hint="e.g. `ignore: [window-drops-input]`"))
        return ()
    codes = []
    for code, code_mark in zip(items, marks):
        problem = check_code(code)
        if problem is not None:
            diagnostics.append(make("bad-value", f"`ignore`: {problem}", code_mark, layer=layer))
        else:
            codes.append((code, code_mark))
    return tuple(codes)


def where(mark: Mark) -> str:
    return f"{mark.file}:{mark.line}:{mark.column}"


def apply(analysis, codes, by: str = "--ignore") -> None:
    """Move the analysis's warnings of ``codes`` to ``analysis.ignored`` (the command line's)."""
    codes = set(codes)
    if not codes:
        return
    kept = []
    for d in analysis.diagnostics:
        if d.severity == WARNING and d.code in codes:
            analysis.ignored.append((d, by))
        else:
            kept.append(d)
    analysis.diagnostics[:] = kept


def ignored_dicts(analysis) -> list[dict]:
    return [{**d.as_dict(), "ignored_by": by} for d, by in analysis.ignored]
