"""Reporters for `archcalc validate`: diagnostics of many files, rendered four ways.

* ``pretty``   — ``file:line:col: severity[code] layer: message``, the source line with a
  caret under the column, and the hint; colour (rich) only when asked for, i.e. on a terminal.
* ``parsable`` — one line per problem, ``file:line:col: [severity] code message``, for editors
  and grep.
* ``github``   — GitHub Actions workflow commands (``::error file=…,line=…,col=…,title=code::…``)
  that become annotations on the pull request's diff.
* ``json``     — everything as data, per file, with the network's totals.

Each reporter is ``render(reports, summary, options) -> str``. Only ``pretty`` with colour
imports rich. User-controlled text (keys, names, source lines) is stripped of control
characters before it reaches a terminal, so a hostile spec cannot move the cursor.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from ..diagnostics import ERROR, Diagnostic

# Source lines longer than this are shown as a window around the column.
MAX_SNIPPET = 120


@dataclass
class FileReport:
    """What validating one path produced: its diagnostics, or why it could not be read."""

    file: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    source_text: str = ""
    unreadable: str | None = None  # set when the file could not be read at all (exit 2)
    name: str = ""
    totals: dict | None = None
    ignored: list = field(default_factory=list)  # diagnostic dicts with "ignored_by"

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity == ERROR)

    @property
    def warnings(self) -> int:
        return len(self.diagnostics) - self.errors

    @cached_property
    def _lines(self) -> list[str]:
        # YAML's own line breaks, so that line numbers from its marks find the right line
        # (str.splitlines would also split at form feeds and other separators YAML ignores).
        import re

        return re.split(r"\r\n|[\r\n\x85\u2028\u2029]", self.source_text)

    def source_line(self, number: int) -> str:
        return self._lines[number - 1] if 0 < number <= len(self._lines) else ""


@dataclass
class Summary:
    files: int = 0
    errors: int = 0
    warnings: int = 0
    unreadable: int = 0
    ignored: int = 0

    def line(self) -> str:
        text = (f"{self.files} file{_s(self.files)} checked: {self.errors} error{_s(self.errors)}, "
                f"{self.warnings} warning{_s(self.warnings)}")
        if self.ignored:
            text += f" ({self.ignored} ignored)"
        if self.unreadable:
            text += f", {self.unreadable} unreadable"
        return text

    def as_dict(self) -> dict:
        return {"files": self.files, "errors": self.errors, "warnings": self.warnings,
                "ignored": self.ignored, "unreadable": self.unreadable}


def summarise(reports) -> Summary:
    return Summary(files=len(reports), errors=sum(r.errors for r in reports),
                   warnings=sum(r.warnings for r in reports),
                   unreadable=sum(1 for r in reports if r.unreadable is not None),
                   ignored=sum(len(r.ignored) for r in reports))


def _s(n: int) -> str:
    return "" if n == 1 else "s"


# ------------------------------------------------------------------------- shared helpers
def clean(text: str) -> str:
    """Text safe for a terminal: control characters become visible escapes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _escape(c: str) -> str:
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _clean_keeping_columns(line: str) -> str:
    """A source line for display: one character per character, so the caret stays aligned."""
    if line.isprintable():
        return line
    return "".join(c if c.isprintable() or c == "\t" else "\ufffd" for c in line)


def headline(d: Diagnostic) -> str:
    """The message, led by the layer's name when the message does not already name it."""
    if d.layer and not d.message.startswith(d.layer + " ") and not d.message.startswith(d.layer + ":"):
        return f"{d.layer}: {d.message}"
    return d.message


def snippet(line: str, column: int) -> tuple[str, str]:
    """(source line, caret line) with the caret under ``column`` (1-based); long lines are cut
    to a window around the column, and tabs are echoed so the caret lines up."""
    line = _clean_keeping_columns(line.rstrip("\r\n"))
    col = max(column, 1) - 1
    prefix = ""
    if len(line) > MAX_SNIPPET:
        start = max(0, min(col - MAX_SNIPPET // 2, len(line) - MAX_SNIPPET))
        end = start + MAX_SNIPPET
        shown = line[start:end]
        prefix = "…" if start else ""
        line = prefix + shown + ("…" if end < len(line) else "")
        col = col - start + len(prefix)
    pad = "".join("\t" if c == "\t" else " " for c in line[:col])
    if col > len(line):
        pad += " " * (col - len(line))
    return line, pad + "^"


def _sorted(reports):
    return [(r, sorted(r.diagnostics, key=lambda d: (d.line, d.column))) for r in reports]


def _visible(diagnostics, options):
    if options.get("quiet"):
        shown = {ERROR} | ({"warning"} if options.get("strict") else set())
        return [d for d in diagnostics if d.severity in shown]
    return diagnostics


def _show_summary(summary: Summary, options) -> bool:
    return not options.get("quiet") or bool(summary.errors or summary.unreadable
                                            or (options.get("strict") and summary.warnings))


# ------------------------------------------------------------------------------ reporters
def render_pretty(reports, summary: Summary, options=None) -> str:
    options = options or {}
    lines: list[list[tuple[str, str | None]]] = []  # segments (text, style)
    for report, diagnostics in _sorted(reports):
        for d in _visible(diagnostics, options):
            severity_style = "bold red" if d.severity == ERROR else "bold yellow"
            lines.append([(f"{clean(d.file)}:{d.line}:{d.column}: ", "bold"),
                          (d.severity, severity_style), (f"[{d.code}] ", severity_style),
                          (clean(headline(d)), "bold")])
            source = report.source_line(d.line)
            if source.strip():
                number = str(d.line)
                gutter = " " * len(number)
                text, caret = snippet(source, d.column)
                lines.append([(f" {number} | ", "blue"), (text, None)])
                lines.append([(f" {gutter} | ", "blue"), (caret, severity_style)])
            if d.hint:
                lines.append([("  hint: ", "cyan"), (clean(d.hint), None)])
            lines.append([])
    if options.get("summary", True) and _show_summary(summary, options):
        bad = summary.errors or summary.unreadable
        lines.append([(summary.line(), "bold red" if bad else "bold green")])
    elif lines and not lines[-1]:
        lines.pop()  # no summary to separate from
    from .terminal import emit

    return emit(lines, colour=bool(options.get("color")))


def render_parsable(reports, summary: Summary, options=None) -> str:
    options = options or {}
    out = []
    for report, diagnostics in _sorted(reports):
        for d in _visible(diagnostics, options):
            hint = f" (hint: {clean(d.hint)})" if d.hint else ""
            out.append(f"{clean(d.file)}:{d.line}:{d.column}: [{d.severity}] {d.code} "
                       f"{clean(headline(d))}{hint}\n")
    if _show_summary(summary, options):
        out.append(summary.line() + "\n")
    return "".join(out)


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(reports, summary: Summary, options=None) -> str:
    """GitHub workflow commands; the runner turns them into annotations on the diff."""
    options = options or {}
    out = []
    for report, diagnostics in _sorted(reports):
        if report.unreadable is not None:
            out.append(f"::error file={_gh_property(report.file)},title=unreadable::"
                       f"{_gh_data(clean(report.unreadable))}\n")
        for d in _visible(diagnostics, options):
            command = "error" if d.severity == ERROR else "warning"
            message = clean(headline(d)) + (f"\nhint: {clean(d.hint)}" if d.hint else "")
            out.append(f"::{command} file={_gh_property(d.file)},line={d.line},col={d.column},"
                       f"title={_gh_property(d.code)}::{_gh_data(message)}\n")
    if _show_summary(summary, options):
        out.append(summary.line() + "\n")
    return "".join(out)


def render_json(reports, summary: Summary, options=None) -> str:
    options = options or {}
    files = []
    for report, diagnostics in _sorted(reports):
        entry = {"file": report.file, "name": report.name, "errors": report.errors,
                 "warnings": report.warnings,
                 "diagnostics": [d.as_dict() for d in _visible(diagnostics, options)],
                 "ignored": report.ignored}
        if report.totals is not None:
            entry["totals"] = report.totals
        if report.unreadable is not None:
            entry["unreadable"] = report.unreadable
        files.append(entry)
    ok = not (summary.errors or summary.unreadable or (options.get("strict") and summary.warnings))
    import json

    return json.dumps({"ok": ok, "summary": summary.as_dict(), "files": files}, indent=2,
                      ensure_ascii=False) + "\n"



