"""`archcalc show SPEC`: one network, layer by layer."""
from __future__ import annotations

import sys

import click

from ..app import show_report
from ..cli import (
    EXIT_ERRORS,
    EXIT_OK,
    Count,
    UsageProblem,
    analyse_spec,
    check_view_size,
    count_as_option,
    fail_usage,
    ignore_option,
    seq_option,
    shape_option,
    width_option,
    write,
    write_output,
)
from ..metrics import AMP_CHOICES, ATTENTION_CHOICES, DTYPE_BYTES, OPTIMIZER_STATE
from ..render import formats


@click.command()
@click.argument("spec")
@click.option("-f", "--format", "fmt", type=click.Choice(formats("show")), default="table",
              show_default=True, help="Output format (html: one self-contained page with the "
                                      "diagram, the table, bars and diagnostics).")
@click.option("-o", "--output", "output", metavar="FILE", default=None,
              help="Write to FILE instead of standard output (e.g. -o report.html).")
@click.option("--input", "input_shape", metavar="HxWxC", callback=shape_option,
              help="Override the spec's input shape, e.g. 224x224x3 (the spec's `expect` pins "
                   "describe its own input and are then not checked; budgets are).")
@seq_option
@count_as_option
@click.option("--depth", type=Count(0), default=None,
              help="Table: collapse blocks below this nesting level (0 = top-level rows only).")
@click.option("--width", type=width_option(), default=None,
              help="Table width in columns (default: the terminal's; piped output is never narrowed). "
                   "What a narrow table leaves out is said under it.")
@click.option("--batch", type=Count(1), default=1, show_default=True,
              help="Batch size: scales MACs, FLOPs and activation memory (not parameters).")
@click.option("--dtype", type=click.Choice(tuple(DTYPE_BYTES)), default="fp32", show_default=True,
              help="Precision of every value, for the byte figures.")
@click.option("--optimizer", type=click.Choice(tuple(OPTIMIZER_STATE)), default=None,
              help="The optimizer of the training ledger (JSON memory.ledger; the table's Train "
                   "line); default sgd_momentum.")
@click.option("--amp", type=click.Choice(AMP_CHOICES), default=None,
              help="Mixed precision training: fp32 weights and optimizer state, activations in "
                   "bf16 or fp16 (the training figures).")
@click.option("--checkpoint", is_flag=True,
              help="Activation checkpointing per block, the outermost modules (the training figures).")
@click.option("--attention", type=click.Choice(ATTENTION_CHOICES), default="math", show_default=True,
              help="The attention kernel the training figures count: math (every h·T·T probability "
                   "kept, PyTorch's unfused path) or fused (CUDA's flash or memory-efficient kernel).")
@click.option("--memory", is_flag=True,
              help="Table: add an activation-memory column and memory/training footer lines.")
@click.option("--rf", is_flag=True, help="Table: add a receptive-field column (size/jump, in pixels).")
@click.option("--connections", is_flag=True,
              help="Add LeCun et al.'s connections figure (inputs each unit sees, plus its bias): a "
                   "table column and total, and `connections` in JSON totals and layers.")
@click.option("--ignore", "ignore", multiple=True, metavar="CODE", callback=ignore_option,
              help="Ignore warnings of this code (repeatable); --format json lists them under "
                   "\"ignored\". Only warnings can be ignored.")
@click.option("--totals", "totals_row", is_flag=True,
              help="CSV: end with a `total` row holding the network's totals.")
@click.option("--chart", is_flag=True,
              help="Draw a bar per layer for parameters, MACs and activation memory instead of "
                   "the table (with --depth N, a bar per block at level N), then a bar per kind.")
def show(spec, fmt, output, input_shape, seq, count_as, depth, width, batch, dtype, optimizer, amp, checkpoint,
         attention, memory,
         rf, connections, ignore, totals_row, chart):
    """Analyse SPEC: every layer's output volume, parameters and MACs, with totals."""
    if chart and fmt != "table":
        fail_usage(f"--chart draws bars on the terminal; it cannot be combined with --format {fmt}")
    try:
        analysis = analyse_spec(spec, input_shape, seq, count_as)
    except UsageProblem as exc:
        fail_usage(str(exc))
    from ..ignores import apply
    from ..metrics import apply_batch
    from ..render import reporter

    apply(analysis, ignore)
    apply_batch(analysis, batch, dtype)
    if analysis.totals.count_as is not None and batch != 1:  # what the tool misses, at this batch
        from ..conventions import restate_notes

        restate_notes(analysis)
    analysis.totals.optimizer, analysis.totals.amp, analysis.totals.checkpoint = optimizer, amp, checkpoint
    analysis.totals.attention = attention
    if connections:
        analysis.totals.show_connections = True
    if chart or fmt in ("table", "markdown", "html"):
        check_view_size(analysis, "--chart" if chart else f"the {fmt} format")
    options = {"depth": depth, "width": width, "batch": batch, "dtype": dtype, "memory": memory,
               "rf": rf, "connections": connections, "totals": totals_row}
    if chart:
        from ..render import chart as chart_reporter

        write(chart_reporter.render_show(analysis, options))
    else:
        if output is not None and output != "-":
            write_output(reporter("show", fmt)(analysis, options), output, inputs=(spec,))
        else:
            show_report(fmt, analysis, options)
    sys.exit(EXIT_ERRORS if analysis.errors else EXIT_OK)


