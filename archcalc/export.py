"""`archcalc export`: an analysed spec becomes one standalone PyTorch module, as text. Pure.

The exporter walks the compiled node tree (``Analysis.program``) in execution order, beside
the analysed leaves (``Analysis.layers``) whose names it takes, and writes:

* one ``nn.Module`` class per spec block, its arguments as keyword constructor parameters
  after the input channels; the block body is compiled once more with the arguments as
  ``Sym`` values (integers that remember their name), so the kinds' export rules write
  ``nn.Conv2d(in_channels, width * 4, ...)``. Every call generates its class text; calls
  whose text comes out the same share the class (values that change the code, such as a
  `same` padding that depends on the input size, give a second class);
* one class for the network, and ``build()``;
* a named ``repeat`` as an ``nn.Sequential`` of its iterations (a block's class, or a class
  written for the repeat's body); an unnamed ``repeat`` as its iterations written out;
* ``parallel`` and ``residual`` as explicit ``forward`` code, merged through ``MERGES``.

Attributes follow the layer names, so ``state_dict()`` keys are the spec's layer names
(``layer1.0.conv1.weight``). Each leaf is written by its kind's ``export`` rule (see
``LayerKind`` in layers/base.py); problems become located ``not-exportable`` diagnostics.
"""
from __future__ import annotations

import ast
import builtins
import functools
import io
import keyword
import re
import tokenize
import unicodedata

from .compiler import Compiler, Composite, Leaf, Seq, leaf_count
from .diagnostics import make
from .layers.base import RuleError, Sym, _escape, channel_dim, fmt_shape, is_ids, py_str


# ----------------------------------------------------------------------------------- merges
class Merge:
    """How a parallel's branch outputs are combined: ``code(vars, out)`` is the Python
    expression over the branch variables, ``shape(shapes)`` the merged archcalc shape."""

    __slots__ = ("code", "shape")

    def __init__(self, code, shape):
        self.code = code
        self.shape = shape


def _concat_shape(shapes):
    return tuple(shapes[0][:-1]) + (sum(s[-1] for s in shapes),)


def broadcast_shape(shapes):
    """Element-wise merges: the branches' shapes broadcast together (equal shapes for add)."""
    out = list(shapes[0])
    for shape in shapes[1:]:
        out = [b if a == 1 else a for a, b in zip(out, shape)]
    return tuple(out)


# One entry per merge kind the spec accepts.
MERGES = {
    "concat": Merge(lambda xs, out: f"torch.cat([{', '.join(xs)}], dim={channel_dim(out)})", _concat_shape),
    "add": Merge(lambda xs, out: " + ".join(xs), broadcast_shape),
    "mul": Merge(lambda xs, out: " * ".join(xs), broadcast_shape),
}

# Attributes every nn.Module has (torch 2.13): a layer cannot take one of these names.
MODULE_ATTRIBUTES = frozenset("""
T_destination __annotations__ __call__ __class__ __delattr__ __dict__ __dir__ __doc__ __eq__
__format__ __ge__ __getattr__ __getattribute__ __getstate__ __gt__ __hash__ __init__
__init_subclass__ __le__ __lt__ __module__ __ne__ __new__ __reduce__ __reduce_ex__ __repr__
__setattr__ __setstate__ __sizeof__ __str__ __subclasshook__ __weakref__ _apply _backward_hooks
_backward_pre_hooks _buffers _call_impl _compiled_call_impl _forward_hooks
_forward_hooks_always_called _forward_hooks_with_kwargs _forward_pre_hooks
_forward_pre_hooks_with_kwargs _get_backward_hooks _get_backward_pre_hooks _get_name
_is_full_backward_hook _load_from_state_dict _load_state_dict_post_hooks _load_state_dict_pre_hooks
_maybe_warn_non_full_backward_hook _modules _named_members _non_persistent_buffers_set _parameters
_register_load_state_dict_pre_hook _register_state_dict_hook _replicate_for_data_parallel
_save_to_state_dict _slow_forward _state_dict_hooks _state_dict_pre_hooks _version
_wrapped_call_impl add_module apply bfloat16 buffers call_super_init children compile cpu cuda
double dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter
get_submodule half ipu load_state_dict modules mtia named_buffers named_children named_modules
named_parameters parameters register_backward_hook register_buffer register_forward_hook
register_forward_pre_hook register_full_backward_hook register_full_backward_pre_hook
register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module
register_parameter register_state_dict_post_hook register_state_dict_pre_hook requires_grad_
set_extra_state set_submodule share_memory state_dict to to_empty train training type xpu
zero_grad""".split())

# Names the generated file defines or imports; classes and variables avoid them.
_GLOBALS = {"torch", "nn", "F", "build", "INPUT_SHAPE", "self", "x", "in_channels", "in_features"}

# --------------------------------------------------------------------- names and literals
# Every name and string of a spec reaches the generated file through this section, never
# through an f-string of its own: a string as ``py_str`` (a quoted, escaped literal), an
# identifier the exporter chooses (class, argument, variable) through ``py_identifier``
# (ASCII, compared with the reserved names after NFKC, as Python compares identifiers), an
# attribute through ``_Class.ref``/``_Class.attach`` (``self.name`` only for a plain ASCII
# name, else ``getattr``/``add_module`` with the exact string, so state_dict keys stay the
# spec's names), and a docstring through ``doc_text``. The kinds' export rules are checked
# by ``check_torch`` (layers/base.py, "The export rule").
RESERVED = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins)) \
    | frozenset(_GLOBALS) | frozenset({"super", "getattr", "forward", "self", "torch"})

_ASCII_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# Attributes the exporter itself sets on a generated module: a layer cannot take them.
OWN_ATTRIBUTES = frozenset({"aux_outputs"})


def doc_text(text) -> str:
    """Text from a spec made safe inside a triple-quoted docstring: whitespace runs (line
    breaks included) become one space; backslashes, unprintable characters and quotes that
    are last or followed by a quote are escaped."""
    return _escape(" ".join(str(text).split()), doc=True) if text else ""


def py_identifier(name, fallback: str = "y") -> str:
    """An ASCII identifier for ``name``: NFKC-folded (as Python folds identifiers), other
    characters as ``_``; never a keyword, a builtin, a name the generated file uses (see
    RESERVED) or a name-mangled ``__name``: such a name gets a trailing ``_``."""
    base = unicodedata.normalize("NFKC", str(name))
    base = re.sub(r"[^0-9A-Za-z_]", "_", base)
    base = base.lstrip("_") if base.startswith("__") else base
    if not base:
        return fallback
    if base[0].isdigit():
        base = "_" + base
    while base in RESERVED:
        base += "_"
    return base


def plain_attribute(name: str) -> bool:
    """Whether ``self.<name>`` names the attribute ``name`` exactly: ASCII (Python folds other
    identifiers by NFKC, so ``self.ａ`` is ``self.a``), no keyword, and not ``__name`` (which
    Python mangles into ``_Class__name``)."""
    return bool(_ASCII_NAME.match(name)) and not keyword.iskeyword(name) and not name.startswith("__")


def _python_name(name: str, taken) -> str:
    base = py_identifier(name, "arg")
    while base in taken:
        base += "_"
    return base


def class_name(name: str, fallback: str = "Network") -> str:
    """'basic_down' -> 'BasicDown', 'vgg-a' -> 'VggA', 'lenet5-1998' -> 'Lenet5_1998'; the
    name NFKC-folded first (full-width letters are letters), never a reserved name
    ('none' -> 'None_')."""
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", unicodedata.normalize("NFKC", str(name))) if p]
    text = ""
    for part in parts:
        if text and part[0].isdigit():
            text += "_"
        text += part[0].upper() + part[1:]
    if not text or text[0].isdigit():
        text = fallback + text
    while text in RESERVED:
        text += "_"
    return text


_CODE_NODES = (ast.Expression, ast.Call, ast.keyword, ast.Attribute, ast.Name, ast.Load, ast.Constant,
               ast.Tuple, ast.List, ast.Dict, ast.Starred, ast.UnaryOp, ast.USub, ast.UAdd, ast.BinOp,
               ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.Subscript,
               ast.Slice, ast.Lambda, ast.arguments, ast.arg)
# The key of a class's input channels among its parameters (arguments are keyed by their
# spec names, which are strings: an argument named `in_channels` is an argument).
_CHANNELS = ("input channels",)

_CODE_NAMES = frozenset({"torch", "nn", "F", "float", "int", "m", "x", "in_channels", "in_features"})


def check_torch(torch, names) -> str | None:
    """What is wrong with a kind's ``Torch`` (None when nothing): ``module`` and ``call`` must
    each be one Python expression made of calls, attributes, numbers, strings, tuples, lists,
    arithmetic and lambdas, over torch, ``nn``, ``F``, ``float``, ``int``, the helper classes it
    declares and ``names`` (the block's arguments); ``{m}`` and ``{x}`` in ``call``, ``{tied}``
    in ``module``. A
    spec's text formatted into a rule's code without ``py_str``/``literal`` fails here (a
    located ``not-exportable``) instead of being run."""
    return _check_code(torch.module, torch.call, tuple(sorted(torch.helpers)), frozenset(names))


@functools.lru_cache(maxsize=4096)  # layers alike write alike code: check it once
def _check_code(module, call, helpers, names):
    for helper in helpers:
        if not _ASCII_NAME.match(helper) or helper in RESERVED:
            return f"the helper class name {helper!r} is not a plain identifier"
    allowed = _CODE_NAMES | set(helpers) | names
    module = module.replace("{tied}", "m")
    for what, text in (("module", module), ("call", call.replace("{m}", "m").replace("{x}", "x"))):
        try:
            tree = ast.parse(text, mode="eval")
        except (SyntaxError, ValueError):
            return f"its {what} is not one Python expression"
        bound = {node.arg for node in ast.walk(tree) if isinstance(node, ast.arg)}  # lambda parameters
        for node in ast.walk(tree):
            if not isinstance(node, _CODE_NODES):
                return f"its {what} holds a {type(node).__name__}"
            if isinstance(node, ast.Name) and node.id not in allowed and node.id not in bound:
                return f"its {what} names {node.id!r}"
            if isinstance(node, ast.Attribute) and node.attr.startswith("__"):
                return f"its {what} reads {node.attr!r}"
    return None


@functools.lru_cache(maxsize=4096)
def _code_names(line: str) -> frozenset:
    """The names a line of generated code reads or binds: NAME tokens that are not an
    attribute (after '.') nor a keyword argument (before '=' inside brackets); strings are
    not looked into. Cached: blocks repeat the same lines (ResNet-152 asks 800 times about
    a few dozen lines)."""
    return frozenset(tok.string for tok, _ in _name_tokens(line))


def _name_tokens(line: str):
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(line + "\n").readline)
              if t.type not in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT)]
    depth = 0
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        if tok.type != tokenize.NAME or keyword.iskeyword(tok.string):
            continue
        if i and tokens[i - 1].string == ".":
            continue
        if depth and i + 1 < len(tokens) and tokens[i + 1].string == "=":
            continue
        yield tok, i


def _rename(line: str, old: str, new: str) -> str:
    """``line`` with the name ``old`` (as _code_names finds it) written ``new``."""
    spots = [tok.start[1] for tok, _ in _name_tokens(line) if tok.string == old]
    for col in reversed(spots):
        line = line[:col] + new + line[col + len(old):]
    return line


def _concrete(value):
    if isinstance(value, Sym):
        return int(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_concrete(v) for v in value)
    return value


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ------------------------------------------------------------------------- shape-only walk
def shape_of(node, shape, named=None):
    """The output shape of a node for ``shape`` (symbolic values stay symbolic). ``named``
    holds the shapes of the named outputs met so far, for `from` and `join`."""
    named = {} if named is None else named
    if isinstance(node, Seq):
        for item in node.items:
            if item.source is not None and item.source[0] in named:
                shape = named[item.source[0]]
            shape = shape_of(item, shape, named)
            if item.name:
                named[item.name] = shape
        return shape
    if isinstance(node, Leaf):
        return node.kind.shape(shape, node.fields)
    if node.sources is not None:  # a join: the named outputs, merged
        return MERGES[node.merge].shape([named[name] for name, _ in node.sources])
    if not node.unit.feeds:  # a side head: what comes after it reads its input
        return shape
    if node.branches is not None:
        slices = channel_slices(node, shape) or [None] * len(node.branches)
        inputs = [shape if piece is None else tuple(shape[:-1]) + (piece[2],) for piece in slices]
        return MERGES[node.merge].shape([shape_of(b, s, named) for b, s in zip(node.branches, inputs)])
    for _ in range(int(node.times)):  # a repeat's body `times` times; a block's once
        shape = shape_of(node.body, shape, named)
    return shape


def references(node, found=None) -> set:
    """The names that `from` and `join` read anywhere in a compiled tree."""
    found = set() if found is None else found
    if isinstance(node, Seq):
        for item in node.items:
            references(item, found)
        return found
    if getattr(node, "source", None) is not None:
        found.add(node.source[0])
    if isinstance(node, Composite):
        if node.sources:
            found.update(name for name, _ in node.sources)
        for part in [node.body, *(node.branches or [])]:
            if part is not None:
                references(part, found)
    return found


def channel_slices(node, shape):
    """Per branch (start, stop) of the input's channels, or None (all of them); None when the
    parallel does not split (the engine has checked that the slices fit)."""
    if node.split is not None:
        value = node.split[0]
        n = len(node.branches)
        sizes = (shape[-1] // n,) * n if value == "equal" else value
        slices, start = [], 0
        for size in sizes:
            slices.append((start, start + size, size))
            start = start + size
        return slices
    if node.slices is not None and any(node.slices):
        return [None if piece is None else (*piece[0], piece[0][1] - piece[0][0]) for piece in node.slices]
    return None


# --------------------------------------------------------------------------- one class
class _Class:
    """An nn.Module class being written: its __init__ and forward lines."""

    def __init__(self, prefix: str, concrete: bool = False, params=()):
        self.prefix = prefix        # the scope of the instance walked: "layer1.0."
        self.concrete = concrete    # write values, not the enclosing class's argument names
        self.init: list[str] = []
        self.forward: list[str] = []
        self.containers: set[tuple] = set()
        self.live = {"x", *params}  # variable names taken (the arguments' too)
        self.params = set(params)   # the names a kind's code may use besides torch's
        self.pinned: set[str] = set()  # named tensors that `from`/`join` read later
        self.attributes: set[str] = set()  # the layers' attribute names on this class

    def ref(self, path) -> str:
        text = "self"
        for part in path:
            text = f"{text}.{part}" if plain_attribute(part) else f"getattr({text}, {py_str(part)})"
        return text

    def attach(self, path: tuple, expr: str, parameter: bool = False) -> str:
        for i in range(1, len(path)):
            if path[:i] not in self.containers:
                self.containers.add(path[:i])
                self._assign(path[:i], "nn.Module()")
        self._assign(path, expr, parameter)
        return self.ref(path)

    def _assign(self, path, expr, parameter: bool = False):
        parent, last = self.ref(path[:-1]), path[-1]
        if len(path) == 1:
            self.attributes.add(last)
        if plain_attribute(last):
            self.init.append(f"{parent}.{last} = {expr}")
        else:
            register = "register_parameter" if parameter else "add_module"
            self.init.append(f"{parent}.{register}({py_str(last)}, {expr})")

    def fresh(self, hint: str) -> str:
        base = py_identifier(hint)
        if base.rstrip("_") in RESERVED:  # `x`, `input`, `torch`: a neutral name instead
            base = "y"
        name, n = base, 1
        while name in self.live:
            n += 1
            name = f"{base}{n}"
        self.live.add(name)
        return name

    def render(self, name: str, signature: str, doc: str, result: str) -> str:
        lines = [f"class {name}(nn.Module):"]
        if doc:
            lines.append(f'    """{doc}"""')  # doc: doc_text's escaped text
            lines.append("")
        lines.append(f"    def __init__({signature}):")
        lines.append("        super().__init__()")
        lines += [_wrap(line, 8) for line in self.init]
        lines.append("")
        lines.append("    def forward(self, x):")
        lines += [_wrap(line, 8) for line in self.forward]
        lines.append(f"        return {result}")
        return "\n".join(lines) + "\n"


def _tokens(line: str) -> list:
    return [t for t in tokenize.generate_tokens(io.StringIO(line + "\n").readline)
            if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT,
                              tokenize.DEDENT, tokenize.COMMENT)]


def _split_arguments(text: str):
    """Top-level comma-separated parts of an argument list (read as Python tokens, so a comma
    or bracket inside a string does not count)."""
    parts, depth, start = [], 0, 0
    for tok in _tokens(text):
        if tok.type != tokenize.OP:
            continue
        if tok.string in "([{":
            depth += 1
        elif tok.string in ")]}":
            depth -= 1
        elif tok.string == "," and depth == 0:
            parts.append(text[start:tok.start[1]].strip())
            start = tok.end[1]
    parts.append(text[start:].strip())
    return parts


def _wrap(line: str, indent: int, width: int = 99) -> str:
    """Indent a statement; a call too long for one line gets its arguments on the next line,
    or one per line when they do not fit there either (as black formats it)."""
    pad = " " * indent
    if indent + len(line) <= width:
        return pad + line
    tokens = _tokens(line)
    opening = next((i for i, tok in enumerate(tokens) if tok.string == "(" and i
                    and tokens[i - 1].type in (tokenize.NAME, tokenize.NUMBER)
                    and tokens[i - 1].end == tok.start), None)
    if opening is None or tokens[-1].string != ")":
        return pad + line
    depth = 0
    for tok in tokens[opening:-1]:  # the parenthesis must close at the end of the line
        if tok.type == tokenize.OP:
            depth += tok.string in "([{"
            depth -= tok.string in ")]}"
            if depth <= 0:
                return pad + line
    split = tokens[opening].end[1]
    head, inner = line[:split], line[split:tokens[-1].start[1]]
    inner_pad = pad + "    "
    if len(inner_pad) + len(inner) <= width:
        return f"{pad}{head}\n{inner_pad}{inner}\n{pad})"
    args = [_wrap(arg, indent + 4, width).strip() for arg in _split_arguments(inner)]
    return pad + head + "\n" + "".join(f"{inner_pad}{a},\n" for a in args) + pad + ")"


# ------------------------------------------------------------------------------ the writer
class ExportFailed(Exception):
    def __init__(self, diagnostics):
        super().__init__(f"{len(diagnostics)} problem(s)")
        self.diagnostics = diagnostics


class _Writer:
    def __init__(self, analysis, reserved=frozenset()):
        self.analysis = analysis
        self.layers = analysis.layers
        self.cursor = 0
        self.blocks = analysis.blocks or {}
        self.classes: list[str] = []            # class texts, dependencies first
        self.by_text: dict[str, str] = {}       # class text (name left out) -> class name
        self.by_call: dict[tuple, tuple] = {}   # (block, args, input) -> (class name, params)
        self.names = set(_GLOBALS) | set(reserved)  # class names taken
        self.classes_named: set[str] = set()    # the class names given
        self.param_names: set[str] = set()      # every block argument's Python name
        self.problems = []
        self.counts: dict = {}
        self.helpers: dict[str, str] = {}       # helper classes the kinds' rules need
        self.refs = references(analysis.program) if analysis.program is not None else set()
        self.tensors: dict[str, tuple] = {}     # full name -> (variable, shape, class)
        self.last_scope = None
        self.built: set[str] = set()            # full names of the layers written so far

    def problem(self, message, mark, layer, hint=""):
        self.problems.append(make("not-exportable", message, mark, hint=hint, layer=layer))

    # -- structure ----------------------------------------------------------------------
    def path_of(self, cls: _Class, depth: int, fallback: str) -> str:
        """The name of the scope that the next leaf sits in, ``depth`` levels below the
        class's own scope (generated scope names are the engine's; read them from it)."""
        if self.cursor < len(self.layers):
            parts = self.layers[self.cursor].name[len(cls.prefix):].split(".")
            if len(parts) > depth + 1:
                return parts[depth]
        return fallback

    def seq(self, cls, seq: Seq, shape, src, dst, path, absorb=False):
        items = seq.items
        if absorb and len(items) == 1 and isinstance(items[0], Composite) and items[0].name is None \
                and items[0].unit.absorbed:
            return self.composite(cls, items[0], shape, src, dst, path, absorbed=True)
        var = src
        for item in items:
            before = (shape, var)
            if item.source is not None:
                found = self.lookup(cls, path, item.source, item.mark)
                if found is None:
                    return shape, var
                var, shape = found
            if isinstance(item, Leaf):
                full = self.layers[self.cursor].name
                shape, var = self.leaf(cls, item, shape, var, dst, path)
            else:
                full = None
                shape, var = self.composite(cls, item, shape, var, dst, path)
                full = self.last_scope
                if not item.unit.feeds:  # a head feeds nothing: go on from what came before it
                    shape, var = before
            if full is not None and self.referenced(full):
                saved = cls.fresh(full.rpartition(".")[2])
                cls.pinned.add(saved)
                cls.forward.append(f"{saved} = {var}")
                self.tensors[full] = (saved, shape, cls)
        return shape, var

    # -- named tensors (`from`, `join`) -------------------------------------------------------
    def referenced(self, full: str) -> bool:
        return full in self.refs or any(full.endswith("." + r) for r in self.refs)

    def lookup(self, cls, path, source, mark):
        """(variable, shape) of the tensor a `from`/`join` names, searched from the innermost
        scope outwards as the engine does; it must be computed in the same class."""
        name, where = source
        prefix = cls.prefix + "".join(p + "." for p in path)
        while True:
            found = self.tensors.get(prefix + name)
            if found is not None:
                break
            if not prefix:
                break
            prefix = prefix[:-1].rpartition(".")[0]
            prefix = prefix + "." if prefix else ""
        if found is None or found[2] is not cls:
            self.problem(f"{name!r} is computed outside the block that reads it; an exported block's "
                         "forward sees only its own input", where, None,
                         hint="read it at the level where it is computed, or pass it through the block")
            return None
        return found[0], found[1]

    def leaf(self, cls, node: Leaf, shape, src, dst, path):
        layer = self.layers[self.cursor]
        self.cursor += 1
        parts = tuple(layer.name[len(cls.prefix):].split("."))
        fields = _concrete(node.fields) if cls.concrete else node.fields
        if cls.concrete:
            shape = (_concrete(shape[:-1]) + (shape[-1],))
        kind = node.kind
        out = kind.shape(shape, fields)
        if kind.export is None:
            self.problem(f"{kind.name} has no PyTorch form in archcalc export", node.mark, layer.name,
                         hint="export supports the kinds whose docs/spec.md section gives a PyTorch form")
            return out, dst
        try:
            torch = self.written(kind, shape, out, fields, cls)
        except RuleError as exc:
            mark = node.field_marks.get(exc.field, node.mark) if exc.field else node.mark
            self.problem(exc.message, mark, layer.name, hint=exc.hint)
            return out, dst
        if not self.check_names(parts, node.mark, layer.name):
            return out, dst
        self.helpers.update(torch.helpers)
        module = torch.module
        if layer.frozen and layer.params:
            module += ".requires_grad_(False)"  # `frozen: true`: not trained
        if torch.tied is not None:
            tied = self.tied_ref(cls, torch.tied, layer, node.mark)
            if tied is None:
                return out, dst
            module = module.replace("{tied}", tied)
        ref = cls.attach(parts, module, torch.parameter)
        self.built.add(layer.name)
        # one pass: the module's reference may hold a name such as "{x}" as a string
        call = re.sub(r"\{[mx]\}", lambda found: ref if found.group(0) == "{m}" else src, torch.call)
        cls.forward.append(f"{dst} = {call}")
        return out, dst

    def tied_ref(self, cls, target: str, layer, mark):
        """The module of the earlier layer ``target`` (a tied head's embedding), which must be
        built in the same class; the engine has checked that it exists and fits."""
        scope = layer.name.rpartition(".")[0]
        full = f"{scope}.{target}" if scope and f"{scope}.{target}" in self.built else target
        if full not in self.built or not full.startswith(cls.prefix):
            self.problem(f"{layer.name} shares the weights of {target!r}, which an exported class "
                         "cannot reach from here", mark, layer.name,
                         hint="keep the tied head and its embedding in the same block")
            return None
        return cls.ref(tuple(full[len(cls.prefix):].split(".")))

    def written(self, kind, shape, out, fields, cls):
        """The kind's Torch for one layer, checked (``check_torch``): a rule that would put
        text the exporter cannot vouch for into the file is a located refusal instead."""
        torch = kind.export(shape, out, fields)
        wrong = check_torch(torch, cls.params)
        if wrong is not None:
            raise RuleError("not-exportable", f"{kind.name}'s export rule wrote code archcalc does not "
                            f"write into a module: {wrong}",
                            hint="a spec's text must reach generated code through py_str() or literal() "
                                 "(archcalc/layers/base.py, \"The export rule\")")
        return torch

    def check_names(self, parts, mark, layer) -> bool:
        """Whether the names of a scope can be attributes of nn.Modules: not one every module
        has (``training``, ``forward``), not one the exporter sets, not a dunder name. Any
        other string can (through ``add_module`` when it is not a plain identifier)."""
        bad = [p for p in parts if p in MODULE_ATTRIBUTES or p in OWN_ATTRIBUTES]
        if bad:
            self.problem(f"the name {bad[0]!r} is an attribute of every torch.nn.Module, so it cannot "
                         "name a submodule", mark, layer,
                         hint=f"rename it (e.g. {bad[0] + '_'!r}); state_dict keys follow layer names")
            return False
        bad = [p for p in parts if len(p) > 4 and p.startswith("__") and p.endswith("__")]
        if bad:
            self.problem(f"the name {bad[0]!r} is a Python special (dunder) name, so it cannot name a "
                         "submodule", mark, layer,
                         hint=f"rename it (e.g. {bad[0].strip('_')!r}); state_dict keys follow layer names")
            return False
        return True

    def composite(self, cls, node: Composite, shape, src, dst, path, absorbed=False):
        """The scope a composite's modules are attached in; its unit's ``export`` rule writes it."""
        if absorbed:
            scope = path
        elif node.name is not None:
            # read from the analysed names: a name may be an expression of block arguments
            scope = path + (self.path_of(cls, len(path), node.name),)
        elif not node.scoped:  # an unnamed repeat or residual, a parallel with `scope: false`
            scope = path
        else:
            scope = path + (self.path_of(cls, len(path), node.kind),)
        self.last_scope = None
        result = node.unit.export(self, cls, node, shape, src, dst, path, scope, absorbed)
        if scope != path:
            self.last_scope = cls.prefix + ".".join(scope)
        elif not node.unit.multiplies:
            self.last_scope = None
        # else an unnamed repeat: its output is its last iteration's, and the scope that made
        # that (set by the walk inside) stays the one named
        return result

    def aux(self, cls, node, shape, src, scope):
        """An auxiliary head: its modules are built (their parameters count), but it runs in
        training only, as torchvision's Inception-v3 runs AuxLogits; its output is kept in
        ``aux_outputs[name]`` and the network goes on from the head's input."""
        start = len(cls.forward)
        var = cls.fresh("aux")
        _, out = self.seq(cls, node.body, shape, src, var, scope)
        body = cls.forward[start:]
        del cls.forward[start:]
        if "self.aux_outputs = {}" not in cls.init:
            cls.init.insert(0, "self.aux_outputs = {}")
        label = ".".join(scope) or "aux"
        cls.forward.append("if self.training:  # an auxiliary head, run in training only")
        cls.forward += ["    " + line for line in body]
        cls.forward.append(f"    self.aux_outputs[{py_str(label)}] = {out}")
        return shape, src

    def join(self, cls, node, dst, path):
        found = [self.lookup(cls, path, source, node.mark) for source in node.sources]
        if any(f is None for f in found):
            return None, dst
        merge = MERGES[node.merge]
        out = merge.shape([shape for _, shape in found])
        cls.forward.append(f"{dst} = {merge.code([var for var, _ in found], out)}")
        return out, dst

    def parallel(self, cls, node, shape, src, dst, scope):
        outs, names = [], []
        slices = channel_slices(node, shape)
        whole = shape
        for i, (branch, local) in enumerate(zip(node.branches, node.branch_names)):
            shape, source = whole, src
            if slices is not None and slices[i] is not None:
                start, stop, size = slices[i]
                shape = tuple(whole[:-1]) + (size,)
                to_end = (node.split is not None and i == len(slices) - 1) or str(stop) == str(whole[-1])
                axis = "..., " if len(whole) == 2 else ":, "  # a token sequence's features are last
                source = f"{src}[{axis}{'' if start == 0 else start}:{'' if to_end else stop}]"
            if not branch.items:
                outs.append(shape)
                names.append(source)
                continue
            sub = scope if local == "" else scope + (self.path_of(cls, len(scope), local),)
            var = cls.fresh(local or "out")
            written = self.sequential(cls, branch, shape, source, var, sub)
            if written is None:
                out, written = self.seq(cls, branch, shape, source, var, sub)
            else:
                out = written[0]
                written = var
            if written != var:  # nothing was written (a branch of empty scopes)
                if var not in cls.pinned:
                    cls.live.discard(var)
                var = written
            outs.append(out)
            names.append(var)
        merge = MERGES[node.merge]
        out = merge.shape(outs)
        cls.forward.append(f"{dst} = {merge.code(names, out)}")
        for name in names:
            if name not in ("x", src, dst) and name not in cls.pinned:
                cls.live.discard(name)
        return out, dst



    def sequential(self, cls, branch: Seq, shape, src, var, sub):
        """A branch of plain leaves named 0, 1, … (torchvision's `downsample`) becomes one
        nn.Sequential; None when the branch is anything else."""
        n = len(branch.items)
        if not all(isinstance(item, Leaf) for item in branch.items) or cls.concrete \
                or self.cursor + n > len(self.layers):
            return None
        names = [self.layers[self.cursor + i].name[len(cls.prefix):] for i in range(n)]
        if names != [".".join(sub + (str(i),)) for i in range(n)] or not self.check_names(sub, branch.items[0].mark, names[0]):
            return None
        modules, out, helpers = [], shape, {}
        for item in branch.items:
            inp = out
            out = item.kind.shape(inp, item.fields)
            if item.kind.export is None:
                return None
            try:
                torch = self.written(item.kind, inp, out, item.fields, cls)
            except RuleError:
                return None
            if torch.call != "{m}({x})":
                return None
            layer = self.layers[self.cursor + len(modules)]
            frozen = ".requires_grad_(False)" if layer.frozen and layer.params else ""
            modules.append(torch.module + frozen)
            helpers.update(torch.helpers)
        self.cursor += n
        self.helpers.update(helpers)
        ref = cls.attach(sub, f"nn.Sequential({', '.join(modules)})")
        cls.forward.append(f"{var} = {ref}({src})")
        return (out,)

    def block_call(self, cls, node, shape, src, dst, scope, inline=False):
        count = leaf_count(node, self.counts)
        if inline or count == 0:
            return self.seq(cls, node.body, shape, src, dst, scope, absorb=True)
        if not self.check_names(scope, node.mark, ".".join(scope)):
            self.cursor += count
            return shape_of(node.body, shape), dst
        name, params = self.block_class(cls, node, shape, scope, count)
        args = [str(shape[-1])] if _CHANNELS in params else []
        values = node.args or {}
        args += [f"{python}={_concrete(values[arg]) if cls.concrete else values[arg]}"
                 for arg, python in params.items() if arg != _CHANNELS]
        ref = cls.attach(scope, f"{name}({', '.join(args)})")
        cls.forward.append(f"{dst} = {ref}({src})")
        return shape_of(node.body, _concrete(shape) if cls.concrete else shape), dst

    def block_class(self, cls, node, shape, scope, count):
        """The class for one call of a block (written once per distinct call)."""
        values = node.args or {}
        key = (node.kind, repr(sorted((k, _concrete(v)) for k, v in values.items())), repr(_concrete(shape)))
        known = self.by_call.get(key)
        if known is not None:
            self.cursor += count
            return known
        definition, mark = self.blocks[node.kind]
        declared = definition.get("args") or {}
        taken = set(_GLOBALS)
        env, params = {}, {}
        for arg in declared:
            value = _concrete(values.get(arg))
            if _is_int(value):
                python = _python_name(arg, taken)
                taken.add(python)
                env[arg] = (Sym(value, python), declared.value_marks[arg])
                params[arg] = python
            else:
                env[arg] = (value, declared.value_marks[arg])
        self.param_names.update(params.values())
        channel = "in_channels" if len(shape) == 3 else "in_features"
        inp = tuple(_concrete(shape[:-1])) + (Sym(int(shape[-1]), channel),)
        body = Compiler(self.blocks, []).layer_list(definition.get("layers"),
                                                    definition.value_marks.get("layers", mark), env,
                                                    (node.kind,))
        inner = _Class(cls.prefix + "".join(p + "." for p in scope), params=[channel, *params.values()])
        _, result = self.seq(inner, body, inp, "x", "x", (), absorb=True)
        doc = definition.get("doc")
        name, used = self.finish(inner, node.kind, {_CHANNELS: channel, **params}, result,
                                 doc if isinstance(doc, str) else "")
        self.by_call[key] = (name, used)
        return name, used

    def finish(self, inner: _Class, base: str, params: dict, result: str, doc: str):
        """Render a class, share it with an identical earlier one, return (name, params used)."""
        # arguments that forward needs (a channel slice) are kept as attributes; names are
        # found and replaced as Python tokens, so that `dim=1` or a string is never touched
        kept = []
        for python in params.values():
            if any(python in _code_names(line) for line in inner.forward):
                attribute = python
                while attribute in MODULE_ATTRIBUTES or attribute in OWN_ATTRIBUTES \
                        or attribute in inner.attributes:
                    attribute += "_"
                inner.attributes.add(attribute)
                kept.append(f"self.{attribute} = {python}")
                inner.forward = [_rename(line, python, f"self.{attribute}") for line in inner.forward]
        inner.init = kept + inner.init
        names = set().union(*(_code_names(line) for line in inner.init + inner.forward + [result]))
        used = {arg: python for arg, python in params.items() if python in names}
        channel = [python for arg, python in used.items() if arg == _CHANNELS]
        rest = [python for arg, python in used.items() if arg != _CHANNELS]
        signature = ", ".join(["self"] + channel + (["*"] + rest if rest else []))
        text = inner.render("{name}", signature, doc_text(doc), result)
        name = self.by_text.get(text)
        if name is None:
            name = class_name(base, "Block")
            n = 1
            while name in self.names:
                n += 1
                name = f"{class_name(base, 'Block')}{n}"
            self.names.add(name)
            self.classes_named.add(name)
            self.by_text[text] = name
            self.classes.append(text.replace("class {name}(", f"class {name}(", 1))
        return name, used

    def named_repeat(self, cls, node, shape, src, dst, path, local):
        scope = path + (local,)
        if not self.check_names(scope, node.mark, ".".join(scope)):
            self.cursor += leaf_count(node, self.counts)
            return shape_of(node, shape), dst
        body = node.body
        items = body.items
        single = len(items) == 1 and isinstance(items[0], Composite) and items[0].name is None \
            and items[0].unit.single_block
        ctors = []
        for i in range(int(node.times)):
            step = scope + (str(i),)
            if single:
                call = items[0]
                count = leaf_count(call, self.counts)
                if count == 0:
                    ctors.append("nn.Identity()")
                    continue
                name, params = self.block_class(cls, call, shape, step, count)
                values = call.args or {}
                args = [str(shape[-1])] if _CHANNELS in params else []
                args += [f"{python}={_concrete(values[arg]) if cls.concrete else values[arg]}"
                         for arg, python in params.items() if arg != _CHANNELS]
                ctors.append(f"{name}({', '.join(args)})")
            else:
                ctors.append(self.body_class(cls, node, shape, step))
            shape = shape_of(body, _concrete(shape) if cls.concrete else shape)
        if len(set(ctors)) == 1 and len(ctors) > 1:
            expr = f"nn.Sequential(*({ctors[0]} for _ in range({node.times})))"
        elif len(ctors) > 2 and len(set(ctors[1:])) == 1:
            expr = f"nn.Sequential({ctors[0]}, *({ctors[1]} for _ in range({node.times - 1})))"
        else:
            expr = f"nn.Sequential({', '.join(ctors)})"
        ref = cls.attach(scope, expr)
        cls.forward.append(f"{dst} = {ref}({src})")
        return shape, dst

    def body_class(self, cls, node, shape, step):
        """A class for a named repeat's body that is not a single block call."""
        channel = "in_channels" if len(shape) == 3 else "in_features"
        inp = tuple(_concrete(shape[:-1])) + (Sym(int(shape[-1]), channel),)
        inner = _Class(cls.prefix + "".join(p + "." for p in step), concrete=True)
        _, result = self.seq(inner, node.body, inp, "x", "x", (), absorb=True)
        name, used = self.finish(inner, f"{step[-2]}_step", {_CHANNELS: channel}, result, "")
        return f"{name}({shape[-1]})" if used else f"{name}()"


def _count(n) -> str:
    return f"{n:,}"


def _walk(analysis, reserved=frozenset()):
    writer = _Writer(analysis, reserved)
    network = _Class("")
    if "input" in writer.refs:
        network.forward.append("inputs = x")
        network.live.add("inputs")
        network.pinned.add("inputs")
        writer.tensors["input"] = ("inputs", tuple(analysis.input), network)
    out, result = writer.seq(network, analysis.program, tuple(analysis.input), "x", "x", ())
    name = class_name(analysis.name or "network")
    while name in writer.names:
        name += "_"
    writer.names.add(name)
    writer.classes_named.add(name)
    return writer, network, out, result, name


def export_pytorch(analysis, command: str = "") -> str:
    """The module's text; raises ExportFailed with located diagnostics when a layer cannot
    be written exactly in PyTorch. The analysis must be free of errors."""
    from .compiler import view_limit

    too_large = view_limit(analysis, "export")
    if too_large is not None:
        raise ExportFailed([too_large])
    writer, network, out, result, name = _walk(analysis)
    if writer.problems:
        raise ExportFailed(writer.problems)
    # a class may not take the name of a helper class or of a block argument (which would
    # hide it inside a constructor): those are known once all is written, so write again
    clash = (set(writer.helpers) | writer.param_names) & writer.classes_named
    if clash:
        writer, network, out, result, name = _walk(analysis, set(writer.helpers) | writer.param_names)
    title = analysis.title or analysis.name
    writer.classes.append(network.render(name, "self", doc_text(title), result).replace(
        "class {name}(", f"class {name}(", 1))
    body = "\n\n".join([writer.helpers[name] for name in sorted(writer.helpers)] + writer.classes)
    ids = is_ids(analysis.input)
    inp = tuple(analysis.input)
    nchw = (1, inp[2], inp[0], inp[1]) if len(inp) == 3 else (1,) + inp
    out_torch = (f"(N, {out[2]}, {out[0]}, {out[1]})" if len(out) == 3
                 else "(N, " + ", ".join(map(str, out)) + ")")
    in_torch = ("(N, C, H, W) = " + f"(N, {inp[2]}, {inp[0]}, {inp[1]})" if len(inp) == 3
                else "(N, " + ", ".join(map(str, inp)) + ")")
    if ids:
        in_torch = f"token ids (N, T) = (N, {inp[0]}) of dtype torch.long"
    t = analysis.totals
    net_name = doc_text(analysis.name) or "network"
    doc = [f"{net_name} — {doc_text(title)}" if analysis.title and analysis.title != analysis.name
           else net_name, ""]
    if analysis.reference:
        doc += _fill(f"Reference: {doc_text(analysis.reference)}") + [""]
    doc += _fill(f"Input {fmt_shape(analysis.input)} in archcalc's channels-last [H, W, C]; this module takes "
                 f"PyTorch's {in_torch} and returns {out_torch}.") + [""]
    doc += _fill(f"Totals computed by archcalc: {_count(t.params)} parameters, {_count(t.buffers)} "
                 f"buffers (batch-norm running mean and variance), {_count(t.macs)} MACs at batch 1, "
                 f"depth {t.depth}, {t.layers} layers.")
    doc += ["", f"Written by `{doc_text(command)}`; needs only torch. build() returns the network."
            if command else "Written by archcalc export; needs only torch. build() returns the network."]
    doc_lines = "\n".join(doc)
    dtype = "INPUT_DTYPE = torch.long  # token ids\n" if ids else ""
    imports = []
    roots = _module_roots(body)
    if ids or "torch" in roots:
        imports.append("import torch")
    if "F" in roots:
        imports.append("import torch.nn.functional as F")
    imports.append("from torch import nn")
    text = (f'"""{doc_lines}\n"""\n' + "\n".join(imports) + "\n\n"
            f"INPUT_SHAPE = {nchw}\n{dtype}\n\n" + body + "\n\n"
            f"def build() -> nn.Module:\n    return {name}()\n")
    try:  # the last guard, while it is cheap (every built-in): what is written is Python
        if len(text) <= 1_000_000:
            ast.parse(text)
    except (SyntaxError, ValueError) as exc:
        raise ExportFailed([make("not-exportable", f"the module written is not valid Python ({exc}); "
                                 "please report this", None)]) from None
    return text


def _module_roots(body: str):
    """The names that start attribute chains in the written classes (``torch`` in
    ``torch.flatten``); a name inside a string (as py_str writes them) does not count."""
    code = re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', body)
    return set(re.findall(r"(?<![\w.])([A-Za-z_]\w*)\.", code))


def _fill(text: str, width: int = 92) -> list[str]:
    """Wrap at spaces, never inside a parenthesised shape such as (N, 3, 224, 224)."""
    import textwrap

    glued = re.sub(r"\([^()]*\)", lambda m: m.group(0).replace(" ", "\0"), text)
    return [line.replace("\0", " ") for line in textwrap.wrap(glued, width, break_on_hyphens=False)] or [""]
