"""`archcalc explain SPEC [LAYER]` and `archcalc explain CODE`.

Dispatch: when the first argument is exactly a diagnostic code of the catalogue
(``window-drops-input``), it is explained as a code, never looked up as a spec — to
explain a spec file that happens to carry a code's name, write a path (``./window-drops-input``).
Anything else is a SPEC (built-in name, path or ``-``), as for `show`.

LAYER selects layers by, in order: an exact layer name; a scope (a named block call,
repeat or branch, e.g. ``layer3``: all its layers); a glob (``layer3.*.conv2``); the end of
exactly one full name, after a dot (``conv1`` for ``block1.conv1``; a scope's too); a prefix
shared by exactly one layer. Several matches of an end or a prefix, or none at all, are a
usage error (exit 2) that lists the candidates.

Exit codes: 0, or 1 when the spec has errors (as `show`); 2 for usage errors.
"""
from __future__ import annotations

import sys

import click

from ..cli import (
    seq_option,
    Count,
    width_option,
    EXIT_ERRORS,
    EXIT_OK,
    UsageProblem,
    analyse_spec,
    check_view_size,
    count_as_option,
    fail_usage,
    shape_option,
    write,
)
from ..metrics import DTYPE_BYTES

_GLOB = set("*?[")


def select(analysis, pattern: str):
    """(layers, diagnostics of the selection that no selected layer carries)."""
    import fnmatch

    layers = analysis.layers
    names = [layer.name for layer in layers]
    exact = [layer for layer in layers if layer.name == pattern]
    own = [d for d in analysis.diagnostics if d.layer == pattern]
    if exact:
        return exact, []
    for group in analysis.groups:
        if group.name == pattern:
            return layers[group.start:group.end], own
    if _GLOB & set(pattern):
        chosen = [layer for layer in layers if fnmatch.fnmatchcase(layer.name, pattern)]
        if chosen:
            return chosen, []
        raise UsageProblem(f"no layer matches {pattern!r}" + _candidates(names, pattern))
    scoped = [layer for layer in layers if layer.name.startswith(pattern + ".")]
    if scoped:
        return scoped, own
    ending = "." + pattern
    ends = [layer for layer in layers if layer.name.endswith(ending)]
    scopes = [group for group in analysis.groups if group.name.endswith(ending)]
    if len(ends) + len(scopes) == 1:
        return (ends, []) if ends else (layers[scopes[0].start:scopes[0].end], [])
    if ends or scopes:
        found = [group.name for group in scopes] + [layer.name for layer in ends]
        shown = ", ".join(found[:12]) + (", …" if len(found) > 12 else "")
        raise UsageProblem(f"{pattern!r} ends {len(found)} names: {shown}; give one of them "
                           f"(or a glob such as {('*' + ending)!r} for all)")
    prefixed = [layer for layer in layers if layer.name.startswith(pattern)]
    if len(prefixed) == 1:
        return prefixed, []
    if prefixed:
        shown = ", ".join(layer.name for layer in prefixed[:8]) + (", …" if len(prefixed) > 8 else "")
        raise UsageProblem(f"{pattern!r} is the start of {len(prefixed)} layer names ({shown}); "
                           "give the full name or a glob such as " + repr(pattern + "*"))
    if own:  # a layer that failed: it has diagnostics but no row
        return [], own
    raise UsageProblem(f"no layer named {pattern!r}" + _candidates(names, pattern))


def _candidates(names, pattern) -> str:
    import difflib

    close = difflib.get_close_matches(pattern, names, n=3, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _code_suggestion(word: str) -> str:
    import difflib

    from ..diagnostics import CATALOGUE

    close = difflib.get_close_matches(word, list(CATALOGUE), n=1, cutoff=0.75)
    return f"; or did you mean the diagnostic code {close[0]!r}?" if close else ""


@click.command()
@click.argument("spec", metavar="SPEC|CODE")
@click.argument("layer", required=False)
@click.option("--input", "input_shape", metavar="HxWxC", callback=shape_option,
              help="Override the spec's input shape, e.g. 224x224x3.")
@seq_option
@click.option("--batch", type=Count(1), default=1, show_default=True,
              help="Batch size: scales MACs and activations.")
@click.option("--dtype", type=click.Choice(tuple(DTYPE_BYTES)), default="fp32", show_default=True,
              help="Precision of every value, for the byte figures.")
@click.option("--width", type=width_option(), default=100, show_default=True,
              help="Wrap diagnostics and explanations at this width.")
@count_as_option
def explain(spec, layer, input_shape, seq, batch, dtype, width, count_as):
    """Show the arithmetic behind each layer of SPEC (or only LAYER): output size, parameters,
    MACs, activations and receptive field, with the layer's diagnostics and hints.

    With a diagnostic code instead of SPEC (e.g. `archcalc explain window-drops-input`),
    explain what the code means. With --count-as TOOL, itemise TOOL's MACs (of SPEC, or of
    LAYER) from archcalc's own count, kind by kind, and name what TOOL skips (at --batch).
    """
    from ..diagnostics import CATALOGUE
    from ..render import explain as render

    if spec in CATALOGUE:
        if layer is not None:
            fail_usage(f"{spec!r} is a diagnostic code, which takes no LAYER; to explain a spec "
                        f"file of that name, write ./{spec}")
        write(render.render_code(spec, CATALOGUE[spec], width))
        sys.exit(EXIT_OK)
    try:
        analysis = analyse_spec(spec, input_shape, seq)
    except UsageProblem as exc:
        fail_usage(str(exc) + (_code_suggestion(spec) if "no such file" in str(exc) else ""))
    everything = [d for d in analysis.diagnostics if d.layer is None or
                  d.layer not in {l.name for l in analysis.layers}]
    missing = None
    try:
        layers, extra = select(analysis, layer) if layer is not None else (analysis.layers, everything)
    except UsageProblem as exc:
        if not analysis.errors:
            fail_usage(str(exc))
        # the layer may be missing because of the spec's errors: show them, not only the miss
        layers, extra, missing = [], analysis.diagnostics, str(exc)
    from ..metrics import apply_batch

    apply_batch(analysis, batch, dtype)
    if count_as is not None and analysis.output is not None:
        from ..render import count_as as itemised

        write(itemised.render(analysis, [one for one in layers if not one.aux], count_as, width))
        sys.exit(EXIT_ERRORS if analysis.errors else EXIT_OK)
    if len(layers) > 1:
        check_view_size(analysis, "explain")
    write(render.render(analysis, layers, extra, width))
    if missing is not None:
        from ..render.terminal import visible

        click.echo(f"archcalc: error: {visible(missing)}; the spec has errors (shown above), which may be why",
                   err=True)
    sys.exit(EXIT_ERRORS if analysis.errors else EXIT_OK)
