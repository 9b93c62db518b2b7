"""Resolve a SPEC argument (built-in name, path, or '-') to a parsed Document."""
from __future__ import annotations

import os

from . import source, zoo


class SpecNotFound(Exception):
    def __init__(self, spec: str, suggestion: str = ""):
        super().__init__(spec)
        self.spec = spec
        self.suggestion = suggestion


class ImportRefused(Exception):
    """A model file that cannot be imported at all (no onnx package, not a model): exit 2."""


def load_spec(spec: str, input_shape=None) -> source.Document:
    """Raises SpecNotFound (unknown name), IsADirectoryError/PermissionError/OSError (unreadable);
    for a model file also ImportRefused. ``input_shape`` is the
    caller's --input, which an imported model with a symbolic size needs."""
    if spec == "-":
        from . import hf_config

        doc = source.read("-")
        return hf_config.convert(doc) if hf_config.wants("-", doc) else doc
    # lexists: a dangling symlink or a symlink loop is a file the user named, whose reading
    # fails with its own reason, not an unknown built-in name
    if os.path.lexists(spec):
        if os.path.isdir(spec):
            raise IsADirectoryError(spec)
        if spec.lower().endswith(".onnx"):
            from . import onnx_

            return onnx_.read(spec, input_shape)
        doc = source.read(spec)
        from . import hf_config

        return hf_config.convert(doc) if hf_config.wants(spec, doc) else doc
    path = zoo.find(spec)
    if path is None:
        raise SpecNotFound(spec, zoo.suggest(spec))
    doc = source.read(path)
    return doc
