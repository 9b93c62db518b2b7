"""`archcalc export SPEC`: the network as a standalone PyTorch module (see archcalc/export.py)."""
from __future__ import annotations

import sys

import click

from ..app import export_module
from ..cli import (
    EXIT_ERRORS,
    EXIT_OK,
    UsageProblem,
    fail_usage,
    seq_option,
    shape_option,
    write_output,
)

TARGETS = ("pytorch",)


@click.command()
@click.argument("spec")
@click.option("-o", "--output", metavar="FILE",
              help="Write the module to FILE instead of standard output (an existing, different "
                   "FILE is kept unless --force).")
@click.option("--to", "target", type=click.Choice(TARGETS), default="pytorch", show_default=True,
              help="The framework to write for.")
@click.option("--input", "input_shape", metavar="HxWxC", callback=shape_option,
              help="Override the spec's input shape, e.g. 224x224x3.")
@seq_option
@click.option("--force", is_flag=True, help="Overwrite an existing FILE given with -o.")
def export(spec, output, target, input_shape, seq, force):
    """Write SPEC as a PyTorch module: one nn.Module class per block, one for the network,
    and build(). The module takes PyTorch's (N, C, H, W) (token ids (N, T) for a token
    model); its state_dict keys follow the
    spec's layer names. A spec with errors is not exported (exit 1)."""
    try:
        text, problems = export_module(spec, input_shape, seq)
    except UsageProblem as exc:
        fail_usage(str(exc))
    if problems:
        click.echo(problems, err=True, nl=False)
    if text is None:
        sys.exit(EXIT_ERRORS)
    write_output(text, output, force, inputs=(spec,))
    sys.exit(EXIT_OK)
