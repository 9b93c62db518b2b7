"""Pass 1 of the engine: located YAML values -> a small tree of nodes.

``Compiler`` normalises the three entry forms (bare kind, primary value, mapping), expands
blocks with their arguments (``$name`` and ``${expr}``, evaluated by a tiny integer
expression reader, never ``eval``), and checks every field generically against its kind's
declaration. A block body is compiled once per distinct set of argument values; a repeat
body once. Problems become diagnostics; an entry that fails leaves ``BROKEN`` in its place,
which stops the shape flow when the evaluator reaches it.
"""
from __future__ import annotations

from .composites import BLOCK, COMPOSITES
from .diagnostics import Diagnostic, make
from .layers import REGISTRY
from .layers.base import SHAPE, FieldError, FieldType, describe_found

# Bounds that keep hostile specs fast: how many leaf layers and scopes (block calls, branch
# sets, repeat iterations) a network may expand to. A scope costs about as much to walk as
# a layer, so 19 levels of blocks that each call the next twice (2^19 layers, as many
# scopes) is refused at once instead of taking ten seconds.
from .limits import (  # noqa: E402 - re-exported: engine and tests import them from here
    MAX_BLOCK_DEPTH,
    MAX_EXPRESSION_DEPTH,
    MAX_EXPRESSION_TEXT,
    MAX_INTEGER,
    MAX_LEAVES,
    MAX_VIEW_ROWS,
)
from .nodes import BROKEN, COMMON_KEYS, LEAF_KEYS, Broken, Composite, Leaf, Seq  # noqa: F401 - re-exported
from .readers.located import REFUSED, LList, LMap
from .vocabulary import suggest_field, suggest_kind


def _when(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    raise FieldError("true, false or an integer (0 leaves the entry out)", value)


WHEN = FieldType("when", _when, {"type": ["boolean", "integer"]})


def did_you_mean(word: str, options) -> str:
    import difflib

    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""


# ------------------------------------------------------------------------ argument expressions
class _ExprError(Exception):
    pass


def _eval_expression(text: str, env: dict):
    """Integer arithmetic over block arguments: + - * // % and parentheses. Never ``eval``.

    Bounded work: at most MAX_EXPRESSION_TEXT characters, MAX_EXPRESSION_DEPTH nested
    parentheses or signs, and every intermediate value within MAX_INTEGER (so a product
    of a thousand factors is refused at the first one too large, not computed)."""
    import re

    if len(text) > MAX_EXPRESSION_TEXT:
        raise _ExprError(f"the expression has {len(text):,} characters (limit {MAX_EXPRESSION_TEXT:,})")
    tokens = re.findall(r"\s*([0-9]+|[A-Za-z_][A-Za-z0-9_]*|//|[-+*%()])", text, re.ASCII)
    if "".join(t.strip() for t in tokens) != re.sub(r"\s+", "", text):
        raise _ExprError(f"cannot read {text!r}")
    pos = 0
    depth = 0

    def bounded(value):
        if not -MAX_INTEGER <= value <= MAX_INTEGER:
            raise _ExprError("a value passes archcalc's limit of 10^18")
        return value

    def peek():
        return tokens[pos].strip() if pos < len(tokens) else None

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1].strip()

    def atom():
        nonlocal depth
        tok = take() if peek() is not None else None
        if tok is None:
            raise _ExprError("the expression ends too early")
        if tok in ("(", "-"):
            depth += 1
            if depth > MAX_EXPRESSION_DEPTH:
                raise _ExprError(f"parentheses and signs nest more than {MAX_EXPRESSION_DEPTH} deep")
            if tok == "(":
                value = expr()
                if take() != ")" if peek() is not None else True:
                    raise _ExprError("a '(' is not closed")
            else:
                value = -atom()
            depth -= 1
            return value
        if tok.isdigit():
            if len(tok) > 19:
                raise _ExprError("a value passes archcalc's limit of 10^18")
            return bounded(int(tok))
        if tok[0].isalpha() or tok[0] == "_":
            if tok not in env:
                raise _ExprError(f"no argument named {tok!r}")
            value = env[tok][0]
            if not isinstance(value, int) or isinstance(value, bool):
                raise _ExprError(f"argument {tok!r} is {describe_found(value)}, not an integer")
            return bounded(value)
        raise _ExprError(f"unexpected {tok!r}")

    def term():
        value = atom()
        while peek() in ("*", "//", "%"):
            op = take()
            rhs = atom()
            if op == "*":
                value = bounded(value * rhs)
            elif rhs == 0:
                raise _ExprError("division by zero")
            else:
                value = value // rhs if op == "//" else value % rhs
        return value

    def expr():
        value = term()
        while peek() in ("+", "-"):
            value = bounded(value + term() if take() == "+" else value - term())
        return value

    result = expr()
    if pos != len(tokens):
        raise _ExprError(f"unexpected {tokens[pos].strip()!r}")
    return result


# ------------------------------------------------------------------------------- compilation
class Compiler:
    def __init__(self, blocks, diagnostics: list[Diagnostic]):
        self.references: set[str] = set()  # every name a `from` or `join` reads
        self.blocks = blocks  # name -> (definition LMap, mark)
        self.diagnostics = diagnostics
        # A block body depends only on the block and its argument values, so it is compiled
        # once per distinct call: a chain of blocks that each call the previous one twice
        # would otherwise take exponential time before the size bound could reject it.
        self.bodies: dict[tuple, Seq] = {}
        self.called: set[str] = set()  # blocks reached from the network, for `unused-block`
        self.ignores: list = []  # every layer's `ignore` entry, for `unused-ignore`
        self.reported: set = set()  # (code, message, line, column) of what error() reported

    def error(self, code, message, mark, hint="", layer=None):
        # A block body is compiled once per distinct set of arguments: a mistake in the body
        # itself would be reported once per call, at the same place in the same words.
        key = (code, message, getattr(mark, "line", None), getattr(mark, "column", None))
        if key in self.reported:
            return
        self.reported.add(key)
        self.diagnostics.append(make(code, message, mark, hint=hint, layer=layer))

    # -- values ---------------------------------------------------------------------------
    def resolve(self, value, mark, env):
        """Replace ``$name`` and ``${expr}`` by argument values. Returns (value, ok)."""
        import re

        if isinstance(value, str) and value.startswith("$"):
            if value.startswith("${") and value.endswith("}"):
                try:
                    return _eval_expression(value[2:-1], env), True
                except _ExprError as exc:
                    shown = value if len(value) <= 60 else value[:50] + "…}"
                    self.error("bad-expression", f"cannot evaluate {shown!r}: {exc}", mark,
                               hint="expressions use integers, argument names, + - * // % and ()")
                    return None, False
            name = value[1:]
            if name in env:
                return env[name][0], True
            if not name.isidentifier() and re.fullmatch(r"[\w\s+\-*/%()]+", name, re.ASCII):
                # `$k // 2`: `$name` is one argument alone; arithmetic is the `${...}` form
                shown = value if len(value) <= 60 else value[:50] + "…"
                self.error("bad-expression", f"{shown!r} is not a value: `$name` stands for one argument "
                           "alone, so arithmetic must be written as an expression", mark,
                           hint=f'write "${{{name.strip()[:50]}}}" (in quotes, as YAML needs for `{{`): '
                           "`${...}` computes with argument names, integers, + - * // % and ()")
                return None, False
            where = f"; this block's arguments are {', '.join(sorted(env))}" if env else \
                " outside a block"
            self.error("undefined-reference", f"{value!r} names no argument{where}", mark,
                       hint=did_you_mean(name, env) or "declare it under the block's `args`")
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
            if holds_refused(value):
                return None, False  # the loader has reported it
            shown, where = "", mark
            if raw is not value and isinstance(raw, str):
                shown = f" (from {raw!r}, line {mark.line})"
                if raw[1:] in env:  # a plain `$arg`: the mistake is the value the call passed
                    where = env[raw[1:]][1]
            self.error(exc.code, f"{owner} field `{key}` expects {exc.expected}, found "
                       f"{describe_found(exc.found)}{shown}", where, layer=layer,
                       hint=_type_hint(exc.expected, exc.found))
            return None, False

    def interpolate(self, text: str, mark, env):
        """A name with expressions inside (`denselayer${i + 1}`, `block${s}-${i}`): each
        `${expression}` becomes its integer value. Returns (text, ok)."""
        import re

        out, pos = [], 0
        for match in re.finditer(r"\$\{([^}]*)\}", text):
            out.append(text[pos:match.start()])
            try:
                out.append(str(_eval_expression(match.group(1), env)))
            except _ExprError as exc:
                self.error("bad-expression", f"cannot evaluate {match.group(0)!r} in {text!r}: {exc}", mark,
                           hint="expressions use integers, argument names, + - * // % and ()")
                return None, False
            pos = match.end()
        out.append(text[pos:])
        return "".join(out), True

    def name_of(self, fields: LMap, env, kind: str):
        if "name" not in fields:
            return None
        mark = fields.value_marks["name"]
        raw = fields["name"]
        if isinstance(raw, str) and "${" in raw and not (raw.startswith("${") and raw.endswith("}")
                                                         and raw.count("${") == 1):
            value, ok = self.interpolate(raw, mark, env)
        else:
            value, ok = self.resolve(raw, mark, env)
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

    def frozen_of(self, fields: LMap, env, kind, layer) -> bool:
        if "frozen" not in fields:
            return False
        from .layers.base import BOOL

        value, ok = self.check_field(BOOL, fields["frozen"], fields.value_marks["frozen"], env, kind,
                                     "frozen", layer)
        return bool(ok and value)

    def ignore_of(self, fields: LMap, layer) -> tuple:
        if "ignore" not in fields:
            return ()
        from . import ignores

        value = fields["ignore"]
        codes = ignores.parse(value, fields.value_marks["ignore"], getattr(value, "item_marks", ()),
                              self.diagnostics, layer)
        self.ignores.extend(codes)
        return codes
    def source_of(self, fields: LMap, env, kind, layer):
        """`from: NAME` -> (NAME, mark), or None (absent or reported)."""
        if "from" not in fields:
            return None
        return self.reference(fields["from"], fields.value_marks["from"], env, kind, layer)

    def reference(self, raw, mark, env, kind, layer):
        value, ok = self.resolve(raw, mark, env)
        if not ok:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
            self.error("wrong-type", f"{kind} field `from` expects the name of an earlier layer, found "
                       f"{describe_found(value)}", mark, layer=layer,
                       hint="e.g. `from: conv1`, or `from: input` for the network's input")
            return None
        self.references.add(str(value))
        return (str(value), mark)

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
            if isinstance(node, Seq):  # an indexed repeat: its iterations, written out in place
                items.extend(node.items)
            else:
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

        if isinstance(kind, str) and kind.startswith("$"):
            kind = self.kind_argument(kind, kind_mark, env)
            if kind is None:
                return None
        if isinstance(body, LMap) and "when" in body and (kind in REGISTRY or kind in COMPOSITES
                                                          or kind in self.blocks):
            kept = self.when_of(body, env, kind)
            if kept is None:
                return None
            if not kept:  # an optional layer, left out: as if it were not written
                if kind in self.blocks:
                    self.called.update(self.reachable(kind))
                return Seq([])
        if kind in REGISTRY:
            return self.leaf(REGISTRY[kind], body, kind_mark, body_mark, env)
        if kind in COMPOSITES:
            return self.composite(kind, body, kind_mark, body_mark, env, stack)
        if kind in self.blocks:
            return self.block_call(kind, body, kind_mark, body_mark, env, stack)
        known = list(REGISTRY) + list(COMPOSITES) + list(self.blocks)
        self.error("unknown-kind", f"unknown layer kind {kind!r}", kind_mark,
                   hint=suggest_kind(kind, known) or "see `archcalc schema` for the kinds; "
                   "reusable blocks are declared under `blocks`")
        return None

    def kind_argument(self, text, mark, env):
        """`- $act` inside a block: the layer's kind is the argument's value (a leaf kind, a
        composite or a block, by name). Returns the kind's name, or None after an error."""
        name = text[1:]
        if not name.isidentifier():
            self.error("bad-entry", f"{text[:60]!r} cannot be a layer kind: only a plain `$argument` "
                       "may stand for one", mark, hint="pass the kind's name as a block argument: "
                       "`args: {act: relu}`, then `- $act`")
            return None
        if name not in env:
            where = f"; this block's arguments are {', '.join(sorted(env))}" if env else " outside a block"
            self.error("undefined-reference", f"{text!r} names no argument{where}", mark,
                       hint=did_you_mean(name, env) or "declare it under the block's `args`, e.g. "
                       f"`args: {{{name}: relu}}`")
            return None
        value, where = env[name]
        known = list(REGISTRY) + list(COMPOSITES) + list(self.blocks)
        if isinstance(value, str) and value in known:
            return value
        if isinstance(value, str):
            self.error("unknown-kind", f"argument `{name}` names the layer kind of {text!r}, but "
                       f"{value[:60]!r} is no layer kind", where,
                       hint=suggest_kind(value, known) or "pass a kind's name (`relu`, `hardswish`, …) "
                       "or a block's")
        elif not holds_refused(value):
            self.error("wrong-type", f"argument `{name}` names the layer kind of {text!r}: it expects a "
                       f"kind's name, found {describe_found(value)}", where,
                       hint="e.g. `act: relu`; to leave a layer out, use `when: $flag` on it")
        return None

    def when_of(self, body, env, kind):
        """`when: true|false` (usually `when: $flag`), or an integer (`when: "${stride - 1}"`,
        0 = false): whether the entry is kept. None after an error."""
        value, ok = self.check_field(WHEN, body["when"], body.value_marks["when"], env, kind, "when", None)
        return value if ok else None

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
        # `frozen` only where there is something to freeze
        common = COMMON_KEYS if kind.has_params else LEAF_KEYS
        for key, raw in fields.items():
            if key in common or key == "from":
                continue
            spec = kind.fields.get(key)
            kmark = fields.key_marks[key]
            if spec is None:
                options = list(kind.fields) + list(common)
                suggestion = suggest_field(key, options)
                if key == "frozen":
                    suggestion = f"{kind.name} has no parameters to freeze;"
                self.error("unknown-field", f"{kind.name} has no field {key!r}", kmark, layer=name,
                           hint=_joined(suggestion, f"accepted: {', '.join(options)}"))
                ok = False
                continue
            vmark = fields.value_marks[key]
            value, good = self.check_field(spec.type, raw, vmark, env, kind.name, key, name)
            ok = ok and good
            values[key] = value
            field_marks[key] = vmark
            if isinstance(raw, LList):
                # a rule may point at one item (row 3 of a connection table)
                for i, item_mark in enumerate(raw.item_marks):
                    field_marks[(key, i)] = item_mark
        for key, spec in kind.fields.items():
            if key not in values:
                if spec.required and ok:
                    self.error("missing-field", f"{kind.name} requires the field `{key}`", mark,
                               layer=name, hint=f"e.g. `- {kind.name}: {{{key}: ...}}`")
                    ok = False
                values[key] = spec.default
        for key, spec in kind.fields.items():
            if spec.default_from is not None and values[key] is None:
                values[key] = values[spec.default_from]
        if not ok:
            return None
        leaf = Leaf(kind, values, name, mark, field_marks, expect, expect_mark,
                    self.frozen_of(fields, env, kind.name, name))
        leaf.ignore = self.ignore_of(fields, name)
        leaf.source = self.source_of(fields, env, kind.name, name)
        return leaf

    def composite(self, kind, body, mark, body_mark, env, stack):
        """A composite entry: the checks every composite shares (a mapping, the fields it
        accepts, the required ones, `from`, the size bound), around its unit's compile rule."""
        unit = COMPOSITES[kind]
        if not isinstance(body, LMap):
            self.error("wrong-type", f"{kind} expects a mapping of fields, found {describe_found(body)}",
                       body_mark, hint=f"e.g. `- {kind}: {unit.example}`")
            return None
        accepted = unit.fields
        for key in body:
            if key not in accepted and key not in COMMON_KEYS:
                self.error("unknown-field", f"{kind} has no field {key!r}", body.key_marks[key],
                           hint=_joined(suggest_field(key, accepted + COMMON_KEYS),
                                        "accepted: " + ", ".join(accepted + COMMON_KEYS)))
        name = self.name_of(body, env, kind)
        expect, expect_mark = self.expect_of(body, env, kind, name)
        node = Composite(unit, kind, name, mark, expect, expect_mark)
        node.frozen = self.frozen_of(body, env, kind, name)
        node.ignore = self.ignore_of(body, name)
        for key in unit.required:
            if key not in body:
                self.error("missing-field", f"{kind} requires the field `{key}`", mark, layer=name)
                return None
        if unit.source and "from" in body:
            node.source = self.source_of(body, env, kind, name)
            if node.source is None:
                return None
        node = unit.compile(self, node, body, mark, env, stack, name)
        if not isinstance(node, Composite):  # None after an error, or a Seq written out in place
            return node
        if node.branches is not None:
            node.size = sum(b.size for b in node.branches) + 1
        if node.size > MAX_LEAVES:
            self.error("too-large", f"this {kind} expands to {node.size:,} layers and scopes (limit "
                       f"{MAX_LEAVES:,})", mark, layer=name, hint="use a smaller `times`")
            return None
        return node

    def branch(self, value, mark, env, stack, local, layer):
        """One item of `branches`: a layer list, or a mapping {layers, channels, name}.
        Returns (Seq, branch name, ((start, stop), mark) or None); Seq None after an error."""
        if not isinstance(value, LMap):
            return self.layer_list(value, mark, env, stack, what="branches item"), local, None
        accepted = ("layers", "channels", "name", "scope")
        ok = True
        for key in value:
            if key not in accepted:
                self.error("unknown-field", f"a parallel branch has no field {key!r}", value.key_marks[key],
                           layer=layer, hint=(did_you_mean(key, accepted) + " ").lstrip()
                           + "a branch is a list of layers or a mapping with `layers` and optional "
                           "`channels: [start, stop]` and `name`")
                ok = False
        if "layers" not in value:
            self.error("missing-field", "a parallel branch written as a mapping requires `layers`", mark,
                       layer=layer, hint="e.g. `- {channels: [0, 48], layers: [conv: {filters: 128, "
                       "kernel: 5}]}` (`layers: []` is the identity)")
            return None, local, None
        if "name" in value:
            given = self.name_of(value, env, "parallel branch")
            if given is None:
                return None, local, None
            local = given
        if "scope" in value:
            from .layers.base import BOOL

            scoped, good = self.check_field(BOOL, value["scope"], value.value_marks["scope"], env,
                                            "parallel branch", "scope", layer)
            if not good:
                return None, local, None
            if not scoped:
                if "name" in value:
                    self.error("bad-value", "a branch with `scope: false` has no name of its own",
                               value.value_marks["scope"], layer=layer,
                               hint="drop `name` (its layers are named in the parallel's scope) or "
                                    "`scope: false`")
                    return None, local, None
                local = ""  # its layers live in the enclosing scope, as a residual's main path
        piece = None
        if "channels" in value:
            vmark = value.value_marks["channels"]
            raw, good = self.resolve(value["channels"], vmark, env)
            if not good:
                return None, local, None
            if not (isinstance(raw, list) and len(raw) == 2 and all(
                    isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in raw)):
                if not holds_refused(raw):
                    self.error("wrong-type", "parallel branch field `channels` expects [start, stop] "
                               f"(two non-negative integers, stop exclusive), found {describe_found(raw)}",
                               vmark, layer=layer, hint="e.g. `channels: [0, 48]` takes channels 0 to 47")
                return None, local, None
            if raw[0] >= raw[1]:
                self.error("bad-value", f"parallel branch `channels: [{raw[0]}, {raw[1]}]` is empty: the "
                           "start must be below the stop (stop is exclusive)", vmark, layer=layer,
                           hint=f"e.g. `channels: [{raw[0]}, {raw[0] + 1}]` takes one channel")
                return None, local, None
            piece = ((raw[0], raw[1]), vmark)
        seq = self.layer_list(value["layers"], value.value_marks["layers"], env, stack,
                              what="branch `layers`")
        return (seq if ok else None), local, piece

    def split_of(self, node, body, env, layer) -> bool:
        """`split: equal` or `split: [c1, c2, ...]`: consecutive channel slices, one per branch."""
        smark = body.value_marks["split"]
        raw, good = self.resolve(body["split"], smark, env)
        if not good:
            return False
        n = len(node.branches)
        if any(node.slices):
            self.error("split-mismatch", "parallel has both `split` and branch `channels`", smark,
                       layer=layer, hint="use one: `split` divides the channels among all branches, "
                       "`channels: [start, stop]` gives one branch a slice")
            return False
        if raw == "equal":
            node.split = ("equal", smark)
            return True
        if isinstance(raw, list) and raw and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1
                                                 for x in raw):
            if len(raw) != n:
                self.error("split-mismatch", f"`split` gives {len(raw)} channel count"
                           f"{'s' if len(raw) != 1 else ''} for {n} branch{'es' if n != 1 else ''}",
                           smark, layer=layer, hint="give one count per branch, in order")
                return False
            node.split = (tuple(raw), smark)
            return True
        if not holds_refused(raw):
            self.error("wrong-type", "parallel field `split` expects 'equal' or a list of positive channel "
                       f"counts, one per branch, found {describe_found(raw)}", smark, layer=layer,
                       hint="e.g. `split: equal` (ShuffleNetV2's halves) or `split: [24, 92]`")
        return False

    def reachable(self, block: str) -> set[str]:
        """The blocks ``block`` mentions, directly or through others (a mapping key or a
        string anywhere in a body that names a block), without expanding anything."""
        found, todo = {block}, [block]
        while todo:
            values = [self.blocks[todo.pop()][0].get("layers")]
            while values:
                value = values.pop()
                if isinstance(value, dict):
                    values.extend(value.values())
                    names = value.keys()
                elif isinstance(value, list):
                    values.extend(value)
                    continue
                else:
                    names = (value,) if isinstance(value, str) else ()
                for name in names:
                    if name in self.blocks and name not in found:
                        found.add(name)
                        todo.append(name)
        return found

    def block_call(self, block, body, mark, body_mark, env, stack):
        definition, def_mark = self.blocks[block]
        self.called.add(block)
        if block in stack:
            chain = " -> ".join(stack[stack.index(block):] + (block,))
            self.error("block-recursion", f"block {block!r} reaches itself: {chain}", mark,
                       hint="a block may use other blocks, but never itself")
            return None
        if len(stack) >= MAX_BLOCK_DEPTH:
            chain = stack + (block,)
            shown = " -> ".join(chain[:3] + ("…",) + chain[-2:])
            self.error("too-large", f"blocks call blocks more than {MAX_BLOCK_DEPTH} deep here: {shown}",
                       mark, hint=f"archcalc expands at most {MAX_BLOCK_DEPTH} nested block calls; "
                       "flatten the chain")
            self.called.update(self.reachable(block))  # used, though not expanded
            return None
        fields = self.fields_of(block, None, body, mark, body_mark)
        if fields is None:
            return None
        name = self.name_of(fields, env, block)
        expect, expect_mark = self.expect_of(fields, env, block, name)
        declared = definition.get("args") or {}
        new_env, ok = {}, True
        for key, raw in fields.items():
            if key in COMMON_KEYS or key == "from":
                continue
            if key not in declared:
                self.error("unknown-arg", f"block {block!r} has no argument {key!r}", fields.key_marks[key],
                           layer=name, hint=(did_you_mean(key, declared) + " " if did_you_mean(key, declared)
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
        node = Composite(BLOCK, block, name, mark, expect, expect_mark)
        node.frozen = self.frozen_of(fields, env, block, name)
        node.ignore = self.ignore_of(fields, name)
        node.args = {arg: value for arg, (value, _) in new_env.items()}
        if "from" in fields:
            node.source = self.source_of(fields, env, block, name)
            if node.source is None:
                return None
        key = (block, tuple(sorted((arg, repr(value)) for arg, (value, _) in new_env.items())))
        # A body with errors is kept per call site too: a second call passing the same wrong
        # value is a mistake of its own, reported at its own value (the body's own mistakes,
        # at the same place in the same words, are reported once by error()).
        located = key + tuple((arg, getattr(m, "line", 0), getattr(m, "column", 0))
                              for arg, (_, m) in sorted(new_env.items()))
        body = self.bodies.get(key) or self.bodies.get(located)
        if body is None:
            before = len(self.diagnostics)
            body = self.layer_list(definition.get("layers"), definition.value_marks.get("layers", def_mark),
                                   new_env, stack + (block,))
            self.bodies[key if len(self.diagnostics) == before else located] = body
        node.body = body
        node.size = node.body.size + 1
        return node


def _joined(suggestion: str, rest: str) -> str:
    """'did you mean 'kernel'? accepted: …' or 'remove it: …; accepted: …'."""
    if not suggestion:
        return rest
    return suggestion + (" " if suggestion.endswith(("?", ";")) else "; ") + rest


def _type_hint(expected: str, found) -> str:
    if isinstance(found, bool) and "integer" in expected:
        return "YAML reads yes/no/on/off/true/false as booleans; write a number"
    if isinstance(found, float) and "integer" in expected:
        if found.is_integer() and abs(found) <= MAX_INTEGER:
            return f"sizes are whole numbers; did you mean {int(found)}?"
        return "sizes are whole numbers"
    if isinstance(found, str) and found.isdigit() and "integer" in expected:
        return f"remove the quotes: {found}"
    listed = sizes_written_as_text(found)
    if listed:
        return f"write a list: `{listed}`"
    return ""


def sizes_written_as_text(found) -> str:
    """'3x3', '3×3', '(3, 3)' or '224x224x3' -> '[3, 3]' / '[224, 224, 3]'; '' otherwise."""
    import re

    if not isinstance(found, str):
        return ""
    text = found.strip()
    if re.fullmatch(r"\d+(\s*[x×X*]\s*\d+)+", text):
        return "[" + ", ".join(re.split(r"\s*[x×X*]\s*", text)) + "]"
    match = re.fullmatch(r"\(\s*(\d+(\s*,\s*\d+)*)\s*,?\s*\)", text)
    if match:
        return "[" + ", ".join(re.split(r"\s*,\s*", match.group(1))) + "]"
    return ""


def holds_refused(value) -> bool:
    """True for a value the loader refused, or a list holding one (its report is enough)."""
    return value is REFUSED or (isinstance(value, list) and any(holds_refused(v) for v in value))


# ------------------------------------------------------------------ the size of a view
def leaf_count(node, memo) -> int:
    key = id(node)
    if key in memo:
        return memo[key][1]
    if isinstance(node, Leaf):
        n = 1
    elif isinstance(node, Seq):
        n = sum(leaf_count(item, memo) for item in node.items)
    elif node.branches is not None:
        n = sum(leaf_count(b, memo) for b in node.branches)
    elif node.body is None:  # a join: it holds no layers
        n = 0
    else:  # a repeat's body `times` times; any other's once
        n = int(node.times) * leaf_count(node.body, memo)
    memo[key] = (node, n)  # the node is kept so that its id is not reused
    return n


def view_limit(analysis, what: str, rows: int | None = None):
    """None, or a located `too-large` diagnostic when ``analysis`` has more layers than a
    per-layer view (``what``: "the table", "export" …) may print — or, given ``rows``, when
    the view would print that many rows (a diff's changed layers): it points at the part of
    the spec that multiplies layers (the outermost repeat on the way to most of them)."""
    count = analysis.totals.layers if rows is None else rows
    if count <= MAX_VIEW_ROWS:
        return None
    mark = _multiplier(analysis.program) if analysis.program is not None else None
    if rows is not None:
        return make("too-large", f"{rows:,} changed layers: more than {what} writes out "
                    f"(at most {MAX_VIEW_ROWS:,} rows)", mark,
                    hint="`--fail-on` gates and the totals need no rows: `--format json` with a "
                         "smaller change, or `show --format json` of each side, streams every layer")
    return make("too-large", f"{analysis.totals.layers:,} layers: more than {what} writes out "
                f"(at most {MAX_VIEW_ROWS:,}, one row or statement per layer)", mark,
                hint="`--format json` or `--format csv` streams every layer; `validate` checks the spec")


def _multiplier(node):
    memo: dict = {}
    while True:
        if isinstance(node, Seq):
            if not node.items:
                return None
            node = max(node.items, key=lambda item: leaf_count(item, memo))
        elif isinstance(node, Leaf) or (isinstance(node, Composite) and node.unit.multiplies):
            return node.mark
        elif isinstance(node, Composite):
            parts = [p for p in [node.body, *(node.branches or [])] if p is not None]
            if not parts:
                return node.mark
            node = max(parts, key=lambda part: leaf_count(part, memo))
        else:
            return None
