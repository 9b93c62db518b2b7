"""`archcalc diff A B`: two networks side by side, or two versions of one network layer by
layer, with CI gates (`--fail-on 'params>+5%'`).

Exit codes: 0 both specs load without errors and no gate fails; 1 either spec has errors or
a gate fails; 2 usage error (bad --fail-on rule included), unreadable file, unknown name.
"""
from __future__ import annotations

import sys

import click

from ..app import diff_changes_too_large
from ..cli import (
    EXIT_ERRORS,
    EXIT_OK,
    UsageProblem,
    analyse_spec,
    check_view_size,
    count_as_option,
    fail_usage,
    seq_option,
    shape_option,
    width_option,
    write_output,
)
from ..render import formats


def _gates_option(ctx, param, values):
    from ..diff import GateSyntaxError, parse_gate

    try:
        return tuple(parse_gate(v) for v in values)
    except GateSyntaxError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@click.option("-f", "--format", "fmt", type=click.Choice(formats("diff")), default="table",
              show_default=True, help="Output format (html: both networks side by side, with "
                                      "their diagrams).")
@click.option("-o", "--output", "output", metavar="FILE", default=None,
              help="Write to FILE instead of standard output.")
@click.option("--mode", type=click.Choice(("auto", "versions", "networks")), default="auto",
              show_default=True,
              help="versions: align the layers and list what changed; networks: compare totals, "
                   "kinds and resolutions only; auto: versions when both have the same name or "
                   "share most layer names.")
@click.option("--all", "show_all", is_flag=True, help="List unchanged layers too (versions mode).")
@click.option("--fail-on", "gates", metavar="RULE", multiple=True, callback=_gates_option,
              help="Exit 1 when RULE holds, e.g. 'params>+5%' (relative change), 'macs>+0' or "
                   "'params>+1M' (change B − A), 'depth>20' (B's value). Repeatable. Quote it: "
                   "> is the shell's.")
@click.option("--input", "input_shape", metavar="HxWxC", callback=shape_option,
              help="Override both specs' input shape, e.g. 224x224x3.")
@seq_option
@count_as_option
@click.option("--width", type=width_option(), default=None,
              help="Table width in columns (default: the terminal's).")
def diff(a, b, fmt, output, mode, show_all, gates, input_shape, seq, count_as, width):
    """Compare network A with network B (each a built-in name, a spec file, or - for stdin).

    Shows the totals side by side with change and ratio, the share of params and MACs per
    layer kind, and each network's resolution ladder. When A and B are two versions of one
    network, it also lists the added, removed and changed layers and every layer downstream
    whose shape or counts moved because of them.
    """
    from ..diff import compare
    from ..render import reporter

    if a == "-" and b == "-":
        fail_usage("only one of A and B can be - (standard input)")
    try:
        old = analyse_spec(a, input_shape, seq, count_as)
        new = analyse_spec(b, input_shape, seq, count_as)
    except UsageProblem as exc:
        fail_usage(str(exc))
    # every layer is a row with --all and in the HTML page (each side's layer table); else the
    # rows are the changed layers, counted after the comparison (linear in the layers)
    every_layer = "diff --all" if show_all else f"diff --format {fmt}" if fmt in ("html", "svg") else None
    if every_layer:
        for analysis in (old, new):
            check_view_size(analysis, every_layer)
    result = compare(old, new, None if mode == "auto" else mode)
    if not every_layer and diff_changes_too_large(old, new, result):
        sys.exit(EXIT_ERRORS)
    gate_results = []
    for gate in gates:
        try:
            gate_results.append(gate.check(result))
        except KeyError:
            fail_usage(f"--fail-on {gate.text!r}: neither network has the total {gate.total!r}")
    options = {"all": show_all, "width": width, "gates": gate_results}
    suffix = (".svg", "diff --format svg writes SVG: name the file .svg (found {found}); `archcalc draw "
                      "SPEC -o x.png` draws one network as PNG") if fmt == "svg" else None
    write_output(reporter("diff", fmt)(result, options), output,
                 inputs=(a, b), suffix=suffix)
    _report_problems(a, old, b, new, gate_results)
    failed = bool(old.errors or new.errors or any(r.failed for r in gate_results))
    sys.exit(EXIT_ERRORS if failed else EXIT_OK)


def _report_problems(spec_a, old, spec_b, new, gate_results):
    """Diagnostics of either spec and failed gates go to stderr (app.diff_problems)."""
    from ..app import diff_problems

    text = diff_problems(spec_a, old, spec_b, new, gate_results)
    if text:
        click.echo(text, err=True, nl=False)
