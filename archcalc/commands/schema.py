"""`archcalc schema`: the JSON Schema of the spec format, for editors and other tools."""
from __future__ import annotations

import click

from ..cli import write


@click.command()
def schema():
    """Print the JSON Schema (draft-07) of spec files, generated from the layer registry.

    Save it and point your editor at it, e.g. VS Code's YAML extension:
    "yaml.schemas": {"./archcalc.schema.json": "specs/*.yaml"}.
    """
    from ..schema import schema_text

    write(schema_text())
