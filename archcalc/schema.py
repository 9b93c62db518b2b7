"""A JSON Schema (draft-07) of the spec format, generated from the layer registry.

Editors with a YAML language server (VS Code's YAML extension, JetBrains IDEs) use it to
autocomplete kinds and fields, show each field's documentation on hover, and flag typos as
you type. It describes the same format the engine checks, so it can only be as strict as a
schema can be: block names are the user's own (any other key is accepted as a block call),
and `$arg` / `${expr}` references are accepted wherever a value stands. `archcalc validate`
remains the authority; the schema is the editor's early warning.

Draft-07 because it is what the YAML language server supports best.
"""
from __future__ import annotations

from .composites import COMPOSITES
from .layers import REGISTRY
from .layers.base import SHAPE

SCHEMA_ID = "https://archcalc.dev/schema/spec-v1.json"
DRAFT = "http://json-schema.org/draft-07/schema#"

# `$name` or `${expression}`: a block argument standing for a value.
REFERENCE = {"type": "string", "pattern": r"^\$([A-Za-z_][A-Za-z0-9_]*|\{.+\})$",
             "description": "a block argument: `$name` or `${expression}`"}
COUNT = {"anyOf": [{"type": "integer", "minimum": 0},
                   {"type": "string", "pattern": r"^\s*[0-9][0-9_,]*(\.[0-9]+)?\s*[kKmMgGtT]?\s*$"}],
         "description": "an exact count, or one with a unit: 5000000, 5M, 2.5G"}


def _allow_references(schema: dict) -> dict:
    """Let a block argument stand wherever a plain value, or an item of a list value, stands."""
    ref = {"$ref": "#/definitions/reference"}

    def items_too(s: dict) -> dict:
        for key in ("oneOf", "anyOf"):
            if key in s:
                return {key: [items_too(sub) for sub in s[key]]}
        if s.get("type") == "array" and isinstance(s.get("items"), dict):
            return {**s, "items": {"anyOf": [s["items"], ref]}}
        return s

    return {"anyOf": [items_too(schema), ref]}


def _shape_schema() -> dict:
    """[H, W, C], [T, D] or [N]."""
    items = SHAPE.schema.get("items", {"type": "integer", "minimum": 1})
    return {"description": "[height, width, channels] for a volume, [tokens, features] for a token "
                           "sequence, [features] for a vector",
            "anyOf": [{"type": "array", "items": items, "minItems": n, "maxItems": n} for n in (3, 2, 1)]}


def _yaml_default(value):
    """A field's normalised default written the way a user would (padding (0,0,0,0) -> 0)."""
    if isinstance(value, tuple):
        return value[0] if value and len(set(value)) == 1 else list(value)
    return value


FROZEN = {"type": "boolean", "default": False,
          "description": "true: training leaves this layer's parameters (every layer's, on a composite "
                         "or block) alone; they count in `params`, not in `trainable_params`"}


def _ignore_schema() -> dict:
    """`ignore`: a warning code or a list of them (errors cannot be ignored)."""
    from .diagnostics import CATALOGUE, WARNING

    code = {"enum": sorted(c for c, (severity, *_) in CATALOGUE.items() if severity == WARNING)}
    return {"anyOf": [code, {"type": "array", "items": code}],
            "description": "warning codes to ignore here; they are listed as ignored, not dropped"}


def _common_properties(frozen: bool = True) -> dict:
    extra = {"frozen": _allow_references(FROZEN)} if frozen else {}
    return {**extra,
        "name": {"type": ["string", "integer"],
                 "description": "a unique layer name (no '.'); generated when omitted"},
        "expect": {"anyOf": [{"$ref": "#/definitions/shape"}, {"$ref": "#/definitions/reference"}],
                   "description": "the output shape this layer must produce; a mismatch is an error"},
        "ignore": _ignore_schema(),
        "when": _allow_references({"type": ["boolean", "integer"],
                                   "description": "false (or 0): the entry is left out (an optional "
                                                  "layer; usually `when: $flag` inside a block)"}),
        "from": {"type": ["string", "integer"],
                 "description": "read the output of this earlier layer or named block (or `input`) "
                                "instead of the previous entry's"},
    }


def kind_schema(kind) -> dict:
    """The body of one leaf kind: a mapping of its fields, its primary value, or nothing."""
    properties = _common_properties(frozen=kind.has_params)
    required = []
    for name, spec in kind.fields.items():
        prop = _allow_references(dict(spec.type.schema))
        if spec.doc:
            prop["description"] = spec.doc
        default = _yaml_default(spec.default)
        if not spec.required and default is not None:
            prop["default"] = default
        properties[name] = prop
        if spec.required:
            required.append(name)
    mapping = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        mapping["required"] = required
    forms = [mapping]
    if kind.primary:
        primary = kind.fields[kind.primary]
        forms.insert(0, _allow_references(dict(primary.type.schema)))
    if not required:
        forms.append({"type": "null"})
    return {"description": kind.doc, "anyOf": forms}


def composite_schemas() -> dict:
    """Each composite's schema, declared by its unit (archcalc/composites/)."""
    common = _common_properties()
    layers = {"$ref": "#/definitions/layers"}
    return {name: unit.schema(layers, common, _allow_references) for name, unit in COMPOSITES.items()}


def build_schema() -> dict:
    from .engine import TOTAL_KEYS

    kinds = {name: kind_schema(kind) for name, kind in REGISTRY.items()}
    composites = composite_schemas()
    bare = sorted(name for name, kind in REGISTRY.items()
                  if not any(spec.required for spec in kind.fields.values()))
    entry_properties = {**{n: {"$ref": f"#/definitions/kinds/{n}"} for n in kinds},
                        **{n: {"$ref": f"#/definitions/composites/{n}"} for n in composites}}
    totals = {key: ({"$ref": "#/definitions/shape"} if key == "output" else COUNT) for key in TOTAL_KEYS}
    return {
        "$schema": DRAFT,
        "$id": SCHEMA_ID,
        "title": "archcalc network spec",
        "description": "A neural network for archcalc: input shape, layers, reusable blocks and "
                       "pinned totals. See `archcalc validate` for the full checks.",
        "type": "object",
        "required": ["input", "layers"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": ["string", "integer"], "description": "the network's identifier"},
            "title": {"type": "string", "description": "free text"},
            "reference": {"type": "string", "description": "paper or source, free text"},
            "input": {"anyOf": [
                {"$ref": "#/definitions/shape"},
                {"type": "object", "required": ["tokens"], "additionalProperties": False,
                 "properties": {"tokens": {"type": "integer", "minimum": 1,
                                           "description": "T, the sequence length (--seq overrides it)"}},
                 "description": "T token ids, the input of a token embedding"}],
                      "description": "[height, width, channels] for a volume, [tokens, features] for a token "
                                     "sequence, [features] for a vector, or {tokens: T} for token ids"},
            "blocks": {"type": "object", "description": "reusable parameterised blocks, used like kinds",
                       "additionalProperties": {"$ref": "#/definitions/block"}},
            "layers": {"$ref": "#/definitions/layers"},
            "ignore": _ignore_schema(),
            "expect": {"type": "object", "description": "pinned totals and budgets; a mismatch is an error",
                       "properties": totals, "additionalProperties": False},
        },
        "definitions": {
            "shape": _shape_schema(),
            "reference": REFERENCE,
            "layers": {"type": "array", "items": {"$ref": "#/definitions/entry"},
                       "description": "layers in order: `- kind`, `- kind: value` or `- kind: {fields}`"},
            "entry": {"anyOf": [
                {"type": "string", "enum": bare, "description": "a kind without required fields"},
                {"type": "string", "description": "a block without required arguments"},
                {"type": "object", "minProperties": 1, "maxProperties": 1,
                 "properties": entry_properties,
                 "additionalProperties": {"$ref": "#/definitions/block_call"}},
            ]},
            "block_call": {"description": "a call of a block declared under `blocks`: its arguments",
                           "type": ["object", "null"]},
            "block": {"type": "object", "required": ["layers"], "additionalProperties": False,
                      "properties": {
                          "args": {"type": ["object", "null"],
                                   "description": "argument -> default (null = required)"},
                          "layers": {"$ref": "#/definitions/layers"},
                          "doc": {"type": "string"}}},
            "kinds": kinds,
            "composites": composites,
        },
    }


def schema_text() -> str:
    import json

    return json.dumps(build_schema(), indent=2, ensure_ascii=False) + "\n"
