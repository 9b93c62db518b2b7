"""`archcalc export SPEC`: the network as a standalone PyTorch module (see archcalc/export.py)."""
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
        analysis = analyse_spec(spec, input_shape, seq)
    except UsageProblem as exc:
        fail_usage(str(exc))
    if analysis.errors or analysis.output is None:
        _report(analysis, analysis.diagnostics)
        sys.exit(EXIT_ERRORS)
    from ..export import ExportFailed, export_pytorch

    command = "archcalc export" + (f" --input {'x'.join(map(str, input_shape))}" if input_shape else "") \
        + (f" --seq {seq}" if seq is not None else "")
    try:
        text = export_pytorch(analysis, command)
    except ExportFailed as exc:
        _report(analysis, analysis.diagnostics + exc.diagnostics)
        sys.exit(EXIT_ERRORS)
    if analysis.diagnostics:  # warnings: shown, not fatal
        _report(analysis, analysis.diagnostics)
    write_output(text, output, force, inputs=(spec,))
    sys.exit(EXIT_OK)


def _report(analysis, diagnostics):
    """The diagnostics as `validate` prints them (on standard error: standard output is the module)."""
    from ..render import reporter
    from ..render.problems import FileReport, summarise

    report = FileReport(file=analysis.file, diagnostics=list(diagnostics), source_text=analysis.source_text)
    fmt = "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "pretty"
    colour = sys.stderr.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    click.echo(reporter("problems", fmt)([report], summarise([report]), {"color": fmt == "pretty" and colour}),
               err=True, nl=False)
