"""The command line: click parses options, the engine analyses, a reporter renders.

Commands import their heavy parts (engine, rich) inside the function body, so that
`archcalc show vgg16 --format json` never imports rich and `archcalc --help` imports
almost nothing.

Exit codes (every command): 0 no error (warnings allowed); 1 the spec has errors or a
check failed; 2 usage error, unreadable file, unknown built-in name.
"""
from __future__ import annotations

import sys

import click

from . import __version__

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


class UsageProblem(Exception):
    """A problem that is the caller's, not the spec's: exit 2 with a message on stderr."""


def parse_shape(text: str) -> tuple:
    """'224x224x3', '224,224,3', '224×224×3' or '784' -> a shape tuple."""
    parts = [p for p in text.replace("×", "x").replace(",", "x").replace(" ", "").split("x") if p]
    if len(parts) not in (1, 3) or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise click.BadParameter(f"expected HxWxC (e.g. 224x224x3) or N, found {text!r}")
    return tuple(int(p) for p in parts)


def _shape_option(ctx, param, value):
    return None if value is None else parse_shape(value)


def load_document(spec: str):
    """Load SPEC or raise UsageProblem with a message fit for the user."""
    from .loading import SpecNotFound, load_spec

    try:
        return load_spec(spec)
    except SpecNotFound as exc:
        from . import zoo

        hint = f" (did you mean: {exc.suggestion}?)" if exc.suggestion else ""
        raise UsageProblem(f"no such file or built-in network: {spec!r}{hint}; "
                           f"built-in: {', '.join(zoo.names())}") from None
    except IsADirectoryError:
        raise UsageProblem(f"{spec!r} is a directory, not a spec file") from None
    except OSError as exc:
        raise UsageProblem(f"cannot read {spec!r}: {exc.strerror or exc}") from None


def analyse_spec(spec: str, input_shape=None):
    from .engine import analyze

    return analyze(load_document(spec), input_shape=input_shape)


def _fail_usage(message: str):
    click.echo(f"archcalc: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def write(text: str):
    sys.stdout.write(text)
    sys.stdout.flush()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="archcalc")
def main():
    """archcalc — exact shapes, parameters and MACs of neural networks from YAML specs.

    SPEC is a built-in network (`archcalc list`), a spec file, or - for standard input.
    """


SHOW_FORMATS = ("table", "json", "markdown", "csv")


@main.command()
@click.argument("spec")
@click.option("-f", "--format", "fmt", type=click.Choice(SHOW_FORMATS), default="table",
              show_default=True, help="Output format.")
@click.option("--input", "input_shape", metavar="HxWxC", callback=_shape_option,
              help="Override the spec's input shape, e.g. 224x224x3.")
@click.option("--depth", type=click.IntRange(min=0), default=None,
              help="Table: collapse blocks below this nesting level (0 = top-level rows only).")
@click.option("--width", type=click.IntRange(min=40), default=None,
              help="Table width in columns (default: the terminal's).")
def show(spec, fmt, input_shape, depth, width):
    """Analyse SPEC: every layer's output volume, parameters and MACs, with totals."""
    try:
        analysis = analyse_spec(spec, input_shape)
    except UsageProblem as exc:
        _fail_usage(str(exc))
    from .render import reporter

    options = {"depth": depth, "width": width}
    write(reporter(fmt).render_show(analysis, options))
    sys.exit(EXIT_ERRORS if analysis.errors else EXIT_OK)


@main.command("list")
@click.option("-f", "--format", "fmt", type=click.Choice(SHOW_FORMATS), default="table",
              show_default=True, help="Output format.")
@click.option("--width", type=click.IntRange(min=40), default=None, help="Table width in columns.")
def list_(fmt, width):
    """List the built-in networks with their size and cost."""
    from . import zoo
    from .engine import analyze
    from .loading import load_spec
    from .render import reporter

    rows = []
    failed = False
    for name in zoo.names():
        analysis = analyze(load_spec(name))
        failed = failed or bool(analysis.errors)
        t = analysis.totals
        rows.append({"name": name, "title": analysis.title,
                     "input": list(analysis.input) if analysis.input else None,
                     "output": list(analysis.output) if analysis.output else None,
                     "params": t.params, "macs": t.macs, "depth": t.depth, "layers": t.layers})
    write(reporter(fmt).render_list(rows, {"width": width}))
    sys.exit(EXIT_ERRORS if failed else EXIT_OK)


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
def validate(paths, strict):
    """Check spec files and report every problem, located. Exit 1 on any error."""
    from .engine import analyze

    errors = warnings = 0
    unreadable = False
    for path in paths:
        try:
            analysis = analyze(load_document(path))
        except UsageProblem as exc:
            click.echo(f"archcalc: error: {exc}", err=True)
            unreadable = True
            continue
        for d in analysis.diagnostics:
            click.echo(f"{d.file}:{d.line}:{d.column}: [{d.severity}] {d.code} {d.message}"
                       + (f" (hint: {d.hint})" if d.hint else ""))
        errors += len(analysis.errors)
        warnings += len(analysis.warnings)
    click.echo(f"{len(paths)} file{'s' if len(paths) != 1 else ''} checked: {errors} error"
               f"{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}")
    if unreadable:
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_ERRORS if errors or (strict and warnings) else EXIT_OK)


def run():
    """Console-script entry: click plus the promises no traceback and quiet broken pipes."""
    try:
        main(standalone_mode=True)
    except BrokenPipeError:
        # The reader went away (`archcalc show vgg16 | head`); that is not an error of ours.
        try:
            sys.stdout = None
        finally:
            sys.exit(EXIT_OK)
    except KeyboardInterrupt:
        sys.exit(130)
    except RecursionError:
        click.echo("archcalc: error: the spec nests too deeply to analyse", err=True)
        sys.exit(EXIT_ERRORS)
    except Exception as exc:  # noqa: BLE001 - the promise is: never a traceback
        click.echo(f"archcalc: internal error (please report it): {type(exc).__name__}: {exc}", err=True)
        sys.exit(EXIT_ERRORS)
