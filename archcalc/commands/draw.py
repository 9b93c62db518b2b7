"""`archcalc draw SPEC`: the network as the lecture draws it, in SVG (see render/picture.py)."""
from __future__ import annotations

import os
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
@click.option("-o", "--output", "output", metavar="FILE", default=None,
              help="Write the picture to FILE instead of standard output: FILE.svg as SVG; FILE.png or "
                   "FILE.pdf through a headless Chromium or Chrome on PATH (refused without one); any "
                   "other name is refused.")
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
    # Never SVG text under another name: a .png or .pdf is the browser's rendering or nothing.
    kind = os.path.splitext(output.lower())[1] if output not in (None, "-") else ".svg"
    browser = None
    if kind in (".png", ".pdf"):
        from ..render import raster

        browser = raster.find_browser()
        if browser is None:
            fail_usage(raster.INSTALL.format(fmt=kind[1:].upper()))
    picture = render_svg(analysis, {"depth": depth, "width": width})
    if browser is not None:
        try:
            picture = raster.render(picture, kind, browser, analysis.name or "")
        except raster.RasterError as exc:
            fail_usage(f"cannot write {ascii(output)[1:-1] if not output.isprintable() else output!r}: {exc}")
    write_output(picture, output, inputs=(spec,),
                 suffix=((".svg", ".png", ".pdf"), "draw writes SVG, PNG or PDF: name the file *.svg, *.png "
                         "or *.pdf (not {found}); PNG and PDF need a headless Chromium or Chrome on PATH"))
    report_problems(analysis)
    sys.exit(EXIT_ERRORS if analysis.errors else EXIT_OK)
