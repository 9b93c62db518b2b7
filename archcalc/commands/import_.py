"""`archcalc import MODEL`: an ONNX graph or a Hugging Face config.json as an editable spec."""
from __future__ import annotations

import os
import sys

import click

from ..app import check_seq
from ..cli import (
    EXIT_ERRORS,
    EXIT_OK,
    UsageProblem,
    fail_usage,
    load_document,
    shape_option,
    write_output,
)


@click.command(name="import")
@click.argument("model")
@click.option("-o", "--output", "output", metavar="SPEC.yaml", default=None,
              help="Write the spec to this file instead of standard output.")
@click.option("--force", is_flag=True, help="With -o: overwrite an existing, different file.")
@click.option("--input", "input_shape", metavar="HxWxC", callback=shape_option,
              help="The input size, for a model whose input size is symbolic.")
@click.option("--seq", type=click.IntRange(min=1), default=None,
              help="Sequence length of token inputs (Hugging Face configs).")
def import_(model, output, force, input_shape, seq):
    """Write MODEL (an .onnx file or a Hugging Face config.json) as a spec a person would edit:
    names from the graph, repeated structure folded into blocks and repeats, totals pinned."""
    from ..engine import analyze
    from ..readers.yaml_ import parse
    from ..render.problems import FileReport, render_pretty, summarise
    from ..render.terminal import visible
    from ..spec_writer import to_yaml

    try:
        doc = load_document(model, input_shape)
    except UsageProblem as exc:
        fail_usage(str(exc))
    analysis = analyze(doc, input_shape=input_shape, seq=seq)
    try:
        check_seq(model, analysis, seq)
    except UsageProblem as exc:
        fail_usage(str(exc))
    if analysis.errors or doc.root is None or analysis.output is None:
        report = FileReport(file=doc.file, diagnostics=analysis.diagnostics, source_text=doc.text)
        sys.stderr.write(render_pretty([report], summarise([report])))
        sys.exit(EXIT_ERRORS)
    # what is written: names and the file's name with unsafe characters as visible escapes
    warned = [d for d in doc.diagnostics if d.severity == "warning"]  # the reader's, about the file
    text = visible(to_yaml(doc.root, analysis, os.path.basename(model), notes=[d.message for d in warned]))
    # the written spec must check itself (its `expect` pins are the model's figures): a spec
    # archcalc would reject is not written, and says why, exit 1
    written = analyze(parse(text, output or "imported.yaml"), input_shape=input_shape, seq=seq)
    if written.errors:
        report = FileReport(file=written.file, diagnostics=written.diagnostics, source_text=text)
        sys.stderr.write("archcalc: error: the spec written from the model does not check itself; "
                         "it is not written:\n" + render_pretty([report], summarise([report])))
        sys.exit(EXIT_ERRORS)
    write_output(text, output, force, inputs=(model,))
    if warned:
        report = FileReport(file=doc.file, diagnostics=warned, source_text=doc.text)
        sys.stderr.write(render_pretty([report], summarise([report])))
    sys.exit(EXIT_OK)
