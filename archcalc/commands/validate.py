"""`archcalc validate PATH...`: located diagnostics for many files, exit 1 on error."""
from __future__ import annotations

import sys

import click

from ..cli import EXIT_ERRORS, EXIT_OK, EXIT_USAGE, UsageProblem, load_document

@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
def validate(paths, strict):
    """Check spec files and report every problem, located. Exit 1 on any error."""
    from ..engine import analyze

    errors = warnings = 0
    unreadable = False
    for path in paths:
        try:
            analysis = analyze(load_document(path))
        except UsageProblem as exc:
            click.echo(f"archcalc: error: {exc}", err=True)
            unreadable = True
            continue
        for d in analysis.diagnostics:
            click.echo(f"{d.file}:{d.line}:{d.column}: [{d.severity}] {d.code} {d.message}"
                       + (f" (hint: {d.hint})" if d.hint else ""))
        errors += len(analysis.errors)
        warnings += len(analysis.warnings)
    click.echo(f"{len(paths)} file{'s' if len(paths) != 1 else ''} checked: {errors} error"
               f"{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}")
    if unreadable:
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_ERRORS if errors or (strict and warnings) else EXIT_OK)


