"""`archcalc draw SPEC`: the network as the lecture draws it, in SVG (see render/picture.py)."""
from __future__ import annotations

import sys

import click

from ..cli import (
    EXIT_ERRORS,
    EXIT_OK,
    UsageProblem,
    analyse_spec,
    fail_usage,
    seq_option,
    shape_option,
    write_output,
)


def report_problems(analysis):
    """One line per diagnostic on stderr, so a drawing's problems are not only in the picture."""
    from ..render.problems import clean, headline

    for d in analysis.diagnostics:
        click.echo(f"{d.file}:{d.line}:{d.column}: [{d.severity}] {d.code} {clean(headline(d))}", err=True)


@click.command()
@click.argument("spec")
@click.option("-o", "--output", "output", metavar="FILE.svg", default=None,
              help="Write the SVG to FILE.svg instead of standard output (any other name is refused).")
@click.option("--depth", type=click.IntRange(min=0), default=None,
              help="Collapse blocks nested at this level or deeper into one box each (0 = every "
                   "top-level block is a box); default: collapse from the deepest level up until the "
                   "picture fits a slide (1600×1200 px).")
@click.option("--input", "input_shape", metavar="HxWxC", callback=shape_option,
              help="Override the spec's input shape, e.g. 224x224x3.")
@seq_option
@click.option("--width", type=click.IntRange(min=300), default=None,
              help="Wrap rows at this many pixels (default 1400).")
def draw(spec, output, depth, input_shape, seq, width):
    """Draw SPEC as SVG: volumes as boxes scaled by H, W and C, labelled with their sizes."""
    try:
        analysis = analyse_spec(spec, input_shape, seq)
    except UsageProblem as exc:
        fail_usage(str(exc))
    from ..render.picture import deepest_level, render_svg

    if depth is not None and depth > deepest_level(analysis):
        deepest = deepest_level(analysis)
        why = "it has no blocks" if deepest < 0 else \
            f"its blocks nest {deepest + 1} level{'s' if deepest else ''} deep (0–{deepest})" if deepest else \
            "its blocks nest 1 level deep (level 0)"
        click.echo(f"archcalc: note: --depth {depth} collapses nothing: {why}; every layer is drawn", err=True)
    # Never SVG text under another name: a .png or .pdf would look like one and not be.
    write_output(render_svg(analysis, {"depth": depth, "width": width}), output, inputs=(spec,),
                 suffix=(".svg", "draw writes SVG only: name the file *.svg (not {found}); for a PNG or "
                         "PDF open the SVG in a browser and save or print it, or write a page with the "
                         "drawing: `archcalc show SPEC --format html -o FILE.html`"))
    report_problems(analysis)
    sys.exit(EXIT_ERRORS if analysis.errors else EXIT_OK)
