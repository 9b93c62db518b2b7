"""`archcalc show SPEC`: one network, layer by layer."""
from __future__ import annotations

import sys

import click

from ..cli import EXIT_ERRORS, EXIT_OK, UsageProblem, _fail_usage, _shape_option, analyse_spec, write

SHOW_FORMATS = ("table", "json", "markdown", "csv")


@click.command()
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
    from ..render import reporter

    options = {"depth": depth, "width": width}
    write(reporter(fmt).render_show(analysis, options))
    sys.exit(EXIT_ERRORS if analysis.errors else EXIT_OK)


