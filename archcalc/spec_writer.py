"""A loaded model (spec values) -> a spec file a person would want to edit.

Pure: values in, YAML text out. Used by `archcalc import` for ONNX graphs and Hugging Face
configs, whose importers produce the flat, fully spelled-out values of a spec. Here they
are made readable:

1. fields equal to their kind's default are dropped, and `[3, 3]` is written `3`;
2. branch sets (``parallel``) of the same structure become one block, the values that
   differ between them its arguments (a ResNet's bottleneck: `filters`, `stride`, …);
3. runs of identical entries (or of identical groups of up to four entries) become a
   ``repeat``, named after what the runs' names share;
4. the analysis' totals are pinned under ``expect``, so the written spec checks itself.
"""
from __future__ import annotations

import json
import os

from .composites import COMPOSITES
from .layers import REGISTRY

MAX_PERIOD = 4  # the longest group of entries a repeat folds (conv, batchnorm, relu, pool)


# ------------------------------------------------------------------------------ values
def _plain(value):
    """Located values -> plain dicts, lists and scalars."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _kind_of(entry):
    if isinstance(entry, str):
        return entry, {}
    (kind, fields), = entry.items()
    return kind, fields if isinstance(fields, dict) else {}


def _branch_set(kind) -> bool:
    """Whether ``kind`` is a composite whose `branches` fold into blocks (its ``branch_set``)."""
    unit = COMPOSITES.get(kind)
    return unit is not None and unit.branch_set


def _compact(value):
    if isinstance(value, list) and value and all(v == value[0] for v in value):
        return value[0]
    if isinstance(value, list) and len(value) == 4 and value[0] == value[1] and value[2] == value[3]:
        return [value[0], value[2]]
    return value


def _normalised(declared, value):
    try:
        return declared.type.check(list(value) if isinstance(value, tuple) else value)
    except Exception:  # noqa: BLE001 - a value the kind refuses is kept as it is
        return None


def simplify(entry):
    """Drop default fields of a leaf, shorten equal pairs; composites recursively."""
    kind, fields = _kind_of(entry)
    unit = COMPOSITES.get(kind)
    if unit is not None and unit.writer_entries is not None:
        key, nesting = unit.writer_entries
        fields = dict(fields)
        fields[key] = [[simplify(e) for e in branch] for branch in fields[key]] if nesting == 2 else \
            [simplify(e) for e in fields[key]]
        return {kind: fields}
    spec = REGISTRY.get(kind)
    if spec is None:
        return entry
    out = {"name": fields["name"]} if "name" in fields else {}
    for key, value in fields.items():
        declared = spec.fields.get(key)
        if key == "name" or declared is not None and not declared.required and declared.default is not None \
                and _normalised(declared, value) == declared.default:
            continue
        out[key] = _compact(value) if isinstance(value, list) else value
    if "size" in out and out.get("stride") == out["size"]:
        del out["stride"]  # a pool's stride defaults to its size
    if not out:
        return kind
    return {kind: out}


# ------------------------------------------------------------------------------ blocks
AFTER = "__after__"  # inside a branch set's fields: the leaves of the same module after its merge


def _scope_of(entry):
    """'layer1/layer1_0/relu_2/Relu' -> 'layer1/layer1_0' (the ONNX node's module path)."""
    fields = _kind_of(entry)[1]
    name = fields.get("name")
    if not isinstance(name, str) or "/" not in name:
        return None
    return name.rsplit("/", 1)[0]


def units(entries):
    """Attach to each branch set the leaves after it that belong to the same module (a
    ResNet block's last relu), so that one block stands for the whole module."""
    out = []
    i = 0
    while i < len(entries):
        entry = entries[i]
        kind, fields = _kind_of(entry)
        if _branch_set(kind):
            fields = dict(fields)
            fields["branches"] = [units(b) for b in fields["branches"]]
            scope = _scope_of(entry)
            j = i + 1
            while scope and j < len(entries) and not _branch_set(_kind_of(entries[j])[0]) \
                    and str(_kind_of(entries[j])[1].get("name", "")).startswith(scope + "/"):
                j += 1
            fields[AFTER] = entries[i + 1:j]
            out.append({kind: fields})
            i = j
            continue
        out.append(entry)
        i += 1
    return out


def _signature(entry):
    """The structure of an entry without names and numbers: what one block may stand for."""
    kind, fields = _kind_of(entry)
    if _branch_set(kind):
        return (kind, fields.get("merge"), _shape_of(fields.get("split")),
                tuple(tuple(_signature(e) for e in branch) for branch in fields["branches"]),
                tuple(_signature(e) for e in fields.get(AFTER, ())))
    if isinstance(entry, str):
        return (kind,)
    return (kind, tuple(sorted((k, _shape_of(v)) for k, v in fields.items() if k != "name")))


def _shape_of(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return "#"
    if isinstance(value, list):
        return tuple(_shape_of(v) for v in value)
    return value


def _parallels(entries, found):
    for entry in entries:
        kind, fields = _kind_of(entry)
        if _branch_set(kind):
            found.append(entry)
            for branch in fields["branches"]:
                _parallels(branch, found)


def _parts(entry):
    """The entries inside a branch set, in order: its branches', then those after its merge."""
    fields = _kind_of(entry)[1]
    for branch in fields["branches"]:
        yield from branch
    yield from fields.get(AFTER, ())


def _numbers(entry, out):
    """Every integer of an entry outside names, in a fixed order (the anti-unification's positions)."""
    kind, fields = _kind_of(entry)
    if _branch_set(kind):
        _collect(fields.get("split"), "split", out)  # first, as _template substitutes it
        for e in _parts(entry):
            _numbers(e, out)
        return out
    for key in sorted(fields):
        if key != "name":
            _collect(fields[key], key, out)
    return out


def _collect(value, key, out):
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        out.append((key, value))
    elif isinstance(value, list):
        for v in value:
            _collect(v, key, out)


def _names(entry, out):
    kind, fields = _kind_of(entry)
    if _branch_set(kind):
        for e in _parts(entry):
            _names(e, out)
    elif isinstance(fields.get("name"), str):
        out.append(fields["name"])
    return out


def _common_scope(names):
    """What names share: 'layer1/layer1_0/conv1/Conv', 'layer1/layer1_0/bn1/…' -> 'layer1_0';
    'layer2_1', 'layer2_2' -> 'layer2'. None when they share nothing readable."""
    parts = [n.strip("/").split("/") for n in names if n]
    if not parts:
        return None
    common = []
    for segment in zip(*parts):
        if all(s == segment[0] for s in segment):
            common.append(segment[0])
        else:
            break
    if common:
        return common[-1]
    prefix = os.path.commonprefix([p[0] for p in parts]).rstrip("_-/ ")
    return prefix if prefix and (prefix[0].isalpha() or prefix[0] == "_") else None


class _Blocks:
    def __init__(self):
        self.blocks: dict[str, dict] = {}
        self.calls: dict[int, object] = {}  # id(branch-set entry) -> its block call
        self.counter: dict[str, int] = {}

    def extract(self, layers):
        found: list = []
        _parallels(layers, found)
        groups: dict = {}
        for entry in found:
            groups.setdefault(_signature(entry), []).append(entry)
        inside: set[int] = set()
        for entry in found:  # outermost first: a member's own branch sets stay in its body
            if id(entry) in inside or id(entry) in self.calls:
                continue
            members = [m for m in groups[_signature(entry)] if id(m) not in inside]
            if len(members) < 2:
                continue
            self.define(members)
            for member in members:
                nested: list = []
                _parallels(list(_parts(member)), nested)
                inside.update(id(e) for e in nested)

    def define(self, members):
        columns = list(zip(*(_numbers(m, []) for m in members)))
        args: dict[tuple, str] = {}  # the values one argument takes across the members -> its name
        position_arg: list = []
        used: set[str] = set()
        for column in columns:
            values = tuple(v for _, v in column)
            if all(v == values[0] for v in values):
                position_arg.append(None)
                continue
            if values not in args:
                base = column[0][0]
                name, n = base, 1
                while name in used:
                    n += 1
                    name = f"{base}{n}"
                used.add(name)
                args[values] = name
            position_arg.append(args[values])
        merge = _kind_of(members[0])[1].get("merge", "concat")
        self.counter[merge] = self.counter.get(merge, 0) + 1
        block = f"{merge}_block{self.counter[merge]}"
        body = _template(members[0], iter(position_arg))
        self.blocks[block] = {"args": {name: None for name in args.values()}, "layers": body}
        for index, member in enumerate(members):
            call = {}
            scope = _common_scope(_names(member, []))
            if scope:
                call["name"] = scope
            for values, name in args.items():
                call[name] = values[index]
            self.calls[id(member)] = {block: call}

    def replace(self, entries):
        out = []
        for entry in entries:
            call = self.calls.get(id(entry))
            if call is not None:
                out.append(call)
                continue
            kind, fields = _kind_of(entry)
            if _branch_set(kind):
                after = fields.get(AFTER, ())
                fields = {k: v for k, v in fields.items() if k != AFTER}
                fields["branches"] = [self.replace(b) for b in fields["branches"]]
                out.append({kind: fields})
                out.extend(after)
                continue
            out.append(entry)
        return out


def _template(entry, positions) -> list:
    """``entry`` as block layers: no names, each varying integer replaced by ``$arg`` (in
    _numbers' order)."""
    kind, fields = _kind_of(entry)
    if _branch_set(kind):
        split = {"split": _substitute(fields["split"], positions)} if "split" in fields else {}
        branches = [[e for part in b for e in _template(part, positions)] for b in fields["branches"]]
        after = [e for part in fields.get(AFTER, ()) for e in _template(part, positions)]
        return [{kind: {"merge": fields.get("merge", "concat"), **split, "branches": branches}}] + after
    if isinstance(entry, str):
        return [entry]
    out = {key: _substitute(fields[key], positions) for key in sorted(fields) if key != "name"}
    ordered = {k: out[k] for k in fields if k in out}  # the kind's own field order
    return [{kind: ordered} if ordered else kind]


def _substitute(value, positions):
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        arg = next(positions)
        return value if arg is None else f"${arg}"
    if isinstance(value, list):
        return [_substitute(v, positions) for v in value]
    return value


# ------------------------------------------------------------------------------ repeats
def _unnamed(entry):
    kind, fields = _kind_of(entry)
    if isinstance(entry, str) or "name" not in fields:
        return entry
    rest = {k: v for k, v in fields.items() if k != "name"}
    return {kind: rest} if rest else kind


def fold(entries):
    """Runs of identical entries (names aside), or of identical groups of up to four, -> repeat."""
    out = []
    i = 0
    keys = [json.dumps(_unnamed(e), sort_keys=True) for e in entries]
    while i < len(entries):
        best = (1, 1)  # (period, times)
        for period in range(1, MAX_PERIOD + 1):
            times = 1
            while keys[i + times * period:i + (times + 1) * period] == keys[i:i + period] \
                    and i + (times + 1) * period <= len(entries):
                times += 1
            if times > 1 and period * times > best[0] * best[1]:
                best = (period, times)
        period, times = best
        if times == 1:
            entry = entries[i]
            kind, fields = _kind_of(entry)
            if _branch_set(kind):
                fields = dict(fields)
                fields["branches"] = [fold(b) for b in fields["branches"]]
                entry = {kind: fields}
            out.append(entry)
            i += 1
            continue
        run = entries[i:i + period * times]
        names = []
        for e in run:
            names.extend(_names(e, []))
        repeat = {}
        scope = _common_scope(names)
        if scope and scope not in ("", "."):
            repeat["name"] = scope
        repeat["times"] = times
        repeat["layers"] = [_unnamed(e) for e in run[:period]]
        out.append({"repeat": repeat})
        i += period * times
    return out


# ------------------------------------------------------------------------------ writing
def _scalar(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):  # YAML 1.1 reads 1e-12 as text: write 1.0e-12
        text = repr(value)
        mantissa, e, exponent = text.partition("e")
        return f"{mantissa}.0e{exponent}" if e and "." not in mantissa else text
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value).__name__)


def _is_leaf(entry) -> bool:
    """Written on one line as a flow mapping: a leaf, or a composite that is not ``writer_block``."""
    unit = COMPOSITES.get(_kind_of(entry)[0])
    return unit is None or not unit.writer_block


def _write_entries(entries, indent, lines):
    pad = " " * indent
    if not entries:
        lines[-1] += " []"
        return
    for entry in entries:
        if isinstance(entry, str):
            lines.append(f"{pad}- {entry}")
            continue
        kind, fields = _kind_of(entry)
        if _is_leaf(entry):
            lines.append(f"{pad}- {kind}: {_scalar(fields)}")
            continue
        lines.append(f"{pad}- {kind}:")
        inner = " " * (indent + 4)
        for key, value in fields.items():
            if key == "branches":
                lines.append(f"{inner}branches:")
                for branch in value:
                    lines.append(f"{inner}  -")
                    if not branch:
                        lines[-1] += " []"
                    else:
                        _write_entries(branch, indent + 8, lines)
            elif key == "layers":
                lines.append(f"{inner}layers:")
                _write_entries(value, indent + 6, lines)
            else:
                lines.append(f"{inner}{key}: {_scalar(value)}")


def _reads_by_name(entries) -> bool:
    for entry in entries:
        kind, fields = _kind_of(entry)
        unit = COMPOSITES.get(kind)
        if "from" in fields or unit is not None and not unit.source:  # a `from`, or a join's
            return True
        if _branch_set(kind) and any(_reads_by_name(b) for b in fields["branches"]):
            return True
    return False


def unique_names(entries) -> list:
    """Folding names a repeat or a block call after what its members' names share, and two
    runs may share the same ('conv' in every MobileNet stage): the later ones of a list get
    `_2`, `_3`, … so that every name of a level is unique, as the spec format requires; the
    levels inside a branch set's branches likewise, where ``fold`` folds too (a U-Net's nested
    parallels each hold their own runs)."""
    used: set = set()
    for entry in entries:
        kind, fields = _kind_of(entry)
        if _branch_set(kind):
            for branch in fields["branches"]:
                unique_names(branch)
        name = fields.get("name")
        if not isinstance(name, str):
            continue
        if name in used:
            n = 2
            while f"{name}_{n}" in used:
                n += 1
            name = fields["name"] = f"{name}_{n}"
        used.add(name)
    return entries


def to_yaml(values, analysis, source: str, notes=()) -> str:
    """The readable spec of an imported model; ``analysis`` is the source's, for the pins;
    ``notes`` (the reader's warnings about the source) become comments under the header."""
    values = _plain(values)
    given = values.get("blocks") or {}  # a reader that knows the structure (a Hugging Face config)
    layers = [simplify(e) for e in values["layers"]]
    if not given:
        layers = units(layers)
    blocks = _Blocks()
    if not given and not _reads_by_name(layers):
        # folding renames layers, which a graph wired by name (`from`, `join`) reads: kept flat
        blocks.extract(layers)
        layers = unique_names(fold(blocks.replace(layers)))
    lines = [f"# imported by archcalc from {source}; every figure below is pinned under `expect`"]
    lines += [f"# note: {' '.join(note.split())}" for note in notes]
    for key in ("name", "title", "reference"):
        if values.get(key):
            lines.append(f"{key}: {_scalar(values[key])}")
    if getattr(analysis.input, "ids", False):  # token ids
        lines.append(f"input: {{tokens: {analysis.input[0]}}}")
    else:
        lines.append(f"input: {_scalar(list(analysis.input))}")
    if given or blocks.blocks:
        lines.append("blocks:")
        for name, block in given.items():
            lines.append(f"  {name}:")
            if block.get("args"):
                lines.append(f"    args: {_scalar(block['args'])}")
            lines.append("    layers:")
            _write_entries([simplify(e) for e in block["layers"]], 6, lines)
        for name, block in blocks.blocks.items():
            lines.append(f"  {name}:")
            if block["args"]:
                lines.append(f"    args: {_scalar(block['args'])}")
            lines.append("    layers:")
            _write_entries(fold(block["layers"]), 6, lines)
    lines.append("layers:")
    _write_entries(layers, 2, lines)
    totals = analysis.totals
    lines.append("expect:")
    lines.append(f"  params: {totals.params}")
    lines.append(f"  buffers: {totals.buffers}")
    lines.append(f"  macs: {totals.macs}")
    lines.append(f"  output: {_scalar(list(analysis.output))}")
    lines.append(f"  depth: {totals.depth}")
    return "\n".join(lines) + "\n"
