"""The pure engine: a loaded spec in, an ``Analysis`` out. No printing, no exit, no rich.

Two passes:

1. **compile** turns the located YAML values into a small tree of nodes (``Leaf``, ``Seq``,
   ``Repeat``, ``Parallel``, ``Scope``): it normalises the three entry forms, expands
   blocks with their arguments (``$name``, ``${expr}``), and checks every field generically
   against the kind's declaration. A repeat body is compiled once.
2. **evaluate** walks that tree with a shape, applying each kind's rules, naming leaves,
   and recording layers, scope groups and diagnostics. An error stops the shape flow of
   the network, but compilation has already checked every field of every layer.

User mistakes never raise: they become diagnostics stamped with file, line, column and
layer name.
"""
from __future__ import annotations

from math import prod

from .analysis import Analysis, Group, LayerResult, Totals
from .diagnostics import ERROR, Diagnostic, Mark, make
from .layers import COMPOSITES, REGISTRY
from .layers.base import SHAPE, FieldError, RuleError, describe_found, fmt_shape
from .metrics import STORED_GROUPS, effective_window, input_field, through_merge, through_window
from .source import REFUSED, Document, LList, LMap

# Bounds that keep hostile specs fast: how many leaf layers and scopes (block calls, branch
# sets, repeat iterations) a network may expand to. A scope costs about as much to walk as
# a layer, so 19 levels of blocks that each call the next twice (2^19 layers, as many
# scopes) is refused at once instead of taking ten seconds.
MAX_LEAVES = 1_000_000
MAX_BLOCK_DEPTH = 64
TOP_LEVEL_KEYS = ("name", "title", "reference", "input", "blocks", "layers", "expect")
COMMON_KEYS = ("name", "expect")
TOTAL_KEYS = ("params", "buffers", "macs", "flops", "depth", "layers", "output",
              "max_params", "max_macs", "max_flops")


# ------------------------------------------------------------------------------ the node tree
class Leaf:
    __slots__ = ("kind", "fields", "name", "mark", "field_marks", "expect", "expect_mark")

    def __init__(self, kind, fields, name, mark, field_marks, expect, expect_mark):
        self.kind = kind
        self.fields = fields
        self.name = name
        self.mark = mark
        self.field_marks = field_marks
        self.expect = expect
        self.expect_mark = expect_mark


class Broken:
    """Stands where an entry failed to compile (its error is already reported): its output
    is unknown, so the shape flow stops there instead of carrying on as if it were absent."""

    __slots__ = ()
    name = None
    size = 0


BROKEN = Broken()


class Seq:
    __slots__ = ("items", "size", "names")

    def __init__(self, items):
        self.items = items
        self.size = sum(item.size if not isinstance(item, Leaf) else 1 for item in items)
        self.names = tuple(item.name for item in items if item.name)  # explicit, to reserve


class Composite:
    """Repeat, parallel/residual or a block call (kind = the block's name)."""

    __slots__ = ("kind", "name", "mark", "expect", "expect_mark", "size",
                 "times", "body", "branches", "branch_names", "merge")

    def __init__(self, kind, name, mark, expect, expect_mark):
        self.kind = kind
        self.name = name
        self.mark = mark
        self.expect = expect
        self.expect_mark = expect_mark
        self.times = 1
        self.body = None          # Seq, for repeat and block calls
        self.branches = None      # list[Seq], for parallel and residual
        self.branch_names = None
        self.merge = None
        self.size = 0


def _did_you_mean(word: str, options) -> str:
    import difflib

    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""


# ------------------------------------------------------------------------ argument expressions
class _ExprError(Exception):
    pass


def _eval_expression(text: str, env: dict):
    """Integer arithmetic over block arguments: + - * // % and parentheses. Never ``eval``."""
    import re

    tokens = re.findall(r"\s*(\d+|[A-Za-z_][A-Za-z0-9_]*|//|[-+*%()])", text)
    if "".join(t.strip() for t in tokens) != re.sub(r"\s+", "", text):
        raise _ExprError(f"cannot read {text!r}")
    pos = 0

    def peek():
        return tokens[pos].strip() if pos < len(tokens) else None

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1].strip()

    def atom():
        tok = take() if peek() is not None else None
        if tok is None:
            raise _ExprError("the expression ends too early")
        if tok == "(":
            value = expr()
            if take() != ")" if peek() is not None else True:
                raise _ExprError("a '(' is not closed")
            return value
        if tok == "-":
            return -atom()
        if tok.isdigit():
            return int(tok)
        if tok[0].isalpha() or tok[0] == "_":
            if tok not in env:
                raise _ExprError(f"no argument named {tok!r}")
            value = env[tok][0]
            if not isinstance(value, int) or isinstance(value, bool):
                raise _ExprError(f"argument {tok!r} is {describe_found(value)}, not an integer")
            return value
        raise _ExprError(f"unexpected {tok!r}")

    def term():
        value = atom()
        while peek() in ("*", "//", "%"):
            op = take()
            rhs = atom()
            if op == "*":
                value *= rhs
            elif rhs == 0:
                raise _ExprError("division by zero")
            else:
                value = value // rhs if op == "//" else value % rhs
        return value

    def expr():
        value = term()
        while peek() in ("+", "-"):
            value = value + term() if take() == "+" else value - term()
        return value

    result = expr()
    if pos != len(tokens):
        raise _ExprError(f"unexpected {tokens[pos].strip()!r}")
    return result


# ------------------------------------------------------------------------------- compilation
class _Compiler:
    def __init__(self, blocks, diagnostics: list[Diagnostic]):
        self.blocks = blocks  # name -> (definition LMap, mark)
        self.diagnostics = diagnostics
        # A block body depends only on the block and its argument values, so it is compiled
        # once per distinct call: a chain of blocks that each call the previous one twice
        # would otherwise take exponential time before the size bound could reject it.
        self.bodies: dict[tuple, Seq] = {}
        self.called: set[str] = set()  # blocks reached from the network, for `unused-block`

    def error(self, code, message, mark, hint="", layer=None):
        self.diagnostics.append(make(code, message, mark, hint=hint, layer=layer))

    # -- values ---------------------------------------------------------------------------
    def resolve(self, value, mark, env):
        """Replace ``$name`` and ``${expr}`` by argument values. Returns (value, ok)."""
        if isinstance(value, str) and value.startswith("$"):
            if value.startswith("${") and value.endswith("}"):
                try:
                    return _eval_expression(value[2:-1], env), True
                except _ExprError as exc:
                    self.error("bad-expression", f"cannot evaluate {value!r}: {exc}", mark,
                               hint="expressions use integers, argument names, + - * // % and ()")
                    return None, False
            name = value[1:]
            if name in env:
                return env[name][0], True
            where = f"; this block's arguments are {', '.join(sorted(env))}" if env else \
                " outside a block"
            self.error("undefined-reference", f"{value!r} names no argument{where}", mark,
                       hint=_did_you_mean(name, env) or "declare it under the block's `args`")
            return None, False
        if isinstance(value, list) and any(isinstance(v, (str, list)) for v in value):
            out, ok = [], True
            for v in value:
                r, good = self.resolve(v, mark, env)
                out.append(r)
                ok = ok and good
            return out, ok
        return value, True

    def check_field(self, ftype, raw, mark, env, owner: str, key: str, layer):
        value, ok = self.resolve(raw, mark, env)
        if not ok:
            return None, False
        try:
            return ftype.check(value), True
        except FieldError as exc:
            if _holds_refused(value):
                return None, False  # the loader has reported it
            shown = f" (from {raw!r})" if raw is not value and isinstance(raw, str) else ""
            self.error(exc.code, f"{owner} field `{key}` expects {exc.expected}, found "
                       f"{describe_found(exc.found)}{shown}", mark, layer=layer,
                       hint=_type_hint(exc.expected, exc.found))
            return None, False

    def name_of(self, fields: LMap, env, kind: str):
        if "name" not in fields:
            return None
        mark = fields.value_marks["name"]
        value, ok = self.resolve(fields["name"], mark, env)
        if not ok:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
            self.error("wrong-type", f"{kind} field `name` expects a non-empty string, found "
                       f"{describe_found(value)}", mark)
            return None
        value = str(value)
        if "." in value:
            self.error("bad-value", f"layer name {value!r} contains '.', which separates scopes in "
                       "generated names", mark, hint="use '_' or '-' instead")
            return None
        return value

    def expect_of(self, fields: LMap, env, kind, layer):
        if "expect" not in fields:
            return None, None
        mark = fields.value_marks["expect"]
        value, _ = self.check_field(SHAPE, fields["expect"], mark, env, kind, "expect", layer)
        return value, mark

    # -- entries --------------------------------------------------------------------------
    def layer_list(self, value, mark, env, stack, what="layers") -> Seq:
        if value is None:
            return Seq([])
        if not isinstance(value, LList):
            self.error("wrong-type", f"`{what}` expects a list of layers, found {describe_found(value)}",
                       mark, hint="write each layer on its own line starting with '- '")
            return Seq([])
        items = []
        for item, item_mark in zip(value, value.item_marks):
            node = self.entry(item, item_mark, env, stack)
            items.append(BROKEN if node is None else node)
        return Seq(items)

    def entry(self, item, mark, env, stack):
        if isinstance(item, str):
            kind, kind_mark, body, body_mark = item, mark, None, mark
        elif isinstance(item, LMap) and len(item) == 1:
            kind = next(iter(item))
            kind_mark, body, body_mark = item.key_marks[kind], item[kind], item.value_marks[kind]
        elif isinstance(item, LMap) and item:
            kinds = [k for k in item if k in REGISTRY or k in COMPOSITES or k in self.blocks]
            hint = (f"indent the other keys under `{kinds[0]}:` so they become its fields"
                    if len(kinds) == 1 else "a layer entry is a one-key mapping: `- kind: {fields}`")
            self.error("bad-entry", f"a layer entry must have exactly one key (its kind), found "
                       f"{len(item)} keys: {', '.join(item)}", mark, hint=hint)
            return None
        else:
            self.error("bad-entry", f"a layer entry must be a kind name or a one-key mapping, found "
                       f"{describe_found(item)}", mark,
                       hint="e.g. `- relu`, `- dense: 4096` or `- conv: {filters: 64, kernel: 3}`")
            return None

        if kind in REGISTRY:
            return self.leaf(REGISTRY[kind], body, kind_mark, body_mark, env)
        if kind in COMPOSITES:
            return self.composite(kind, body, kind_mark, body_mark, env, stack)
        if kind in self.blocks:
            return self.block_call(kind, body, kind_mark, body_mark, env, stack)
        known = list(REGISTRY) + list(COMPOSITES) + list(self.blocks)
        self.error("unknown-kind", f"unknown layer kind {kind!r}", kind_mark,
                   hint=_did_you_mean(kind, known) or "see `archcalc schema` for the kinds; "
                   "reusable blocks are declared under `blocks`")
        return None

    def fields_of(self, kind_name, primary, body, mark, body_mark):
        """Normalise the entry body to a mapping of fields (or None after an error)."""
        if body is None:
            fields = LMap()
            fields.mark, fields.key_marks, fields.value_marks = mark, {}, {}
            return fields
        if isinstance(body, LMap):
            return body
        if primary is None:
            self.error("bad-entry", f"{kind_name} has no primary field, so it cannot take the value "
                       f"{describe_found(body)}", body_mark,
                       hint=f"write `- {kind_name}` or `- {kind_name}: {{field: value}}`")
            return None
        fields = LMap({primary: body})
        fields.mark, fields.key_marks, fields.value_marks = mark, {primary: body_mark}, {primary: body_mark}
        return fields

    def leaf(self, kind, body, mark, body_mark, env):
        fields = self.fields_of(kind.name, kind.primary, body, mark, body_mark)
        if fields is None:
            return None
        name = self.name_of(fields, env, kind.name)
        expect, expect_mark = self.expect_of(fields, env, kind.name, name)
        values, field_marks, ok = {}, {}, True
        for key, raw in fields.items():
            if key in COMMON_KEYS:
                continue
            spec = kind.fields.get(key)
            kmark = fields.key_marks[key]
            if spec is None:
                accepted = ", ".join(list(kind.fields) + list(COMMON_KEYS))
                self.error("unknown-field", f"{kind.name} has no field {key!r}", kmark, layer=name,
                           hint=(_did_you_mean(key, list(kind.fields) + list(COMMON_KEYS)) + " "
                                 if _did_you_mean(key, list(kind.fields) + list(COMMON_KEYS)) else "")
                           + f"accepted: {accepted}")
                ok = False
                continue
            vmark = fields.value_marks[key]
            value, good = self.check_field(spec.type, raw, vmark, env, kind.name, key, name)
            ok = ok and good
            values[key] = value
            field_marks[key] = vmark
        for key, spec in kind.fields.items():
            if key not in values:
                if spec.required and ok:
                    self.error("missing-field", f"{kind.name} requires the field `{key}`", mark,
                               layer=name, hint=f"e.g. `- {kind.name}: {{{key}: ...}}`")
                    ok = False
                values[key] = spec.default
        if not ok:
            return None
        return Leaf(kind, values, name, mark, field_marks, expect, expect_mark)

    def composite(self, kind, body, mark, body_mark, env, stack):
        if not isinstance(body, LMap):
            example = {"repeat": "{times: 2, layers: [...]}", "parallel": "{branches: [[...], [...]]}",
                       "residual": "{layers: [...], shortcut: [...]}"}[kind]
            self.error("wrong-type", f"{kind} expects a mapping of fields, found {describe_found(body)}",
                       body_mark, hint=f"e.g. `- {kind}: {example}`")
            return None
        accepted = {"repeat": ("times", "layers"), "parallel": ("branches", "merge"),
                    "residual": ("layers", "shortcut")}[kind]
        for key in body:
            if key not in accepted and key not in COMMON_KEYS:
                self.error("unknown-field", f"{kind} has no field {key!r}", body.key_marks[key],
                           hint=(_did_you_mean(key, accepted + COMMON_KEYS) + " ").lstrip()
                           + "accepted: " + ", ".join(accepted + COMMON_KEYS))
        name = self.name_of(body, env, kind)
        expect, expect_mark = self.expect_of(body, env, kind, name)
        node = Composite(kind, name, mark, expect, expect_mark)
        for key in accepted:
            if key not in body and key != "shortcut" and key != "merge":
                self.error("missing-field", f"{kind} requires the field `{key}`", mark, layer=name)
                return None
        if kind == "repeat":
            from .layers.base import POSITIVE_INT

            times, ok = self.check_field(POSITIVE_INT, body["times"], body.value_marks["times"], env,
                                         "repeat", "times", name)
            node.body = self.layer_list(body["layers"], body.value_marks["layers"], env, stack)
            if not ok:
                return None
            node.times = times
            node.size = times * (node.body.size + 1)
        elif kind == "parallel":
            merge = "concat"
            if "merge" in body:
                from .layers.base import choice

                merge, ok = self.check_field(choice("concat", "add"), body["merge"],
                                             body.value_marks["merge"], env, "parallel", "merge", name)
                if not ok:
                    return None
            branches, bmark = body["branches"], body.value_marks["branches"]
            if not isinstance(branches, LList) or not branches:
                self.error("wrong-type", "parallel field `branches` expects a non-empty list of layer "
                           f"lists, found {describe_found(branches)}", bmark,
                           hint="e.g. `branches: [[conv: {filters: 64, kernel: 1}], []]`")
                return None
            node.branches = [self.layer_list(b, m, env, stack, what="branches item")
                             for b, m in zip(branches, branches.item_marks)]
            node.branch_names = [f"branch{i}" for i in range(1, len(branches) + 1)]
            node.merge = merge
        else:  # residual: parallel [layers, shortcut] with merge add
            main = self.layer_list(body["layers"], body.value_marks["layers"], env, stack)
            short = self.layer_list(body.get("shortcut"), body.value_marks.get("shortcut", mark), env,
                                    stack, what="shortcut")
            node.branches = [main, short]
            node.branch_names = ["", "shortcut"]
            node.merge = "add"
        if node.branches is not None:
            node.size = sum(b.size for b in node.branches) + 1
        if node.size > MAX_LEAVES:
            self.error("too-large", f"this {kind} expands to {node.size:,} layers and scopes (limit "
                       f"{MAX_LEAVES:,})", mark, layer=name, hint="use a smaller `times`")
            return None
        return node

    def block_call(self, block, body, mark, body_mark, env, stack):
        definition, def_mark = self.blocks[block]
        self.called.add(block)
        if block in stack or len(stack) >= MAX_BLOCK_DEPTH:
            chain = " -> ".join(stack[stack.index(block):] + (block,)) if block in stack else \
                f"{MAX_BLOCK_DEPTH} nested blocks"
            self.error("block-recursion", f"block {block!r} reaches itself: {chain}", mark,
                       hint="a block may use other blocks, but never itself")
            return None
        fields = self.fields_of(block, None, body, mark, body_mark)
        if fields is None:
            return None
        name = self.name_of(fields, env, block)
        expect, expect_mark = self.expect_of(fields, env, block, name)
        declared = definition.get("args") or {}
        new_env, ok = {}, True
        for key, raw in fields.items():
            if key in COMMON_KEYS:
                continue
            if key not in declared:
                self.error("unknown-arg", f"block {block!r} has no argument {key!r}", fields.key_marks[key],
                           layer=name, hint=(_did_you_mean(key, declared) + " " if _did_you_mean(key, declared)
                                             else "") + "its arguments: " + (", ".join(declared) or "none"))
                ok = False
                continue
            value, good = self.resolve(raw, fields.value_marks[key], env)
            ok = ok and good
            new_env[key] = (value, fields.value_marks[key])
        for key, default in declared.items():
            if key not in new_env:
                if default is None:
                    if ok:
                        self.error("missing-arg", f"block {block!r} requires the argument `{key}`", mark,
                                   layer=name, hint=f"pass it: `- {block}: {{{key}: ...}}`")
                    ok = False
                else:
                    # a default may derive from earlier arguments: `c4: "${c * 4}"`
                    value, good = self.resolve(default, declared.value_marks[key], new_env)
                    ok = ok and good
                    new_env[key] = (value, declared.value_marks[key])
        if not ok:
            return None
        node = Composite(block, name, mark, expect, expect_mark)
        key = (block, tuple(sorted((arg, repr(value)) for arg, (value, _) in new_env.items())))
        body = self.bodies.get(key)
        if body is None:
            body = self.layer_list(definition.get("layers"), definition.value_marks.get("layers", def_mark),
                                   new_env, stack + (block,))
            self.bodies[key] = body
        node.body = body
        node.size = node.body.size + 1
        return node


def _type_hint(expected: str, found) -> str:
    if isinstance(found, bool) and "integer" in expected:
        return "YAML reads yes/no/on/off/true/false as booleans; write a number"
    if isinstance(found, float) and "integer" in expected:
        return f"sizes are whole numbers; did you mean {int(found)}?"
    if isinstance(found, str) and found.isdigit() and "integer" in expected:
        return f"remove the quotes: {found}"
    return ""


# -------------------------------------------------------------------------------- evaluation
class _Scope:
    __slots__ = ("prefix", "counters", "path")

    def __init__(self, prefix: str, path: tuple):
        self.prefix = prefix
        self.counters: dict[str, int] = {}
        self.path = path

    def generated(self, kind: str, used, reserved) -> str:
        n = self.counters.get(kind, 0)
        while True:
            n += 1
            name = f"{self.prefix}{kind}{n}"
            if name not in used and name not in reserved:
                self.counters[kind] = n
                return name

    def child(self, local: str) -> "_Scope":
        full = f"{self.prefix}{local}"
        return _Scope(full + ".", self.path + (full,))


class _Evaluator:
    def __init__(self, diagnostics, record=True):
        self.layers: list[LayerResult] = []
        self.groups: list[Group] = []
        self.diagnostics = diagnostics
        self.used: set[str] = set()
        self.reported_names: set = set()
        # `expect` pins describe the spec's own input; with --input they are not checked
        self.check_pins = True
        # explicit names of the sequence being walked: a generated `conv2` must not take the
        # name that a later layer of the same sequence was given
        self.reserved: set[str] = set()
        self.record = record  # False when probing other input sizes: rules only
        self.after_softmax = False
        self.params = self.buffers = self.macs = 0
        # Memory, in values for one sample (metrics.py). The state walked is
        # (shape, depth, receptive field, held): `held` marks a tensor that a branch point
        # keeps alive, so the next storing layer must not free it.
        self.activations = self.merge_activations = 0
        self.live = self.peak = 0
        self.rules: dict = {}  # (id(leaf node), input shape) -> what the kind's rules give

    def report(self, code, message, mark, layer, hint="", severity=None):
        if self.record:
            self.diagnostics.append(make(code, message, mark, hint=hint, layer=layer, severity=severity))

    def unique(self, name: str, mark) -> str:
        # One report per place in the file: a named layer inside an unnamed repeat of 1,000
        # iterations is one mistake, not 999.
        if name in self.used and (name, mark) not in self.reported_names:
            self.reported_names.add((name, mark))
            self.report("duplicate-name", f"the layer name {name!r} is used twice", mark, name,
                        hint="names must be unique; give one a different `name` (names inside an "
                             "unnamed repeat repeat too: name the repeat to scope each iteration)")
        self.used.add(name)
        return name

    def check_expect(self, node, out, name):
        if not self.check_pins:
            return
        if node.expect is not None and out is not None and tuple(node.expect) != tuple(out):
            self.report("expect-mismatch", f"{name} outputs {fmt_shape(out)}, but `expect` says "
                        f"{fmt_shape(node.expect)}", node.expect_mark, name,
                        hint="fix the layer (or an earlier one) or the expectation")

    # -- walking --------------------------------------------------------------------------
    def seq(self, seq: Seq, state, scope: _Scope, absorb=False):
        if absorb and len(seq.items) == 1 and isinstance(seq.items[0], Composite) \
                and seq.items[0].name is None and seq.items[0].kind not in ("repeat",):
            return self.composite(seq.items[0], state, scope, absorbed=True)
        for name in seq.names:
            self.reserved.add(scope.prefix + name)
        for item in seq.items:
            if state is None or item is BROKEN:
                return None
            state = self.leaf(item, state, scope) if isinstance(item, Leaf) else \
                self.composite(item, state, scope)
        return state

    def leaf(self, node: Leaf, state, scope: _Scope):
        shape, depth, field, held = state
        kind = node.kind
        name = self.unique(scope.prefix + node.name, node.mark) if node.name else \
            scope.generated(kind.name, self.used, self.reserved)
        if not node.name:
            self.used.add(name)
        fields = node.fields
        if self.after_softmax and kind.group != "other":
            self.report("activation-after-softmax", f"{kind.name} follows softmax", node.mark, name,
                        hint="softmax usually ends a classifier; losses such as cross-entropy apply it "
                             "themselves")
        # A layer's rules depend only on the layer and its input shape; inside a repeat the
        # same pair comes back thousands of times, so the results are kept.
        key = (id(node), shape)
        rule = self.rules.get(key)
        if rule is None:
            try:
                out = kind.shape(shape, fields)
            except RuleError as exc:
                mark = node.field_marks.get(exc.field, node.mark) if exc.field else node.mark
                self.report(exc.code, exc.message, mark, name, hint=exc.hint)
                return None
            rule = self.rules[key] = (
                out, kind.params(shape, out, fields), kind.buffers(shape, out, fields),
                kind.macs(shape, out, fields),
                tuple(kind.warnings(shape, out, fields)) if kind.warnings is not None else (),
                prod(out) if kind.group in STORED_GROUPS else 0,
                effective_window(kind.window(shape, fields)) if kind.window is not None else ())
        out, params, buffers, macs, warnings, stored, axes = rule
        if kind.weighted:
            depth += 1
        for code, message, hint in warnings:
            self.report(code, message, node.mark, name, hint=hint)
        self.after_softmax = kind.name == "softmax" or fields.get("activation") == "softmax"
        if node.expect is not None:
            self.check_expect(node, out, name)
        self.params += params
        self.buffers += buffers
        self.macs += macs
        if stored:
            self.activations += stored
            live = self.live + stored
            if live > self.peak:
                self.peak = live
            self.live = live if held else live - prod(shape)
            held = False
        if field is not None and axes:
            field = through_window(field, axes)
        if self.record:
            mark = node.mark
            self.layers.append(LayerResult(name, kind.name, shape, out, params, buffers, macs, fields,
                                           mark.line, mark.column, depth, scope.path, stored, field))
        else:
            self.layers.append(None)
        return (out, depth, field, held)

    def open_group(self, scope: _Scope, kind: str, shape):
        group = Group(scope.prefix[:-1], kind, len(scope.path) - 1, len(self.layers), input=shape)
        if self.record:
            self.groups.append(group)
        return group

    def composite(self, node: Composite, state, scope: _Scope, absorbed=False):
        kind = node.kind
        if absorbed:
            inner = scope
            group = None
        elif node.name is not None:
            full = self.unique(scope.prefix + node.name, node.mark)
            inner = _Scope(full + ".", scope.path + (full,))
            group = self.open_group(inner, kind, state[0])
        elif kind == "repeat" or kind == "residual":
            inner, group = scope, None  # an unnamed repeat or residual is sugar: no new scope
        else:
            local = scope.generated(kind, self.used, self.reserved)[len(scope.prefix):]
            self.used.add(scope.prefix + local)
            inner = scope.child(local)
            group = self.open_group(inner, kind, state[0])

        if kind == "repeat":
            out = state
            for i in range(node.times):
                if out is None:
                    break
                if node.name is None:
                    out = self.seq(node.body, out, inner)
                else:
                    iteration = inner.child(str(i))
                    body_kind = _kind_name(node.body.items[0]) if len(node.body.items) == 1 else "repeat"
                    sub = self.open_group(iteration, body_kind, out[0])
                    out = self.seq(node.body, out, iteration, absorb=True)
                    sub.end, sub.output = len(self.layers), out and out[0]
        elif node.branches is not None:
            out = self.branches(node, state, inner)
        else:  # block call
            out = self.seq(node.body, state, inner, absorb=True)
        if group is not None:
            group.end, group.output = len(self.layers), out and out[0]
        if out is not None and node.expect is not None:
            self.check_expect(node, out[0], node.name or kind)
        return out

    def branches(self, node: Composite, state, scope: _Scope):
        outs = []
        shared = (state[0], state[1], state[2], True)  # the input stays alive until the merge
        for branch, local in zip(node.branches, node.branch_names):
            self.after_softmax = False
            if not branch.items:
                outs.append(shared)  # an empty branch is the identity
                continue
            if local == "":
                sub = scope
            else:
                name, n = scope.prefix + local, 1
                while name in self.used and local == "shortcut":  # a second unnamed residual
                    n += 1
                    name = f"{scope.prefix}{local}{n}"
                self.used.add(name)
                sub = _Scope(name + ".", scope.path + (name,))
            out = self.seq(branch, shared, sub)
            if out is None:
                return None
            outs.append(out)
        shapes = [o[0] for o in outs]
        depth = max(o[1] for o in outs)
        labels = [local or "layers" for local in node.branch_names]
        where = scope.prefix[:-1] or node.kind
        if node.merge == "add":
            first = shapes[0]
            for label, shape in zip(labels[1:], shapes[1:]):
                if shape != first:
                    self.report("merge-mismatch",
                                f"{where}: cannot add {labels[0]} ({fmt_shape(first)}) and {label} "
                                f"({fmt_shape(shape)}): add needs equal shapes", node.mark, where,
                                hint=_projection_hint(state[0], first, shape, label, node.kind))
                    return None
            return self.merge(first, depth, state, outs)
        if any(len(s) != len(shapes[0]) for s in shapes) or \
                (len(shapes[0]) == 3 and any(s[:2] != shapes[0][:2] for s in shapes)):
            desc = ", ".join(f"{label} {fmt_shape(s)}" for label, s in zip(labels, shapes))
            self.report("merge-mismatch", f"{where}: cannot concatenate {desc}: concat needs equal "
                        "spatial sizes", node.mark, where,
                        hint="give every branch the same stride and padding ('same' keeps sizes)")
            return None
        channels = sum(s[-1] for s in shapes)
        return self.merge(shapes[0][:-1] + (channels,), depth, state, outs)

    def merge(self, shape, depth, state, outs):
        """The merged tensor is stored; then the branch outputs and the branch point's input
        are freed (the input only if nothing further out still holds it)."""
        stored = prod(shape)
        self.activations += stored
        self.merge_activations += stored
        live = self.live + stored
        if live > self.peak:
            self.peak = live
        for out in outs:
            if not out[3]:
                live -= prod(out[0])
        if not state[3]:
            live -= prod(state[0])
        self.live = live
        return (shape, depth, through_merge([out[2] for out in outs]), False)


def _kind_name(item) -> str:
    if isinstance(item, Leaf):
        return item.kind.name
    return item.kind if isinstance(item, Composite) else "repeat"


def _projection_hint(inp, main, other, label, kind="residual") -> str:
    """Suggest the 1×1 projection that makes an add's identity branch match the main one."""
    if inp is None or len(inp) != 3 or len(main) != 3:
        return "make the branches produce equal shapes"
    if other != inp:
        return f"make {label} produce {fmt_shape(main)}"
    stride = inp[0] // main[0] if main[0] and inp[0] % main[0] == 0 else None
    if stride:
        s = f", stride: {stride}" if stride > 1 else ""
        projection = f"[conv: {{filters: {main[2]}, kernel: 1{s}}}, batchnorm]"
        where = f"`shortcut: {projection}`" if kind == "residual" else f"{projection} as {label}"
        return f"add a projection: {where} turns {fmt_shape(inp)} into {fmt_shape(main)}"
    return f"project {label} to {fmt_shape(main)}"


# ------------------------------------------------------------------------------ entry point
def _holds_refused(value) -> bool:
    """True for a value the loader refused, or a list holding one (its report is enough)."""
    return value is REFUSED or (isinstance(value, list) and any(_holds_refused(v) for v in value))


# Loader refusals that leave a value empty: what is later said about that value is an echo.
_REFUSALS = ("forbidden-tag", "number-too-large")


def analyze(doc: Document, input_shape=None) -> Analysis:
    """Analyse a loaded spec. Never raises for a user's mistake."""
    analysis = _analyze(doc, input_shape)
    refused = {(d.line, d.column) for d in doc.diagnostics if d.code in _REFUSALS}
    if refused:
        # A refused value was reported once, where it stands; the follow-on complaints about
        # the same place ("expects a positive integer, found nothing") would only repeat it.
        loader = set(map(id, doc.diagnostics))
        analysis.diagnostics[:] = [d for d in analysis.diagnostics
                                   if id(d) in loader or (d.line, d.column) not in refused]
    return analysis


def _analyze(doc: Document, input_shape) -> Analysis:
    diagnostics = list(doc.diagnostics)
    root = doc.root
    file = doc.file
    analysis = Analysis(name="", file=file, input=None, output=None, source_text=doc.text,
                        diagnostics=diagnostics)
    if root is None:
        return analysis
    if not isinstance(root, LMap):
        mark = getattr(root, "mark", Mark(file, 1, 1))
        diagnostics.append(make("not-a-mapping", f"the top level of a spec must be a mapping, found "
                                f"{describe_found(root)}", mark,
                                hint="start with `name:`, `input:` and `layers:`"))
        return analysis
    top_mark = root.mark
    for key in root:
        if key not in TOP_LEVEL_KEYS:
            diagnostics.append(make("unknown-field", f"unknown top-level key {key!r}", root.key_marks[key],
                                    hint=(_did_you_mean(key, TOP_LEVEL_KEYS) + " ").lstrip()
                                    + "accepted: " + ", ".join(TOP_LEVEL_KEYS)))
    for key in ("name", "title", "reference"):
        value = root.get(key)
        if value is not None and not isinstance(value, str):
            if key == "name" and isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            else:
                diagnostics.append(make("wrong-type", f"`{key}` expects a string, found "
                                        f"{describe_found(value)}", root.value_marks[key]))
                value = None
        setattr(analysis, key, value or "")
    if not analysis.name:
        import os

        analysis.name = os.path.splitext(os.path.basename(file))[0] if file not in ("", "<stdin>") else ""

    # the input shape
    shape = None
    if input_shape is not None:
        shape = tuple(input_shape)
    elif "input" not in root:
        diagnostics.append(make("missing-field", "the spec has no `input`", top_mark,
                                hint="add `input: [224, 224, 3]` ([H, W, C]) or `input: [N]`"))
    else:
        try:
            shape = SHAPE.check(root["input"])
        except FieldError as exc:
            if not _holds_refused(root["input"]):
                diagnostics.append(make("bad-input", f"`input` expects {exc.expected}, found "
                                        f"{describe_found(exc.found)}", root.value_marks["input"],
                                        hint="e.g. `input: [224, 224, 3]` or `input: [784]`"))
    analysis.input = shape

    # blocks
    blocks = {}
    raw_blocks = root.get("blocks")
    if raw_blocks is not None:
        if not isinstance(raw_blocks, LMap):
            diagnostics.append(make("bad-block", f"`blocks` expects a mapping of block definitions, "
                                    f"found {describe_found(raw_blocks)}", root.value_marks["blocks"]))
        else:
            for block, definition in raw_blocks.items():
                bmark = raw_blocks.key_marks[block]
                if _valid_block(block, definition, bmark, raw_blocks.value_marks[block], diagnostics):
                    blocks[block] = (definition, bmark)

    compiler = _Compiler(blocks, diagnostics)
    if "layers" not in root:
        diagnostics.append(make("missing-field", "the spec has no `layers`", top_mark,
                                hint="add `layers:` with one entry per layer"))
        return analysis
    program = compiler.layer_list(root["layers"], root.value_marks["layers"], {}, ())
    if root["layers"] is None or (isinstance(root["layers"], LList) and not root["layers"]):
        diagnostics.append(make("empty-layers", "`layers` holds no layer", root.key_marks["layers"],
                                hint="list the layers under `layers:`, one `- kind` entry each"))
    for block, (_definition, bmark) in blocks.items():
        if block not in compiler.called:
            diagnostics.append(make("unused-block", f"block {block!r} is declared but never used", bmark,
                                    hint="call it as a layer kind (`- " + block + ": {...}`) or remove it"))
    if program.size > MAX_LEAVES:
        diagnostics.append(make("too-large", f"the network expands to {program.size:,} layers and scopes (limit "
                                f"{MAX_LEAVES:,})", root.value_marks["layers"]))
        return analysis

    evaluator = _Evaluator(diagnostics)
    evaluator.check_pins = input_shape is None
    if shape is not None:
        evaluator.live = evaluator.peak = prod(shape)
        out = evaluator.seq(program, (shape, 0, input_field(shape), False), _Scope("", ()))
    else:
        out = None
    analysis.layers = evaluator.layers
    analysis.groups = evaluator.groups
    analysis.output = out[0] if out else None
    analysis.totals = Totals(params=evaluator.params, buffers=evaluator.buffers, macs=evaluator.macs,
                             depth=out[1] if out else max((l.depth for l in evaluator.layers), default=0),
                             layers=len(evaluator.layers), activations=evaluator.activations,
                             merge_activations=evaluator.merge_activations,
                             peak_activations=evaluator.peak, input_values=prod(shape) if shape else 0)
    if out is not None:
        _check_totals(root, analysis, diagnostics, pinned=input_shape is None)
    if any(d.code == "window-drops-input" for d in diagnostics) and input_shape is None:
        _suggest_inputs(program, shape, analysis, diagnostics)
    return analysis


def _valid_block(block, definition, mark, def_mark, diagnostics) -> bool:
    if block in REGISTRY or block in COMPOSITES:
        diagnostics.append(make("bad-block", f"block name {block!r} is a built-in kind", mark,
                                hint="choose another name"))
        return False
    if not isinstance(definition, LMap):
        diagnostics.append(make("bad-block", f"block {block!r} expects a mapping with `layers` (and "
                                f"optional `args`), found {describe_found(definition)}", def_mark))
        return False
    for key in definition:
        if key not in ("args", "layers", "doc"):
            diagnostics.append(make("unknown-field", f"block {block!r} has no field {key!r}",
                                    definition.key_marks[key], hint="a block has `args`, `layers` and "
                                    "optional `doc`"))
    if "layers" not in definition:
        diagnostics.append(make("missing-field", f"block {block!r} has no `layers`", mark))
        return False
    args = definition.get("args")
    if args is not None and not isinstance(args, LMap):
        diagnostics.append(make("bad-block", f"block {block!r}: `args` expects a mapping of argument "
                                f"names to defaults (null = required), found {describe_found(args)}",
                                definition.value_marks["args"]))
        return False
    if isinstance(args, LMap):
        for arg in args:
            if arg in COMMON_KEYS:
                diagnostics.append(make("bad-block", f"block {block!r}: `{arg}` cannot be an argument, "
                                        "every block call accepts it already", args.key_marks[arg]))
                return False
    return True


_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def parse_count(value) -> int | None:
    """An exact count: 5000000, '5M', '2.5G', '61.7k'. None when unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip().replace("_", "").replace(",", "").lower()
        unit = text[-1:] if text[-1:] in _UNITS and text[-1:] else ""
        number = text[: -1] if unit else text
        try:
            from decimal import Decimal, InvalidOperation

            amount = Decimal(number) * _UNITS[unit]
        except (InvalidOperation, ValueError, ArithmeticError):
            return None
        if amount == amount.to_integral_value():
            return int(amount)
    return None


def _check_totals(root: LMap, analysis: Analysis, diagnostics, pinned: bool = True):
    """Check the top-level `expect`. Budgets (max_*) always hold; pinned totals describe the
    spec's own input, so with another input (``pinned=False``) only their form is checked."""
    expect = root.get("expect")
    if expect is None:
        return
    if not isinstance(expect, LMap):
        diagnostics.append(make("wrong-type", f"the top-level `expect` expects a mapping of totals, found "
                                f"{describe_found(expect)}", root.value_marks["expect"],
                                hint="e.g. `expect: {params: 61706, macs: 416520}`"))
        return
    totals = analysis.totals.as_dict()
    for key, want in expect.items():
        mark = expect.value_marks[key]
        if key not in TOTAL_KEYS:
            diagnostics.append(make("unknown-field", f"`expect` has no total {key!r}", expect.key_marks[key],
                                    hint=(_did_you_mean(key, TOTAL_KEYS) + " ").lstrip() + "accepted: "
                                    + ", ".join(TOTAL_KEYS)))
            continue
        if key == "output":
            try:
                want_shape = SHAPE.check(want)
            except FieldError as exc:
                diagnostics.append(make(exc.code, f"expect `output` expects {exc.expected}, found "
                                        f"{describe_found(exc.found)}", mark))
                continue
            if pinned and want_shape != tuple(analysis.output):
                diagnostics.append(make("total-mismatch", f"the network outputs {fmt_shape(analysis.output)}, "
                                        f"but `expect.output` says {fmt_shape(want_shape)}", mark,
                                        hint="fix the last layers or the expectation"))
            continue
        number = parse_count(want)
        if number is None or number < 0:
            diagnostics.append(make("wrong-type", f"expect `{key}` expects a non-negative integer (or a "
                                    f"count such as '5M'), found {describe_found(want)}", mark))
            continue
        if key.startswith("max_"):
            total = key[4:]
            if totals[total] > number:
                diagnostics.append(make("budget-exceeded", f"{total} {totals[total]:,} exceed the budget "
                                        f"`{key}: {want}` ({number:,}) by {totals[total] - number:,}", mark,
                                        hint="shrink the network or raise the budget"))
            continue
        if pinned and totals[key] != number:
            diff = totals[key] - number
            diagnostics.append(make("total-mismatch", f"{key} total is {totals[key]:,}, but `expect.{key}` "
                                    f"says {number:,} ({'+' if diff > 0 else ''}{diff:,})", mark,
                                    hint="look at the layers whose numbers differ from the reference"))


def _suggest_inputs(program: Seq, shape, analysis: Analysis, diagnostics):
    """Add the nearest exact input sizes to every window warning's hint."""
    if shape is None or len(shape) != 3 or program.size > 20_000:
        return
    h, w, c = shape

    def exact(candidate) -> bool:
        probe: list[Diagnostic] = []
        evaluator = _Evaluator(probe, record=True)
        evaluator.layers = _Discard()
        out = evaluator.seq(program, (candidate, 0, None, False), _Scope("", ()))
        return out is not None and not any(d.code == "window-drops-input" or d.severity == ERROR
                                           for d in probe)

    def nearest(make_shape):
        found = []
        for delta in range(1, 65):
            for n in (shape[0] - delta, shape[0] + delta):
                if n >= 1 and exact(make_shape(n)):
                    found.append(n)
            if found:
                return found
        return found

    square = h == w
    sizes = nearest(lambda n: (n, n if square else w, c))
    if not sizes:
        return
    text = " or ".join(f"{n}×{n if square else w}" for n in sizes)
    extra = (f"the nearest input{'s' if len(sizes) > 1 else ''} for which every window of the network "
             f"divides exactly: {text}")
    for i, d in enumerate(diagnostics):
        if d.code == "window-drops-input":
            hint = f"{extra}; or {d.hint}" if d.hint else extra
            diagnostics[i] = d.replace(hint=hint)


class _Discard(list):
    """A list that forgets what is appended: probes need rules, not rows."""

    def append(self, item):
        pass

    def __len__(self):
        return 0
