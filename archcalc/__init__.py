"""archcalc — exact, fast neural-network architecture arithmetic from YAML specs.

Public API (lazy, so ``import archcalc`` stays cheap)::

    from archcalc import load, analyze
    analysis = analyze(load("vgg16"))
    analysis.totals.params   # 138357544
"""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["load", "analyze", "__version__"]


def load(spec: str):
    """Load a spec from a built-in name, a path, or '-' (stdin) into a Document.

    Raises FileNotFoundError for a name that is neither a file nor a built-in network.
    """
    from .readers import load_spec

    return load_spec(spec)


def analyze(document, input_shape=None):
    from .engine import analyze as _analyze

    return _analyze(document, input_shape=input_shape)
