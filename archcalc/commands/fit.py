"""`archcalc fit SPEC --memory SIZE`: the largest batch (and longest sequence) that trains in SIZE."""
from __future__ import annotations

import sys

import click

from ..cli import EXIT_ERRORS, EXIT_OK, UsageProblem, analyse_spec, fail_usage, seq_option, shape_option, write
from ..metrics import AMP_CHOICES, ATTENTION_CHOICES, DTYPE_BYTES, OPTIMIZER_STATE


@click.command()
@click.argument("spec")
@click.option("--memory", "size", required=True, metavar="SIZE",
              help="Device memory, e.g. 80GB (10^9 bytes), 24GiB (2^30), 512MiB, or bytes.")
@click.option("--optimizer", type=click.Choice(tuple(OPTIMIZER_STATE)), default="sgd_momentum",
              show_default=True, help="Optimizer whose state the ledger counts.")
@click.option("--dtype", type=click.Choice(tuple(DTYPE_BYTES)), default="fp32", show_default=True,
              help="Precision of every value.")
@click.option("--amp", type=click.Choice(AMP_CHOICES), default=None,
              help="Mixed precision: fp32 weights and optimizer state, activations in bf16 or fp16.")
@click.option("--attention", type=click.Choice(ATTENTION_CHOICES), default="math", show_default=True,
              help="The attention kernel counted: math (every h·T·T probability kept) or fused "
                   "(CUDA's flash or memory-efficient kernel).")
@click.option("--input", "input_shape", metavar="HxWxC", callback=shape_option,
              help="Override the spec's input shape, e.g. 224x224x3.")
@seq_option
@click.option("-f", "--format", "fmt", type=click.Choice(("table", "json")), default="table",
              show_default=True, help="Output format.")
def fit(spec, size, optimizer, dtype, amp, attention, input_shape, seq, fmt):
    """The largest batch of SPEC whose training step fits in --memory (0 if none), with the
    ledger at that batch; for a token input also the longest sequence that fits at batch 1."""
    from ..metrics import fit_batch, fit_seq, ledger, parse_size

    try:
        limit = parse_size(size)
    except ValueError as exc:
        fail_usage(f"--memory {size!r}: {exc}")
    try:
        analysis = analyse_spec(spec, input_shape, seq)
    except UsageProblem as exc:
        fail_usage(str(exc))
    if analysis.errors or analysis.output is None:
        from ..app import show_report

        show_report("table" if fmt == "table" else "json", analysis, {})
        sys.exit(EXIT_ERRORS)
    analysis.totals.dtype, analysis.totals.bytes_per_value = dtype, DTYPE_BYTES[dtype]
    analysis.totals.amp, analysis.totals.attention = amp, attention
    batch = fit_batch(analysis, limit, optimizer)
    book = ledger(analysis, optimizer, max(batch, 1))
    result = {"name": analysis.name, "memory_bytes": limit, "optimizer": optimizer, "dtype": dtype,
              "amp": amp, "batch": batch}
    if analysis.totals.seq is not None:
        def at(length):
            return analyse_spec(spec, input_shape, length)
        result["seq"] = fit_seq(at, limit, optimizer, dtype, amp, attention=attention)
    result["ledger"] = book
    # the attention kernel counted, in the table only where it changes the figures (JSON: ledger.attention)
    kernel = attention if any(layer is not None and layer.fused is not None for layer in analysis.layers) else None
    if fmt == "json":
        import json

        write(json.dumps(result, indent=2) + "\n")
    else:
        from ..render import numbers

        write(_table(result, numbers, kernel))
    sys.exit(EXIT_OK)


def _table(result, numbers, kernel=None) -> str:
    """The terminal answer; ``kernel``: the attention kernel counted (math or fused), named
    for a network whose figures depend on it."""
    from ..render.terminal import visible

    book = result["ledger"]
    setting = (f"({result['optimizer']}, {result['dtype']}"
               f"{', amp ' + result['amp'] if result['amp'] else ''}"
               f"{', ' + kernel + ' attention' if kernel else ''})")
    if result["batch"]:
        lines = [f"{visible(result['name'])}: batch {result['batch']:,} fits in "
                 f"{numbers.byte_size(result['memory_bytes'])} {setting}"]
    else:
        lines = [f"{visible(result['name'])}: nothing fits in {numbers.byte_size(result['memory_bytes'])} "
                 f"{setting}: batch 1 needs {numbers.byte_size(book['peak'])} at its peak"]
    if "seq" in result:
        lines.append(f"longest sequence at batch 1: {result['seq']:,} tokens")
    what = "at that batch" if result["batch"] else "at batch 1 (does not fit)"
    lines.append(f"ledger {what}:")
    for key in ("weights", "gradients", "optimizer_state", "input", "saved_activations",
                "backward_transient", "workspace", "peak"):
        lines.append(f"  {key.replace('_', ' '):<20}{numbers.byte_size(book[key]):>12}")
    return "\n".join(lines) + "\n"
