"""`archcalc schema`: generated from the registry, complete, and accepting the zoo.

jsonschema is not a dependency, so a tiny validator for the keywords the schema uses lives
here; when jsonschema happens to be importable it checks the same documents too.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from archcalc.composites import COMPOSITES
from archcalc.layers import REGISTRY

SPECS = Path(__file__).resolve().parent.parent / "specs"
ZOO_FILES = sorted(SPECS.glob("*.yaml")) + sorted((SPECS / "examples").glob("*.yaml"))
KEYWORDS = {"$schema", "$id", "$ref", "title", "description", "default", "type", "enum", "properties",
            "required", "additionalProperties", "items", "minItems", "maxItems", "minimum", "maximum",
            "exclusiveMinimum", "exclusiveMaximum", "pattern", "anyOf", "oneOf", "minProperties", "maxProperties", "definitions"}


def tiny_errors(schema, value, root, path="$"):
    """Errors of ``value`` against ``schema`` for the draft-07 keywords archcalc's schema uses."""
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return tiny_errors(target, value, root, path)
    errors = []
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        checks = {"object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list),
                  "string": lambda v: isinstance(v, str), "null": lambda v: v is None,
                  "boolean": lambda v: isinstance(v, bool),
                  "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
                  "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)}
        if not any(checks[t](value) for t in names):
            return [f"{path}: {value!r} is not {types}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if "minimum" in schema and isinstance(value, (int, float)) and value < schema["minimum"]:
        errors.append(f"{path}: {value} < {schema['minimum']}")
    if "maximum" in schema and isinstance(value, (int, float)) and value > schema["maximum"]:
        errors.append(f"{path}: {value} > {schema['maximum']}")
    if "exclusiveMinimum" in schema and isinstance(value, (int, float)) and value <= schema["exclusiveMinimum"]:
        errors.append(f"{path}: {value} <= {schema['exclusiveMinimum']}")
    if "exclusiveMaximum" in schema and isinstance(value, (int, float)) and value >= schema["exclusiveMaximum"]:
        errors.append(f"{path}: {value} >= {schema['exclusiveMaximum']}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            errors.append(f"{path}: {len(value)} items")
        if "items" in schema:
            for i, item in enumerate(value):
                errors += tiny_errors(schema["items"], item, root, f"{path}[{i}]")
    if isinstance(value, dict):
        if len(value) < schema.get("minProperties", 0) or len(value) > schema.get("maxProperties", len(value)):
            errors.append(f"{path}: {len(value)} properties")
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing {key!r}")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                errors += tiny_errors(properties[key], item, root, f"{path}.{key}")
            elif extra is False:
                errors.append(f"{path}: unexpected {key!r}")
            elif isinstance(extra, dict):
                errors += tiny_errors(extra, item, root, f"{path}.{key}")
    for key in ("anyOf", "oneOf"):
        if key in schema:
            passing = [s for s in schema[key] if not tiny_errors(s, value, root, path)]
            if not passing or (key == "oneOf" and len(passing) > 1):
                errors.append(f"{path}: {value!r} matches {len(passing)} of the {key} alternatives")
    return errors


def validators(schema):
    found = [lambda value: tiny_errors(schema, value, schema)]
    try:
        import jsonschema
    except ImportError:
        return found
    jsonschema.Draft7Validator.check_schema(schema)
    checker = jsonschema.Draft7Validator(schema)
    found.append(lambda value: [e.message for e in checker.iter_errors(value)])
    return found


@pytest.fixture(scope="module")
def schema():
    from click.testing import CliRunner

    from archcalc.cli import main

    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0 and result.stderr == ""
    return json.loads(result.stdout)


def test_schema_uses_only_known_keywords_and_resolvable_refs(schema):
    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                target = schema
                for part in node["$ref"].lstrip("#/").split("/"):
                    target = target[part]  # KeyError = a dangling reference
            for key, value in node.items():
                if key == "definitions":
                    for name, sub in value.items():
                        for schema_ in (sub.values() if name in ("kinds", "composites") else [sub]):
                            walk(schema_)
                elif key == "properties":
                    for sub in value.values():
                        walk(sub)
                elif key not in ("enum", "default", "required"):
                    assert key in KEYWORDS, key
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    walk(schema)


def test_every_registered_kind_and_field_is_in_the_schema(schema):
    kinds = schema["definitions"]["kinds"]
    assert set(kinds) == set(REGISTRY)
    for name, kind in REGISTRY.items():
        mapping = [form for form in kinds[name]["anyOf"] if form.get("type") == "object"][0]
        # `frozen` only where there are parameters to freeze (a relu has none)
        common = {"name", "expect", "from", "ignore", "when"} | ({"frozen"} if kind.has_params else set())
        assert set(mapping["properties"]) == set(kind.fields) | common, name
        assert set(mapping.get("required", [])) == {f for f, spec in kind.fields.items() if spec.required}
        for field, spec in kind.fields.items():
            if spec.doc:
                assert mapping["properties"][field]["description"] == spec.doc
    entry = schema["definitions"]["entry"]["anyOf"][2]["properties"]
    assert set(entry) == set(REGISTRY) | set(COMPOSITES)
    assert set(schema["definitions"]["composites"]) == set(COMPOSITES)
    assert set(schema["definitions"]["block"]["properties"]) == {"args", "layers", "doc"}
    assert {"input", "layers", "blocks", "expect"} <= set(schema["properties"])


@pytest.mark.parametrize("path", ZOO_FILES, ids=lambda p: p.name)
def test_zoo_specs_validate_against_the_schema(schema, path):
    value = yaml.safe_load(path.read_text())
    for errors_of in validators(schema):
        assert errors_of(value) == []


BAD = {
    "layerscale init zero": "input: [8]\nlayers:\n  - layerscale: 0\n",
    "groupnorm without groups": "input: [4, 4, 8]\nlayers:\n  - groupnorm: {affine: true}\n",
    "droppath mode unknown": "input: [8]\nlayers:\n  - droppath: {rate: 0.1, mode: sample}\n",
    "typo in a field": "input: [8, 8, 3]\nlayers:\n  - conv: {filters: 8, kernal: 3}\n",
    "bool for a size": "input: [8, 8, 3]\nlayers:\n  - conv: {filters: true, kernel: 3}\n",
    "unknown top-level key": "input: [8]\nlayer: [relu]\nlayers: [relu]\n",
    "missing layers": "input: [8]\n",
    "bad input": "input: [8, 8, 8, 8]\nlayers: [relu]\n",
    "two-key entry": "input: [8]\nlayers:\n  - {dense: 3, relu: null}\n",
    "repeat without times": "input: [8]\nlayers:\n  - repeat: {layers: [relu]}\n",
    "merge neither add, mul nor concat": "input: [8]\nlayers:\n  - parallel: {branches: [[]], merge: max}\n",
    "dropout rate above 1": "input: [8]\nlayers:\n  - dropout: 1.5\n",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_schema_flags_what_validate_flags(schema, case, cli, spec_file):
    value = yaml.safe_load(BAD[case])
    for errors_of in validators(schema):
        assert errors_of(value) != []
    assert cli("validate", spec_file(BAD[case]), "-q").code == 1


def test_block_references_are_accepted_where_values_stand(schema):
    spec = yaml.safe_load("input: [8, 8, 3]\nblocks:\n  b:\n    args: {k: 3, f: null}\n    layers:\n"
                          "      - conv: {filters: $f, kernel: [$k, '${k + 2}'], padding: $k}\n"
                          "layers:\n  - b: {f: 4}\n")
    for errors_of in validators(schema):
        assert errors_of(spec) == []
