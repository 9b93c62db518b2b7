"""The way in: a SPEC argument (built-in name, path, or '-') → a ``Document`` of located values.

One module per format, each with ``read(path, **options) -> Document`` (options it does not
use are ignored), chosen from ``READERS``: a new format is one module plus one entry there.
Every reader builds the same located values (``located.py``) a hand-written spec gives, so
the engine, its diagnostics and every view work on whatever was read.

Nothing here imports a reader, the engine or the zoo's index at import time: start-up stays
lazy, and the located-value model (which ``diagnostics`` uses) imports nothing back.
"""
from __future__ import annotations

import os
from typing import NamedTuple


class SpecNotFound(Exception):
    def __init__(self, spec: str, suggestion: str = ""):
        super().__init__(spec)
        self.spec = spec
        self.suggestion = suggestion


class ImportRefused(Exception):
    """A model file that cannot be imported at all (no onnx package, not a model): exit 2."""


class Reader(NamedTuple):
    """One input format."""

    name: str  #: what the docs call the format
    module: str  #: the module under archcalc.readers with read(path, **options) -> Document
    suffixes: tuple = ()  #: a file whose name ends so (any case) is this format
    #: the module's claims(doc) recognises a YAML/JSON document of this format by its content
    #: (read from standard input, or named otherwise); its convert(doc) makes it a spec
    by_content: bool = False


#: the formats, tried in order; the last one, YAML, reads every file no other one claims
READERS = (
    Reader("ONNX model", "onnx_", (".onnx",)),
    Reader("Hugging Face config", "hf_config", ("config.json",), by_content=True),
    Reader("YAML spec", "yaml_"),
)


def _module(reader: Reader):
    import importlib

    return importlib.import_module(f"{__name__}.{reader.module}")


def reader_for(path: str) -> Reader:
    """The reader of a file named ``path`` (by its name; the YAML reader when none claims it)."""
    lowered = path.lower()
    for reader in READERS:
        if reader.suffixes and lowered.endswith(reader.suffixes):
            return reader
    return READERS[-1]


def read(path: str, **options):
    """Read the file (or ``-``) with the reader its name or content chooses."""
    reader = READERS[-1] if path == "-" else reader_for(path)
    doc = _module(reader).read(path, **options)
    if reader is READERS[-1]:  # a YAML/JSON document may be another format written in it
        for other in READERS:
            if other.by_content:
                module = _module(other)
                if module.claims(doc):
                    return module.convert(doc)
    return doc


def load_spec(spec: str, input_shape=None):
    """Raises SpecNotFound (unknown name), IsADirectoryError/PermissionError/OSError (unreadable);
    for a model file also ImportRefused. ``input_shape`` is the
    caller's --input, which an imported model with a symbolic size needs."""
    if spec == "-":
        return read("-", input_shape=input_shape)
    # lexists: a dangling symlink or a symlink loop is a file the user named, whose reading
    # fails with its own reason, not an unknown built-in name
    if os.path.lexists(spec):
        if os.path.isdir(spec):
            raise IsADirectoryError(spec)
        return read(spec, input_shape=input_shape)
    from . import zoo

    path = zoo.find(spec)
    if path is None:
        raise SpecNotFound(spec, zoo.suggest(spec))
    return read(path)
