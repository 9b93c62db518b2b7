"""The click-free part of the command line: loading a SPEC argument with user-facing errors,
exit codes, and the fast paths that answer `archcalc show SPEC --format json`, `archcalc
diff A B` and `archcalc export SPEC` without importing click (a third of the start-up
budget) — see ``fast_show``, ``fast_diff`` and ``fast_export``.
"""
from __future__ import annotations

import os
import sys

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


class UsageProblem(Exception):
    """A problem that is the caller's, not the spec's: exit 2 with a message on stderr."""


def parse_shape(text: str) -> tuple:
    """'224x224x3', '224,224,3', '224×224×3' or '784' -> a shape tuple; ValueError otherwise."""
    from .limits import parse_bounded_int

    parts = [p for p in text.replace("×", "x").replace(",", "x").replace(" ", "").split("x") if p]
    sizes = [parse_bounded_int(p) for p in parts]  # ASCII digits only, at most 10^18
    if len(parts) not in (1, 3) or not all(sizes):
        shown = text if len(text) <= 40 else text[:36] + "..."
        raise ValueError(f"expected HxWxC (e.g. 224x224x3) or N, ASCII digits, each size from 1 "
                         f"to 10^18, found {shown!r}")
    return tuple(sizes)


def load_document(spec: str, input_shape=None):
    """Load SPEC or raise UsageProblem with a message fit for the user."""
    from .readers import ImportRefused, SpecNotFound, load_spec

    try:
        return load_spec(spec, input_shape)
    except SpecNotFound as exc:
        from .readers import zoo

        if os.sep in spec or spec.lower().endswith((".yaml", ".yml", ".onnx", ".json")):
            # a path, never a network's name (a file deleted while `validate` ran, a typo)
            raise UsageProblem(f"no such file: {spec!r}") from None
        hint = f" (did you mean: {exc.suggestion}?)" if exc.suggestion else ""
        raise UsageProblem(f"no such file or built-in network: {spec!r}{hint}; "
                           f"built-in: {', '.join(zoo.names())}") from None
    except IsADirectoryError:
        raise UsageProblem(f"{spec!r} is a directory, not a spec file") from None
    except OSError as exc:
        import errno

        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOENT and os.path.islink(spec):
            reason = f"it is a symbolic link to {os.readlink(spec)!r}, which does not exist"
        elif exc.errno == errno.ELOOP:
            reason = "its symbolic links form a loop"
        raise UsageProblem(f"cannot read {spec!r}: {reason}") from None
    except ImportRefused as exc:
        raise UsageProblem(str(exc)) from None


def analyse_spec(spec: str, input_shape=None, seq=None, count_as=None):
    """Load and analyse SPEC; ``seq`` (--seq) sets the length of a token input, and is a
    usage problem for a spec whose input is not tokens; ``count_as`` (--count-as) names
    another tool's MAC convention."""
    from .engine import analyze

    analysis = analyze(load_document(spec, input_shape), input_shape=input_shape, seq=seq, count_as=count_as)
    check_seq(spec, analysis, seq)
    return analysis


def check_seq(spec: str, analysis, seq):
    if seq is not None and analysis.input is not None and analysis.totals.seq is None:
        from .render.numbers import shape

        raise UsageProblem(f"--seq sets the length of a token input (`input: {{tokens: T}}` or [T, D]), "
                           f"but {spec!r} takes {shape(analysis.input)}")


def error_summary(analysis) -> str:
    """One line for stderr when the spec has errors: `show ... | head` may hide the report
    printed under the table (or in the JSON), never this."""
    errors = analysis.errors
    if not errors:
        return ""
    first = errors[0]
    where = f"{first.file or analysis.file}:{first.line}:{first.column}" if first.line else \
        (first.file or analysis.file or "<stdin>")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    text = f"archcalc: {len(errors)} error{'s' if len(errors) != 1 else ''}: {where}: [{first.code}] " \
           f"{first.message}{more}"
    return "".join(c if c.isprintable() else "?" for c in text) + "\n"


def write(text: str, colour: bool | None = None):
    """Standard output, through the one escaping mechanism (render/terminal.visible); SGR
    colour sequences are kept when the text was coloured (``colour``, default: whether
    colour is used on this terminal)."""
    from .render.terminal import use_colour, visible

    sys.stdout.write(visible(text, colour=use_colour() if colour is None else colour))
    sys.stdout.flush()


def view_too_large(analysis, what: str, rows: int | None = None) -> bool:
    """Whether the network has more layers than a per-layer view writes out — or, given
    ``rows``, whether the view's rows are more — (limits.MAX_VIEW_ROWS); if so, the located
    `too-large` is on standard error."""
    from .compiler import view_limit

    problem = view_limit(analysis, what, rows)
    if problem is None:
        return False
    from .render import reporter
    from .render.problems import FileReport, summarise
    from .render.terminal import visible

    report = FileReport(file=analysis.file, diagnostics=[problem], source_text=analysis.source_text)
    sys.stderr.write(visible(reporter("problems", "pretty")([report], summarise([report]), {"color": False})))
    return True


def show_report(fmt, analysis, options):
    """`show`'s report in ``fmt``: streamed when the reporter can (JSON of a huge network)."""
    from .render import reporter, streamer

    stream = streamer("show", fmt)
    if stream is None:
        write(reporter("show", fmt)(analysis, options))
    else:
        from .render.terminal import visible

        stream(analysis, options, lambda text: sys.stdout.write(visible(text)))
        sys.stdout.flush()
    sys.stderr.write(error_summary(analysis))




def _fast_show_arguments(argv: list[str]):
    """(spec, format, input shape, seq, count_as) when argv is exactly `show SPEC` with
    --format/-f among _FAST_FORMATS and optionally --input, --seq and --count-as; None for anything else, which click then parses
    (and reports, if it is wrong). Deliberately narrow: it must never accept what click
    would reject, nor read an option differently."""
    if len(argv) < 2 or argv[0] != "show":
        return None
    spec = fmt = shape = seq = count_as = None
    i = 1
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in ("--format", "-f", "--input", "--seq", "--count-as"):
            if not eq:
                if i + 1 >= len(argv):
                    return None
                value = argv[i + 1]
                i += 1
            if name == "--seq":
                from .limits import parse_bounded_int

                number = parse_bounded_int(value.strip())
                if seq is not None or number is None or number < 1:
                    return None
                seq = number
            elif name == "--count-as":
                from .conventions import NAMES

                if count_as is not None or value not in NAMES:
                    return None
                count_as = value
            elif name == "--input":
                if shape is not None:
                    return None
                try:
                    shape = parse_shape(value)
                except ValueError:
                    return None
            else:
                from .render import fast_formats

                if fmt is not None or value not in fast_formats("show"):
                    return None
                fmt = value
        elif arg == "-" or not arg.startswith("-"):
            if spec is not None:
                return None
            spec = arg
        else:
            return None
        i += 1
    if spec is None or fmt is None:
        return None
    return spec, fmt, shape, seq, count_as


def diff_problems(spec_a: str, old, spec_b: str, new, gate_results=()) -> str:
    """What `diff` writes to standard error: each spec's diagnostics and error count, one per
    line, and the failed gates, so that CI logs show them whatever the output format."""
    from .render.diff_cells import gate_message
    from .render.problems import clean, headline

    lines = []
    for spec, analysis in ((spec_a, old), (spec_b, new)):
        for d in analysis.diagnostics:
            lines.append(f"{d.file}:{d.line}:{d.column}: [{d.severity}] {d.code} {clean(headline(d))}")
        if analysis.errors:
            n = len(analysis.errors)
            lines.append(f"archcalc: {clean(spec)} has {n} error{'s' if n != 1 else ''}")
    for r in gate_results:
        if r.failed:
            lines.append(f"archcalc: gate {gate_message(r)}")
    return "".join(line + "\n" for line in lines)


def diff_changes_too_large(old, new, result) -> bool:
    """Whether `diff` (without --all) would print more changed layers than a per-layer view
    writes out; if so, the located `too-large` is on standard error. The changes are counted
    after the comparison, which is linear in the layers."""
    if result.changes is None:
        return False
    changed = sum(1 for change in result.changes if change.status != "unchanged")
    return view_too_large(new if new.totals.layers >= old.totals.layers else old, "diff", changed)


def fast_diff(argv: list[str]) -> int | None:
    """`archcalc diff A B` without options, answered without click (what the click command
    does with its defaults); None for any other argv, which click then parses."""
    if len(argv) != 3 or argv[0] != "diff" or argv[1:] == ["-", "-"] \
            or any(arg.startswith("-") and arg != "-" for arg in argv[1:]):
        return None
    spec_a, spec_b = argv[1], argv[2]
    try:
        old, new = analyse_spec(spec_a), analyse_spec(spec_b)
    except UsageProblem as exc:
        from .render.terminal import visible

        sys.stderr.write(f"archcalc: error: {visible(str(exc))}\n")
        return EXIT_USAGE
    from .diff import compare
    from .render import reporter

    result = compare(old, new, None)
    if diff_changes_too_large(old, new, result):
        return EXIT_ERRORS
    write(reporter("diff", "table")(result, {"all": False, "width": None, "gates": []}))
    sys.stderr.write(diff_problems(spec_a, old, spec_b, new))
    return EXIT_ERRORS if old.errors or new.errors else EXIT_OK


def problems_text(analysis, diagnostics) -> str:
    """Diagnostics as `validate` prints them, for standard error (GitHub's workflow commands
    under GitHub Actions; colour only when standard error is a terminal)."""
    from .render import reporter
    from .render.problems import FileReport, summarise

    report = FileReport(file=analysis.file, diagnostics=list(diagnostics), source_text=analysis.source_text)
    fmt = "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "pretty"
    colour = sys.stderr.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    return reporter("problems", fmt)([report], summarise([report]), {"color": fmt == "pretty" and colour})


def export_module(spec: str, input_shape=None, seq=None) -> tuple[str | None, str]:
    """`archcalc export`'s work: (the PyTorch module's text, or None when the spec has errors
    or cannot be exported; the diagnostics for standard error, or ""). UsageProblem for a
    SPEC that cannot be read."""
    analysis = analyse_spec(spec, input_shape, seq)
    if analysis.errors or analysis.output is None:
        return None, problems_text(analysis, analysis.diagnostics)
    from .export import ExportFailed, export_pytorch

    command = "archcalc export" + (f" --input {'x'.join(map(str, input_shape))}" if input_shape else "") \
        + (f" --seq {seq}" if seq is not None else "")
    try:
        text = export_pytorch(analysis, command)
    except ExportFailed as exc:
        return None, problems_text(analysis, analysis.diagnostics + exc.diagnostics)
    # warnings: shown, not fatal
    return text, problems_text(analysis, analysis.diagnostics) if analysis.diagnostics else ""


def fast_export(argv: list[str]) -> int | None:
    """`archcalc export SPEC` without options (the module to standard output), answered
    without click; None for any other argv."""
    if len(argv) != 2 or argv[0] != "export" or (argv[1].startswith("-") and argv[1] != "-"):
        return None
    try:
        text, problems = export_module(argv[1])
    except UsageProblem as exc:
        from .render.terminal import visible

        sys.stderr.write(f"archcalc: error: {visible(str(exc))}\n")
        return EXIT_USAGE
    sys.stderr.write(problems)
    if text is None:
        return EXIT_ERRORS
    write(text)
    return EXIT_OK




def fast_show(argv: list[str]) -> int | None:
    """Run `show` for the machine formats without click; None when argv is not that case."""
    parsed = _fast_show_arguments(argv)
    if parsed is None:
        return None
    spec, fmt, shape, seq, count_as = parsed
    try:
        analysis = analyse_spec(spec, shape, seq, count_as)
    except UsageProblem as exc:
        from .render.terminal import visible

        sys.stderr.write(f"archcalc: error: {visible(str(exc))}\n")
        return EXIT_USAGE
    if fmt == "markdown" and view_too_large(analysis, "the markdown format"):
        return EXIT_ERRORS
    show_report(fmt, analysis, {})
    return EXIT_ERRORS if analysis.errors else EXIT_OK


# Errors of writing the output (not of reading a spec): a full disk, a closed or broken stream.
WRITE_ERRORS = (28, 5, 9, 27, 122)  # ENOSPC, EIO, EBADF, EFBIG, EDQUOT


def output_failed(exc: OSError) -> int:
    """The exit code when standard output cannot be written: 0, quietly, when the reader went
    away (`| head`); else 2 with one line. Standard output is pointed at /dev/null first, so
    that Python's own flush at exit cannot print a second error."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
    except OSError:
        pass
    if isinstance(exc, BrokenPipeError):
        return EXIT_OK
    if sys.stderr is not None:
        try:
            sys.stderr.write(f"archcalc: error: cannot write the output: {exc.strerror or exc}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
    return EXIT_USAGE
