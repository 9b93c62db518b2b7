"""`archcalc list`: the built-in zoo."""
from __future__ import annotations

import sys

import click

from ..cli import EXIT_ERRORS, EXIT_OK, width_option, write
from .show import SHOW_FORMATS


@click.command("list")
@click.option("-f", "--format", "fmt", type=click.Choice(SHOW_FORMATS), default="table",
              show_default=True, help="Output format.")
@click.option("--width", type=width_option(), default=None,
              help="Table width in columns (default: the terminal's; piped output is never narrowed).")
def list_(fmt, width):
    """List the built-in networks with their size and cost."""
    from .. import zoo
    from ..engine import analyze
    from ..loading import load_spec
    from ..render import reporter

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


