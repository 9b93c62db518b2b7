"""ONNX models in: a graph -> the located values of an equivalent spec.

Decoded in pure Python from the protobuf wire (onnx_wire.py: no onnx import, the large
initializers' payloads dropped unparsed by onnx_scan.slim); the ``onnx`` package (the optional
extra ``archcalc[onnx]``) is imported only for ONNX's shape inference, which a few exported
patterns need (a Slice whose bounds are computed). No onnxruntime, no torch. Weights are
never interpreted (one comparison aside: a head whose weight is a transposed copy of the
token embedding's table is tied, ``_Graph.transposed``): a layer's fields come from
its attributes and the *shapes* of its initializers, and the shapes of the activations from
archcalc's own rules, so an imported model is checked exactly as a spec is.

A graph made of sequences and forks whose branches meet again at one Add, Mul or Concat
becomes nested ``parallel`` entries (every ResNet, Inception, MobileNet, EfficientNet and
every network exported from a spec); any other DAG (DenseNet) becomes a flat list that wires
tensors by name with ``from`` and ``join``.
Each node becomes a layer named after the node; its location is the node's line in a
listing of the graph (``Document.text``), so diagnostics show the node with a caret.
"""
from __future__ import annotations

import contextlib
import mmap
import os
import stat
from collections import Counter

from ..diagnostics import make
from ..layers.base import NotRead
from . import ImportRefused
from .located import Document, Mark, located

#: the default-domain opsets whose operator semantics this module implements
OPSETS = range(7, 24)

# the ops that merge two or more branches, as a `parallel`'s or a `join`'s merge
_MERGES = {"Add": "add", "Mul": "mul", "Concat": "concat"}


def _rules() -> dict:
    """ONNX op -> [(kind name, Onnx rule)] from the kinds' own ``onnx`` declarations, in the
    registry's order (the ONNX reader names no kind)."""
    global _RULES
    if _RULES is None:
        from ..layers import REGISTRY

        rules: dict = {}
        for kind in REGISTRY.values():
            for rule in kind.onnx:
                for op in rule.ops:
                    rules.setdefault(op, []).append((kind.name, rule))
        _RULES = rules
    return _RULES


_RULES = None


class OnnxUnavailable(ImportRefused):
    """The onnx package is not installed."""


class NotOnnx(ImportRefused):
    """The file is not a readable ONNX model."""


def _onnx():
    """The onnx package, for its shape inference only (reading needs no package)."""
    try:
        import onnx  # noqa: PLC0415 - optional, imported only for shape inference
    except ImportError:
        raise OnnxUnavailable("this model needs ONNX's shape inference, from the onnx package: "
                              "pip install 'archcalc[onnx]'") from None
    return onnx


def _printable(text) -> str:
    if isinstance(text, bytes):  # a string field that is not UTF-8
        text = text.decode("utf-8", "replace")
    return "".join(ch if ch.isprintable() else "?" for ch in text)


# ops that compute small index constants from constants
_INDEX_OPS = ("Unsqueeze", "Squeeze", "Cast", "Concat")

# TensorProto's integer types (INT8 3, INT16 5, INT32 6, INT64 7, UINT32 12, UINT64 13): an input of
# token ids
_INTEGERS = (3, 5, 6, 7, 12, 13)

# ops whose output is a view of their first input's values
_VIEWS = ("Expand", "Reshape", "Unsqueeze", "Squeeze", "Cast", "Identity")

# how a Transpose changes the layout: channels moved last, and back
_MOVES = {("nchw", (0, 2, 3, 1)): "nhwc", ("nhwc", (0, 3, 1, 2)): "nchw"}


def _all_inputs(node) -> list[str]:
    """A node's inputs, and the outer tensors its subgraphs (If, Loop) read."""
    names = list(node.input)
    for attr in node.attribute:
        for graph in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
            inner = {o for n in graph.node for o in n.output} | {i.name for i in graph.initializer}
            names += [i for n in graph.node for i in _all_inputs(n) if i and i not in inner]
    return names


def _patterns() -> dict:
    """The last op of each kind read from a subgraph -> [(kind name, Onnx rule)]."""
    return {op: [(k, r) for k, r in rules if r.pattern] for op, rules in _rules().items()
            if any(r.pattern for _, r in rules)}


@contextlib.contextmanager
def _mapped(path: str):
    """A file's bytes, mapped read-only (an empty file: b"")."""
    with open(path, "rb") as handle:
        if not os.fstat(handle.fileno()).st_size:
            yield b""
            return
        data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            yield data
        finally:
            data.close()


def _transposed(table, copy, rows: int, columns: int) -> bool:
    """Whether ``copy``, a (rows, columns) array, holds the values of ``table``, a (columns,
    rows) array, transposed: compared as raw bits, one row of the copy against one strided
    column of the table at a time."""
    if not rows or not columns or len(table) != len(copy) or len(copy) % (rows * columns):
        return False
    size = len(copy) // (rows * columns)
    fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}.get(size)
    if fmt is None:
        return False
    with memoryview(table).cast(fmt) as a, memoryview(copy).cast(fmt) as b:
        return all(a[r::rows] == b[r * columns:(r + 1) * columns] for r in range(rows))


class NodeView:
    """One node as a kind's ONNX reader sees it (``Onnx.read`` in archcalc/layers/base.py)."""

    def __init__(self, graph, node):
        self.g = graph
        self.node = node
        self.op = node.op_type
        self.inputs = list(node.input)
        self.attrs = graph.attrs(node)
        self.expected = None
        self.owners: dict = {}  # learned tensor -> the name of the first layer that read it
        self.reads = None  # a pattern's input tensor
        self.between: Counter = Counter()  # a pattern's nodes before this one, by op type
        self.nodes_between: list = []

    @property
    def layout(self) -> str:
        """The layout of the node's data input: "nchw", "nhwc" (channels last), "flat" or "other"."""
        inputs = self.g.data_inputs(self.node)
        # while patterns are read the layouts are not known yet: a pattern is read as NCHW
        return getattr(self.g, "layout", {}).get(inputs[0], "nchw") if inputs else "nchw"

    def learned(self, i: int):
        """The shape of input ``i`` when it is a learned tensor (an initializer, or a view of
        one), not a Constant node's value; else None."""
        if not self.has(i) or self.inputs[i] not in self.g.learned:
            return None
        return self.g.weight_shape(self.inputs[i])

    def table(self, i: int):
        """For a learned input ``i``: (the shape of the learned table it is, or is a part of,
        how the part was taken: None for the whole table, "Slice" (the first rows: the
        positions a sequence uses) or "Gather" (rows at constant indices: a token type's));
        else (None, None)."""
        if not self.has(i) or self.inputs[i] not in self.g.learned:
            return None, None
        name = self.inputs[i]
        if name in self.g.parts:
            return self.g.weight_shape(self.g.origin[name]), self.g.parts[name]
        return self.g.weight_shape(name), None

    def shared(self, i: int):
        """The name of an earlier layer that reads the learned tensor of input ``i`` (or the
        tensor it is a transposed view of): a weight two layers share (a tied LM head); else None."""
        if not self.has(i) or self.inputs[i] not in self.g.learned:
            return None
        name = self.inputs[i]
        return self.owners.get(self.g.origin.get(name, name)) or self.copy_of(i)

    def copy_of(self, i: int):
        """The name of an earlier layer that looks rows up in a learned 2-D table (a Gather's)
        which the learned tensor of input ``i`` is a transposed copy of — of the transposed
        shape, the same data type and equal values, each of them (the dynamo exporter writes a
        tied head's weight so: an initializer of its own); else None. Only such tables are
        compared, so a product by any other weight reads no values."""
        if not self.has(i) or self.inputs[i] not in self.g.initializers:
            return None
        mine = self.g.weight_shape(self.inputs[i])
        if mine is None or len(mine) != 2:
            return None
        for tensor in sorted(self.g.looked_up()):  # a few tables at most: no values read for other weights
            owner = self.owners.get(self.g.origin.get(tensor, tensor))
            if owner is not None and tuple(self.g.weight_shape(tensor) or ()) == (mine[1], mine[0]) \
                    and self.g.transposed(tensor, self.inputs[i]):
                return owner
        return None

    def constant_operand(self) -> int | None:
        """For a two-input op with one constant input: that input's index; else None."""
        given = [i for i in range(len(self.inputs)) if self.inputs[i]]
        constants = [i for i in given if self.inputs[i] in self.g.constant]
        return constants[0] if len(given) == 2 and len(constants) == 1 else None

    def attrs_between(self, op: str) -> list[dict]:
        """The attributes of a pattern's nodes of type ``op``, in graph order."""
        return [self.g.attrs(n) for n in self.nodes_between[::-1] if n.op_type == op]

    def values_between(self, op: str) -> list:
        """The constant operands of a pattern's nodes of type ``op`` (a number, a list or None)."""
        return [self.g.scalar(i) for n in self.nodes_between[::-1] if n.op_type == op
                for i in n.input if i in self.g.constant]

    def views_between(self, op: str) -> list:
        """The views of a pattern's nodes of type ``op``, in graph order."""
        views = []
        for n in sorted((n for n in self.nodes_between if n.op_type == op), key=lambda n: self.g.position[id(n)]):
            view = NodeView(self.g, n)
            view.reads, view.nodes_between = self.reads, self.nodes_between
            views.append(view)
        return views

    def computed_by(self, name: str, limit: int = 64) -> set:
        """The op types of the nodes that computed constant tensor ``name`` from other
        constants (a causal mask made by a Trilu from the scores' Shape), walked back at most
        ``limit`` nodes; empty for an initializer or a tensor of the data."""
        return self._behind(name, limit)[0]

    def learned_behind(self, name: str, limit: int = 64) -> list:
        """The shapes of the learned tensors of more than one number that the nodes computing
        constant tensor ``name`` read (Swin V2's position-bias MLP, run on constants only),
        each once, walked back at most ``limit`` nodes."""
        return self._behind(name, limit)[1]

    def _behind(self, name: str, limit: int):
        if name not in self.g.constant:
            return set(), []
        producer = self.g.producers()
        ops, learned, todo, seen = set(), [], [name], set()
        while todo and len(seen) < limit:
            node = producer.get(todo.pop())
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            ops.add(node.op_type)
            for i in node.input:
                if i and i in self.g.learned and i not in seen and self.g.numbers(i) \
                        and (self.g.origin.get(i, i) == i or i not in producer):
                    learned.append(tuple(self.g.weight_shape(i) or ()))
                    seen.add(i)
            todo += [i for i in node.input if i and i in self.g.constant]
        return ops, learned

    @property
    def order(self) -> int:
        """The node's position in the graph's (topological) order: which of a pattern's nodes
        comes first."""
        return self.g.position[id(self.node)]

    def _in_order(self) -> list:
        return sorted([*self.nodes_between, self.node], key=lambda n: self.g.position[id(n)])

    def ops_in_order(self) -> list[str]:
        """The op types of a pattern's nodes and of this one, in graph order."""
        return [n.op_type for n in self._in_order()]

    def learned_between(self) -> list[tuple]:
        """(position in ``ops_in_order()``, shape, the op that reads it) of each learned tensor
        of more than one number that a pattern's nodes or this one read, each once (a tensor
        of integers, a shape or indices, is none; nor is a scalar, such as a scale the dynamo
        exporter stores as an initializer)."""
        seen, found = set(), []
        for at, n in enumerate(self._in_order()):
            for name in n.input:
                if name and name in self.g.learned and name not in seen and self.g.numbers(name):
                    seen.add(name)
                    found.append((at, tuple(self.g.weight_shape(name) or ()), n.op_type))
        return found

    def source(self, name: str):
        """The view of the pattern's node that computes tensor ``name``, or None (``name`` is
        the pattern's input, a constant, or computed outside it)."""
        node = next((n for n in self.nodes_between if name in n.output), None)
        if node is None:
            return None
        view = NodeView(self.g, node)
        view.reads, view.nodes_between = self.reads, self.nodes_between
        return view

    def has(self, i: int) -> bool:
        return len(self.inputs) > i and bool(self.inputs[i])

    def weight(self, i: int):
        """The shape of input ``i`` when it is a constant (a weight), else None."""
        if not self.has(i) or self.inputs[i] not in self.g.constant:
            return None
        return self.g.weight_shape(self.inputs[i])

    def value(self, i: int):
        """The value of a small constant input ``i`` (a number or a list), else None."""
        return self.g.scalar(self.inputs[i]) if len(self.inputs) > i else None

    def input_shape(self):
        """The dimensions of the node's data input (N, C, H, W), from ONNX's shape inference, or None."""
        inputs = self.g.data_inputs(self.node)
        return self.g.input_shape(inputs[0]) if inputs else None

    def shape(self, name: str):
        """The dimensions of tensor ``name`` (N, C, H, W …), from ONNX's shape inference, or None."""
        return self.g.input_shape(name)

    def dims(self, name: str):
        """The dimensions of tensor ``name`` as far as ONNX's shape inference knows them (None
        for one it does not: a batch it lost), or None."""
        shape = self.g.input_shape(name)
        return shape if shape is not None else self.g._partial.get(name)

    def expect(self, what: str, size: int):
        self.expected = (what, size)

    def window(self) -> dict:
        """``stride`` and ``padding`` fields from ONNX's ``strides``, ``pads``, ``auto_pad``."""
        pads = list(self.attrs.get("pads", [0, 0, 0, 0]))
        if len(pads) != 4:
            raise ValueError(f"pads has {len(pads)} values; a 2-D window takes 4")
        auto = self.attrs.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto == "SAME_UPPER":
            padding = "same"
        elif auto in ("NOTSET", "VALID"):
            # ONNX pads: [top, left, bottom, right] -> archcalc's [top, bottom, left, right]
            padding = [int(pads[0]), int(pads[2]), int(pads[1]), int(pads[3])]
        else:
            raise NotRead(f"auto_pad {auto}")
        return {"stride": list(self.attrs.get("strides", [1, 1])), "padding": padding}


class _NotSeriesParallel(Exception):
    """A fork whose branches do not meet again at one merge: read the graph flat instead."""


class _Graph:
    """Indexes of one graph: constants, producers, consumers and attributes."""

    def __init__(self, onnx, graph, model=None):
        self.onnx = onnx
        self.graph = graph
        self.model = model
        self._inferred = None
        self._partial: dict = {}  # tensor -> dims with None where shape inference lost one
        self.shapes: dict[str, tuple] = {i.name: tuple(i.dims) for i in graph.initializer}
        self.values: dict[str, object] = {}  # small constant tensors, read when an op needs them
        self.initializers = {i.name: i for i in graph.initializer}
        for vi in list(graph.input) + list(graph.value_info):
            if vi.name not in self.shapes and vi.type.HasField("tensor_type"):
                dims = vi.type.tensor_type.shape.dim
                if all(d.HasField("dim_value") for d in dims):
                    self.declared = getattr(self, "declared", {})
                    self.declared[vi.name] = tuple(d.dim_value for d in dims)
        self.constant: set[str] = set(self.shapes)
        # a learned tensor's view (a weight transposed) or part (a Slice of a table) -> the
        # tensor it was taken from
        self.origin: dict[str, str] = {}
        self.parts: dict[str, str] = {}  # a part of a learned table -> the op that took it
        # tensors a training would update: initializers, and views of them (a transposed
        # weight); a Constant node's value is not one
        self.learned: set[str] = set(self.shapes)
        # Weights exported as graph inputs (torch.onnx.export(..., export_params=False)) are
        # never any node's first input: they are constants whose shapes are declared.
        firsts = {node.input[0] for node in graph.node if node.input and node.op_type != "Identity"}
        self.taken_for_weights: list[str] = []  # graph inputs read as weights (said if no input is left)
        for vi in graph.input:
            ids = vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type in _INTEGERS
            if vi.name not in self.constant and vi.name not in firsts and not ids:  # ids: a Gather's second
                self.constant.add(vi.name)
                self.learned.add(vi.name)
                self.taken_for_weights.append(vi.name)
        self.nodes = []
        for node in graph.node:
            if node.op_type == "Constant":
                for attr in node.attribute:
                    if attr.name == "value":
                        self.shapes[node.output[0]] = tuple(attr.t.dims)
                        self.values[node.output[0]] = attr.t
                    elif attr.name in ("value_int", "value_float"):
                        self.shapes[node.output[0]] = ()
                        self.values[node.output[0]] = onnx.helper.get_attribute_value(attr)
                    elif attr.name in ("value_ints", "value_floats"):
                        value = list(onnx.helper.get_attribute_value(attr))
                        self.shapes[node.output[0]] = (len(value),)
                        self.values[node.output[0]] = value
                self.constant.add(node.output[0])
            elif node.op_type == "Identity" and node.input[0] in self.constant:
                # the exporter shares equal initializers through Identity nodes
                self.constant.add(node.output[0])
                self.shapes[node.output[0]] = self.shapes.get(node.input[0], ())
                if node.input[0] in self.values:
                    self.values[node.output[0]] = self.values[node.input[0]]
                if node.input[0] in self.initializers:
                    self.initializers[node.output[0]] = self.initializers[node.input[0]]
                if node.input[0] in self.learned:
                    self.learned.add(node.output[0])
            elif node.op_type in _INDEX_OPS and node.input and all(not i or i in self.constant for i in node.input) \
                    and self._fold_index(node):
                pass  # a small constant computed from constants (a Slice's bounds)
            elif node.op_type == "Transpose" and node.input and node.input[0] in self.constant:
                # a weight transposed for MatMul (nn.Linear applied channels-last)
                shape = self.weight_shape(node.input[0]) or ()
                perm = list(self.attrs(node).get("perm", range(len(shape) - 1, -1, -1)))
                self.constant.add(node.output[0])
                if sorted(perm) == list(range(len(shape))):
                    self.shapes[node.output[0]] = tuple(shape[i] for i in perm)
                if node.input[0] in self.learned:
                    self.learned.add(node.output[0])
                    self.origin[node.output[0]] = self.origin.get(node.input[0], node.input[0])
            elif node.op_type == "Reshape" and len(node.input) > 1 and node.input[0] in self.constant \
                    and self._reshaped(node):
                pass  # a weight viewed to broadcast (a coefficient per map, .view(1, -1, 1, 1))
            elif node.op_type == "Shape" and node.input and self._shape_constant(node):
                pass  # a tensor's sizes: a constant, and so is what is computed from them only
            else:
                self.nodes.append(node)
        self._propagate_constants()
        self._drop_sized_only()
        self.position = {id(n): i for i, n in enumerate(graph.node)}
        # kinds read from several nodes (local response normalisation as PyTorch decomposes
        # it, SiLU as x·sigmoid(x)): each such subgraph is read as its last node
        self.fused: dict[int, tuple] = {}  # id(last node) -> (kind, rule, the tensor it reads, ops)
        self._fuse()
        self.consumers: dict[str, list] = {}
        for node in self.nodes:
            for name in self.data_inputs(node):
                self.consumers.setdefault(name, []).append(node)
        self.layout = self._layouts()

    def _propagate_constants(self):
        """A node computed from constants only is a constant (the expanded class token, a
        shape computed from constant sizes): its value is not known, a view of a learned
        tensor (Expand, Reshape, Unsqueeze, Squeeze, Cast, Identity) keeps its shape and is
        learned. A graph's output is never made a constant here."""
        ends = {o.name for o in self.graph.output}
        kept = []
        for node in self.nodes:
            inputs = [i for i in _all_inputs(node) if i]
            if not inputs or any(i not in self.constant for i in inputs) or any(o in ends for o in node.output):
                kept.append(node)
                continue
            for out in node.output:
                if out:
                    self.constant.add(out)
            if node.op_type in ("Slice", "Gather") and node.input[0] in self.learned and node.output:
                # a part of a learned table (the positions a sequence uses): learned, its
                # shape unknown here, its table the origin
                self.learned.add(node.output[0])
                self.parts[node.output[0]] = node.op_type
                self.origin[node.output[0]] = self.origin.get(node.input[0], node.input[0])
            if node.op_type in _VIEWS and node.input[0] in self.learned and node.output:
                self.learned.add(node.output[0])
                if node.input[0] in self.origin:
                    self.origin[node.output[0]] = self.origin[node.input[0]]
                if node.op_type in ("Expand", "Cast", "Identity"):
                    shape = self.weight_shape(node.input[0])
                    if shape is not None:
                        self.shapes[node.output[0]] = tuple(shape)
        self.nodes = kept

    def _drop_sized_only(self):
        """A node whose outputs only Shape nodes read (constants: a tensor computed only for
        its sizes, as GPT-2's keys transposed for the causal mask's size) feeds no data: it is
        dropped, and so is a node that fed only such nodes."""
        ends = {o.name for o in self.graph.output}
        readers: dict[str, list] = {}
        for node in self.graph.node:
            for name in _all_inputs(node):
                if name:
                    readers.setdefault(name, []).append(node)
        dropped: set[int] = set()
        changed = True
        while changed:
            changed = False
            for node in self.nodes:
                outs = [o for o in node.output if o]
                if id(node) in dropped or not outs or any(o in ends for o in outs):
                    continue
                read = [r for o in outs for r in readers.get(o, [])]
                if read and all(r.op_type == "Shape" or id(r) in dropped for r in read):
                    dropped.add(id(node))
                    changed = True
        if dropped:
            self.nodes = [n for n in self.nodes if id(n) not in dropped]

    def _fold_index(self, node) -> bool:
        """Unsqueeze, Squeeze, Cast and Concat of small constants (how PyTorch writes a
        slice's bounds): the value, when every input's is known."""
        values = [self.scalar(i) for i in node.input if i]
        if node.op_type != "Concat":
            values = values[:1]
        if not values or any(v is None for v in values):
            return False
        flat = [x for v in values for x in (v if isinstance(v, list) else [v])]
        if len(flat) > 64 or not all(isinstance(x, (int, float)) for x in flat):
            return False
        out = node.output[0]
        self.constant.add(out)
        scalar = node.op_type in ("Squeeze", "Cast") and not isinstance(values[0], list)
        self.values[out] = flat[0] if scalar else flat
        self.shapes[out] = () if scalar else (len(flat),)
        return True

    def _shape_constant(self, node) -> bool:
        """A Shape node: a constant, whatever it reads. archcalc reads a network at one fixed
        input size, so the sizes of its tensors are never data: the TorchScript exporter
        computes them from the data (x.shape in a module's forward: Swin's padding, window
        counts and shifted-window mask), and as constants they, and all computed from them
        only, are no part of the data's flow (a pattern's region holds only the data's ops).
        Its value is the sizes where ONNX's shape inference knows them all (the onnx
        package), else unknown."""
        out = node.output[0]
        if not out:
            return False
        self.constant.add(out)
        dims = None
        if self.model is not None:
            try:
                dims = self.input_shape(node.input[0])
            except ImportRefused:  # no onnx package: the sizes are not known, a constant all the same
                dims = None
        if dims is not None:
            attrs = self.attrs(node)
            n = len(dims)
            start, end = attrs.get("start", 0), attrs.get("end", n)
            start, end = (max(0, min(n, v + n if v < 0 else v)) for v in (start, end))
            self.values[out] = [int(d) for d in dims[start:end]]
            self.shapes[out] = (max(0, end - start),)
        return True

    def _reshaped(self, node) -> bool:
        """A Reshape of a constant to a constant shape: a view of it (its shape, learned if it
        is), when the target's -1 and 0 resolve."""
        shape = self.weight_shape(node.input[0])
        target = self.scalar(node.input[1])
        if shape is None or not isinstance(target, list) or not all(isinstance(d, int) for d in target):
            return False
        allowzero = self.attrs(node).get("allowzero", 0)
        dims = [shape[i] if d == 0 and not allowzero and i < len(shape) else d for i, d in enumerate(target)]
        size = known = 1
        for d in shape:
            size *= d
        for d in dims:
            known *= d if d != -1 else 1
        if dims.count(-1) > 1 or any(d < -1 for d in dims) or known == 0 or size % known \
                or (-1 not in dims and known != size):
            return False
        dims = [size // known if d == -1 else d for d in dims]
        out = node.output[0]
        self.constant.add(out)
        self.shapes[out] = tuple(dims)
        if node.input[0] in self.learned:
            self.learned.add(out)
        if node.input[0] in self.initializers:
            self.initializers[out] = self.initializers[node.input[0]]
        return True

    def input_shape(self, name: str):
        """The dimensions of tensor ``name`` as ONNX's shape inference gives them, or None."""
        if self._inferred is None:
            self._inferred = {}
            package = _onnx() if self.model is not None else None  # missing: OnnxUnavailable, said
            try:
                inferred = package.shape_inference.infer_shapes(package.load_model_from_string(self.model),
                                                                data_prop=True) if package is not None else None
            except Exception:  # noqa: BLE001 - a model shape inference cannot follow: shapes unknown
                inferred = None
            self._partial = {}
            for vi in list(inferred.graph.value_info) + list(inferred.graph.input) if inferred else ():
                if vi.type.HasField("tensor_type"):
                    dims = vi.type.tensor_type.shape.dim
                    if all(d.HasField("dim_value") for d in dims):
                        self._inferred[vi.name] = tuple(d.dim_value for d in dims)
                    elif vi.type.tensor_type.HasField("shape"):
                        self._partial[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None
                                                       for d in dims)
            if inferred is not None:
                self._complete()
        shape = self._inferred.get(name)
        if shape is None:  # a Slice of a Slice, whose bounds shape inference did not read
            node = next((n for n in self.nodes if n.op_type == "Slice" and n.output[0] == name), None)
            base = self.input_shape(node.input[0]) if node is not None else None
            bounds = [self.scalar(i) for i in node.input[1:4]] if node is not None and len(node.input) >= 4 else []
            if base is not None and len(bounds) == 3 and all(isinstance(b, list) for b in bounds):
                dims = list(base)
                for start, end, axis in zip(*bounds):
                    n = dims[axis]
                    start, end = (max(0, min(n, v + n if v < 0 else v)) for v in (start, end))
                    dims[axis] = max(0, end - start)
                shape = self._inferred[name] = tuple(dims)
        return shape

    def producers(self) -> dict:
        """Tensor -> the node of the graph that computes it (constants' too)."""
        if getattr(self, "_producers", None) is None:
            self._producers = {o: n for n in self.graph.node for o in n.output if o}
        return self._producers

    def _complete(self):
        """The shapes ONNX's shape inference left unknown (sizes it could not evaluate: Swin's
        padding as the TorchScript exporter computes it), completed by onnx_shapes."""
        produced = [o for n in self.graph.node for o in n.output if o]
        if all(o in self._inferred for o in produced):
            return
        from .onnx_shapes import SMALL, Completion

        shapes = dict(self._inferred)
        values = {}
        tensors = [(i.name, i) for i in self.graph.initializer]
        tensors += [(n.output[0], a.t) for n in self.graph.node if n.op_type == "Constant" and n.output
                    for a in n.attribute if a.name == "value"]
        for name, tensor in tensors:
            count = 1
            for d in tensor.dims:
                count *= d
            shapes.setdefault(name, tuple(tensor.dims))
            if count > SMALL or tensor.data_type not in (1, 6, 7, 9, 10, 11):
                continue
            try:
                array = self.onnx.numpy_helper.to_array(tensor)
            except Exception:  # noqa: BLE001 - a payload dropped unparsed, or unreadable: unknown
                continue
            values[name] = (tuple(tensor.dims), array.reshape(-1).tolist())
        Completion(shapes, values, self.attrs).run(self.graph.node)
        for name in produced:
            if name not in self._inferred and name in shapes:
                self._inferred[name] = shapes[name]
                self._partial.pop(name, None)

    # -- subgraphs that are one kind --------------------------------------------------------
    def _fuse(self):
        patterns = _patterns()
        candidates = [n for n in self.nodes if n.op_type in patterns and n.input]
        if not candidates:
            return
        producer = {out: node for node in self.nodes for out in node.output if out}
        position = {out: i for i, node in enumerate(self.nodes) for out in node.output if out}
        consumers: dict[str, list] = {}
        for node in self.nodes:
            for name in _all_inputs(node):
                consumers.setdefault(name, []).append(node)
        gone: set[int] = set()
        for root in reversed(candidates):  # the last node first: a bigger pattern wins
            if id(root) in gone:
                continue
            for x, region, ops in self._regions(root, producer, position, gone):
                view = NodeView(self, root)
                view.reads = x
                view.between = ops
                view.nodes_between = region
                for kind, rule in patterns[root.op_type]:
                    try:
                        fields = rule.read(view)
                    except (NotRead, TypeError, ValueError, KeyError, IndexError, AttributeError):
                        view.expected = None
                        continue
                    inside = {id(n) for n in region} | {id(root)}
                    if any(id(c) not in inside for n in region for out in n.output
                           for c in consumers.get(out, [])):
                        break  # a node of it feeds something else: not one layer
                    self.fused[id(root)] = (kind, rule, x, fields, view.expected)
                    gone |= {id(n) for n in region}
                    break
                if id(root) in self.fused:
                    break
        if gone:
            self.nodes = [n for n in self.nodes if id(n) not in gone]

    def _regions(self, root, producer, position, gone, limit: int = 64):
        """(x, the nodes between tensor x and root, their op types) for each tensor x that every path into
        ``root`` passes through (its dominators), nearest first: the nodes are computed from x
        and constants only. Found by walking back from root, the latest node first; where one
        tensor is left open, it is such an x. At most ``limit`` nodes are walked, and none that
        a pattern read already (``gone``)."""
        def opened(node):
            return {i for i in _all_inputs(node) if i and i not in self.constant}

        open_ = opened(root)
        region: list = []
        ops: Counter = Counter()
        walked: set[int] = set()
        while open_ and len(region) <= limit:
            if len(open_) == 1 and region:
                (x,) = open_
                yield x, region, ops  # read at once: both grow as the walk goes on
            latest = max(open_, key=lambda t: position.get(t, -1))
            node = producer.get(latest)
            if node is None or id(node) in walked or id(node) in gone:
                return  # a graph input, an unordered graph, or another pattern's: nothing farther
            walked.add(id(node))
            region.append(node)
            ops[node.op_type] += 1
            open_ -= set(node.output)
            open_ |= opened(node)

    def _layouts(self) -> dict:
        """Each tensor's layout: "nchw" as ONNX's convolutions read it, "nhwc" after a Transpose
        that moves the channels last (nn.Linear or LayerNorm applied channels-last), "flat"."""
        layout: dict[str, str] = {}
        for vi in self.graph.input:
            if vi.name not in self.constant and vi.type.HasField("tensor_type"):
                layout[vi.name] = "flat" if len(vi.type.tensor_type.shape.dim) == 2 else "nchw"
        for node in self.nodes:
            inputs = self.data_inputs(node)
            now = layout.get(inputs[0], "nchw") if inputs else "nchw"
            fused = self.fused.get(id(node))
            if fused is not None:
                # a kind read from several nodes keeps its input's layout (a channel shuffle's
                # Reshapes), or makes the one its rule declares (patches: a sequence)
                now = fused[1].layout or now
            elif node.op_type == "Gather" and node.input and node.input[0] in self.constant \
                    and self.attrs(node).get("axis", 0) == 0:
                now = "tokens"  # rows of a table looked up by ids: a sequence
            elif node.op_type == "Gather" and now == "tokens" and self.attrs(node).get("axis", 0) == 1 \
                    and len(node.input) > 1 and isinstance(self.scalar(node.input[1]), int):
                now = "flat"  # one token of the sequence
            elif node.op_type == "Transpose":
                perm = list(self.attrs(node).get("perm", []))
                now = _MOVES.get((now, tuple(perm)), "other")
            elif node.op_type in ("Flatten", "Gemm"):
                now = "flat"
            elif node.op_type == "Reshape":
                target = self.scalar(node.input[1]) if len(node.input) > 1 else None
                now = "flat" if isinstance(target, list) and len(target) == 2 else "other"
            for out in node.output:
                layout[out] = now
        return layout

    def data_inputs(self, node) -> list[str]:
        fused = self.fused.get(id(node))
        if fused is not None:
            return [fused[2]]
        if node.op_type in ("Reshape", "Clip", "Pad", "Resize", "Upsample", "Dropout", "Squeeze",
                            "Unsqueeze", "Slice", "Split", "Expand", "Tile", "ReduceMean"):
            inputs = node.input[:1]
        else:
            inputs = node.input
        return [i for i in inputs if i and i not in self.constant]

    def attrs(self, node) -> dict:
        return {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}

    def numbers(self, name: str) -> bool:
        """Whether constant ``name`` holds more than one floating-point number (so could be
        learned: not a shape, indices or a scale)."""
        shape = self.weight_shape(name)
        size = 1
        for d in shape or ():
            size *= d
        tensor = self.initializers.get(name)
        # TensorProto's FLOAT 1, FLOAT16 10, DOUBLE 11, BFLOAT16 16
        return shape is not None and size > 1 and (tensor is None or tensor.data_type in (1, 10, 11, 16))

    path = None  # the model file (read): what ``transposed`` reads again
    _looked_up = None

    def looked_up(self) -> set:
        """The tensors a Gather looks rows up in (its first input): embedding tables."""
        if self._looked_up is None:
            self._looked_up = {n.input[0] for n in self.graph.node if n.op_type == "Gather" and n.input}
        return self._looked_up

    def transposed(self, table: str, copy: str) -> bool:
        """Whether initializer ``copy``, (rows, columns), holds the values of initializer
        ``table``, (columns, rows), transposed — the same data type, every value equal as
        raw bits. The values are read from the model file (the parsed model holds no large
        payload: onnx_scan.slim) or from an external-data file beside it: a regular file in
        the model's folder or below it, named by a relative path, the bytes within its size;
        anything else (a path out of the folder, a FIFO, a length past the end) is not read,
        and the answer is no."""
        from .onnx_scan import Unreadable, payload

        shape = self.weight_shape(copy)
        if self.path is None or shape is None or len(shape) != 2:
            return False
        with contextlib.ExitStack() as stack:
            try:
                model = stack.enter_context(_mapped(self.path))
                found = [payload(model, self.origin.get(name, name)) for name in (table, copy)]
                if None in found or found[0][0] != found[1][0]:
                    return False
                views = [self._values(model, where, stack) for _, where in found]
            except (OSError, ValueError, Unreadable):
                return False
            try:
                return None not in views and _transposed(views[0], views[1], int(shape[0]), int(shape[1]))
            finally:  # before the files are unmapped
                for view in views:
                    if view is not None:
                        view.release()

    def _values(self, model, where, stack):
        """A view of a tensor's raw bytes: a (start, end) in ``model``, or external data."""
        if isinstance(where, tuple):
            return memoryview(model)[where[0]:where[1]]
        location = where.get("location", "")
        folder = os.path.realpath(os.path.dirname(os.path.abspath(self.path)))
        if not location or "\0" in location or os.path.isabs(location):
            return None
        target = os.path.realpath(os.path.join(folder, location))
        if os.path.commonpath([folder, target]) != folder:
            return None
        try:
            offset, length = int(where.get("offset", 0)), where.get("length")
        except ValueError:
            return None
        info = os.stat(target)
        if not stat.S_ISREG(info.st_mode) or offset < 0:
            return None
        length = info.st_size - offset if length is None else int(length)
        if length < 0 or offset + length > info.st_size:
            return None
        data = stack.enter_context(_mapped(target))
        return memoryview(data)[offset:offset + length]

    def weight_shape(self, name: str):
        if name in self.shapes:
            return self.shapes[name]
        return getattr(self, "declared", {}).get(name)

    def scalar(self, name: str):
        """The value of a small constant input (Clip bounds, Dropout ratio), or None."""
        if not name:
            return None
        value = self.values.get(name)
        if value is None and name in self.initializers:
            value = self.initializers[name]
        if value is None:
            return None
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, list):
            return value
        if value.data_location == value.EXTERNAL or len(value.external_data):
            return None  # stored outside the model: never read (docs/import.md), so unknown
        try:
            array = self.onnx.numpy_helper.to_array(value)
        except Exception:  # noqa: BLE001 - an unreadable constant is treated as unknown
            return None
        if array.size > 64:
            return None
        return array.item() if array.size == 1 and array.ndim == 0 else array.reshape(-1).tolist()


class _Converter:
    def __init__(self, graph: _Graph, file: str):
        self.g = graph
        self.file = file
        self.line: dict[int, int] = {id(n): i + 2 for i, n in enumerate(graph.graph.node)}
        self.marks: dict[int, Mark] = {}
        self.problems: list = []
        self.unsupported: Counter = Counter()
        self.first_unsupported: dict[str, object] = {}
        self.names: set[str] = set()
        self.pending_pad = None
        self.accounted: set[int] = set()  # nodes that became entries, were folded or reported
        self.expects: dict[str, tuple] = {}  # entry name -> (node, what, size the weight was made for)
        self.entry_of: dict[str, dict] = {}  # tensor -> the entry that computes it
        self.passed: set[int] = set()  # nodes whose output is their input (folded, or a layout move)
        self.owners: dict[str, str] = {}  # learned tensor -> the name of the first entry that read it

    def mark(self, node) -> Mark:
        return Mark(self.file, self.line.get(id(node), 1), 1)

    def name(self, node) -> str:
        # '.' separates scopes in archcalc's names: torch's 'layer1/layer1.0/conv1/Conv' keeps
        # its slashes and becomes 'layer1/layer1_0/conv1/Conv'
        # '$' would make the name a spec expression (`$width`): names are never evaluated
        base = _printable(node.name.lstrip("/")).replace(".", "_").replace("$", "_") or f"{node.op_type}_{self.line.get(id(node), 0) - 1}"
        name, n = base, 1
        while name in self.names:
            n += 1
            name = f"{base}_{n}"
        self.names.add(name)
        return name

    def problem(self, node, code, message, hint=""):
        self.problems.append(make(code, message, self.mark(node), hint=hint, layer=None))

    # -- nodes to entries --------------------------------------------------------------
    def entry(self, node):
        """The spec entry for a single-input node, or None (folded or unsupported); a node
        whose attributes or inputs are malformed is a located `bad-onnx`, never a crash."""
        self.accounted.add(id(node))
        try:
            return self._entry(node)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as exc:
            self.problem(node, "bad-onnx", f"the {_printable(node.op_type)} node {_printable(node.name)!r} is "
                         f"malformed: {_printable(str(exc))[:200]}",
                         hint="check the node's attributes and inputs against the ONNX operator's definition")
            return None

    def _entry(self, node):
        """The kinds that claim the op (their ``onnx`` rules) are asked in the registry's
        order; the first that reads the node makes the entry. A node may instead fold into
        the layer before it (a bias), or only move the channels (a Transpose)."""
        fused = self.g.fused.get(id(node))
        if fused is not None:
            kind, rule, _reads, fields, expected = fused
            return self._make(node, kind, rule, fields, expected)
        if node.op_type == "Pad":
            return self.pad(node, self.g.attrs(node))
        if node.op_type == "Transpose":
            if self.g.layout.get(node.output[0]) in ("nchw", "nhwc"):
                return self._pass(node)
            perm = self.g.attrs(node).get("perm")
            return self.unsupported_op(node, f"Transpose with perm {list(perm) if perm else perm} (only moving "
                                             "the channels last, and back, is followed)")
        rules = [(kind, rule) for kind, rule in _rules().get(node.op_type, ()) if not rule.pattern]
        if not rules:
            return self.unsupported_op(node)
        view = NodeView(self.g, node)
        view.owners = self.owners
        why = ""
        data = self.g.data_inputs(node)
        previous = self.entry_of.get(data[0]) if len(data) == 1 else None
        if previous is not None and len(self.g.consumers.get(data[0], ())) == 1:
            ((previous_kind, previous_fields),) = previous.items()
            for kind, rule in rules:
                if rule.fold is None or kind != previous_kind:
                    continue
                try:
                    folded = rule.fold(view, previous_fields)
                except NotRead as exc:
                    why = why or str(exc)
                    continue
                previous_fields.update(folded)
                self.entry_of[node.output[0]] = previous
                return self._pass(node)
        for kind, rule in rules:
            if rule.read is None:
                continue
            try:
                fields = rule.read(view)
            except NotRead as exc:
                why = why or str(exc)
                view.expected = None
                continue
            return self._make(node, kind, rule, fields, view.expected)
        if node.op_type in _MERGES and not why:
            why = "with a constant operand"
        return self.unsupported_op(node, why)

    def _pass(self, node):
        """A node that becomes no layer of its own: its output is its input, as far as the
        layers are concerned."""
        self.accounted.add(id(node))
        self.passed.add(id(node))
        return None

    def _make(self, node, kind, rule, fields, expected):
        fields = dict(fields)
        if self.pending_pad is not None:
            pad_node, pads = self.pending_pad
            self.pending_pad = None
            if not rule.folds_pad or fields.get("padding") == "same":
                self.problem(pad_node, "unsupported-op", f"Pad node {pad_node.name!r} is followed by "
                             f"{node.op_type}, into which it cannot be folded",
                             hint="archcalc folds zero padding into the next convolution or pooling")
            else:
                old = fields.get("padding", [0, 0, 0, 0])
                fields["padding"] = [x + y for x, y in zip(old, pads)]
        name = self.name(node)
        if expected is not None:
            self.expects[name] = (node, *expected)
        entry = {kind: dict(fields, name=name)}
        for tensor in node.input:
            if tensor in self.g.learned and not self.g.fused.get(id(node)):
                self.owners.setdefault(self.g.origin.get(tensor, tensor), name)
        self.marks[id(entry)] = self.mark(node)
        self.entry_of[node.output[0]] = entry
        return entry

    def unsupported_op(self, node, why: str = ""):
        self.accounted.add(id(node))
        key = node.op_type if not why else f"{node.op_type} ({why})"
        self.unsupported[key] += 1
        self.first_unsupported.setdefault(key, node)
        return None

    def pad(self, node, a):
        self.accounted.add(id(node))
        pads = self.g.scalar(node.input[1]) if len(node.input) > 1 else a.get("pads")
        mode = a.get("mode", "constant")
        if isinstance(mode, bytes):
            mode = mode.decode()
        value = self.g.scalar(node.input[2]) if len(node.input) > 2 and node.input[2] else 0
        if mode != "constant" or value not in (0, 0.0) or not isinstance(pads, list) or len(pads) != 8 \
                or any(pads[i] for i in (0, 1, 4, 5)):
            return self.unsupported_op(node, "only zero padding of height and width is followed")
        # ONNX pads: [n, c, h, w begins, n, c, h, w ends] -> [top, bottom, left, right]
        self.pending_pad = (node, [int(pads[2]), int(pads[6]), int(pads[3]), int(pads[7])])
        return None

    # -- the graph to nested sequences ---------------------------------------------------
    def chain(self, tensor: str, first=None):
        """Entries from ``tensor`` (or from node ``first``, which consumes it) until the graph
        ends or a merge node is reached. Returns (entries, last tensor, merge node or None)."""
        entries: list = []
        node = first
        while True:
            if node is None:
                consumers = self.g.consumers.get(tensor, [])
                if len(consumers) == 0:
                    return entries, tensor, None
                if len(consumers) > 1:
                    merge, parallel, part = self.fork(tensor, consumers)
                    if merge is None:
                        return entries, tensor, None
                    entries.append(parallel)
                    if part is not None:  # some of a wider Concat's inputs: it goes on outside
                        return entries, part, merge
                    tensor = merge.output[0]
                    continue
                node = consumers[0]
            if len(self.g.data_inputs(node)) > 1:
                return entries, tensor, node
            entry = self.entry(node)
            if entry is not None:
                entries.append(entry)
            tensor = node.output[0]
            node = None

    def channel_slice(self, node):
        """(start, stop) of a Slice that keeps the channels start … stop − 1 of an NCHW
        tensor (constant bounds, step 1), else None: how the dynamo exporter writes
        x.chunk(2, dim=1), one Slice per half."""
        if node.op_type != "Slice" or len(node.input) < 4 or self.g.layout.get(node.input[0], "nchw") != "nchw":
            return None
        starts, ends, axes = (self.g.scalar(i) for i in node.input[1:4])
        steps = self.g.scalar(node.input[4]) if len(node.input) > 4 and node.input[4] else [1]
        if not all(isinstance(v, list) and len(v) == 1 and isinstance(v[0], int) for v in (starts, ends, axes, steps)) \
                or steps != [1] or axes[0] not in (1, -3):
            return None
        dims = self.g.input_shape(node.input[0])
        if not dims or len(dims) != 4:
            return None
        n = dims[1]
        start, stop = (max(0, min(n, v + n if v < 0 else v)) for v in (starts[0], ends[0]))
        return (start, stop, n) if stop > start else None

    def fork(self, tensor, consumers):
        branches = []
        merges = []
        cuts = [self.channel_slice(c) for c in consumers]
        if not all(cuts):
            cuts = [None] * len(consumers)  # a channel split is read only when every branch is one
        for consumer, cut in zip(consumers, cuts):
            if cut is not None:  # the Slice becomes the parallel's `split`
                self._pass(consumer)
                entries, end, merge = self.chain(consumer.output[0])
                branches.append((entries, end))
                merges.append(merge)
            elif len(self.g.data_inputs(consumer)) > 1:
                branches.append(([], tensor))
                merges.append(consumer)
            else:
                entries, end, merge = self.chain(tensor, consumer)
                branches.append((entries, end))
                merges.append(merge)
        merge = merges[0]
        if merge is None or any(m is not merge for m in merges):
            raise _NotSeriesParallel
        inputs = self.g.data_inputs(merge)
        # each branch ends in one of the merge's inputs, or in a run of them (a nested fork
        # whose Concat the exporter flattened into this one: Inception-v3's InceptionE)
        placed: dict[int, tuple] = {}  # first input position -> (run length, entries)
        for i, (entries, end) in enumerate(branches):
            run = end if isinstance(end, tuple) else (end,)
            at = next((p for p in range(len(inputs) - len(run) + 1) if tuple(inputs[p:p + len(run)]) == run
                       and not any(q in placed or any(q in range(s, s + n) for s, (n, *_) in placed.items())
                                   for q in range(p, p + len(run)))), None)
            if at is None:
                raise _NotSeriesParallel
            placed[at] = (len(run), entries, cuts[i])
        starts = sorted(placed)
        first, last = starts[0], starts[-1] + placed[starts[-1]][0]
        if sum(n for n, *_ in placed.values()) != last - first:
            raise _NotSeriesParallel  # not one run of the merge's inputs
        op = _MERGES.get(merge.op_type)
        attrs = self.g.attrs(merge)
        part = None
        if (first, last) != (0, len(inputs)):
            if op != "concat":
                raise _NotSeriesParallel
            part = tuple(inputs[first:last])  # concatenation is associative: a nested parallel
        ordered = [placed[p][1] for p in starts]
        if op is None or (op == "concat" and attrs.get("axis") not in (1, -3)):
            self.unsupported_op(merge, "a merge archcalc does not know" if op is None else
                                "concatenation along an axis other than the channels")
            return merge, {"identity": {"name": self.name(merge)}}, part
        if part is None:
            self.accounted.add(id(merge))
        fields = {"name": self.name(merge), "merge": op, "branches": ordered}
        if cuts[0] is not None:
            # the branches, in the merge's order, must take consecutive channels that make up
            # the whole input: a `split` of one count per branch
            taken = [placed[p][2] for p in starts]
            if [c[0] for c in taken] != [0] + [c[1] for c in taken[:-1]] or taken[-1][1] != taken[-1][2]:
                self.unsupported_op(consumers[0], "a channel split whose Slices are not consecutive channels "
                                    "taken in the order they are concatenated")
            fields["split"] = [c[1] - c[0] for c in taken]
        entry = {"parallel": fields}
        self.marks[id(entry)] = self.mark(merge)
        return merge, entry, part


    # -- any DAG: a flat list with named tensors ------------------------------------------
    def flat(self, tensor: str):
        """Every node in the graph's (topological) order; an entry that does not read the
        previous entry's output says `from:`, a merge of several tensors is a `join`."""
        entries: list = []
        producer = {tensor: "input"}  # tensor -> the name of the entry that outputs it
        padded: dict[str, tuple] = {}  # a Pad's output -> (Pad node, its input, pads)
        previous = tensor
        for node in self.g.nodes:
            inputs = self.g.data_inputs(node)
            if not inputs:
                self.unsupported_op(node, "a node computed from constants only")
                continue
            if node.op_type == "Pad" and len(inputs) == 1:
                self.pending_pad = None
                if self.pad(node, self.g.attrs(node)) is None and self.pending_pad is not None:
                    padded[node.output[0]] = (node, inputs[0], self.pending_pad[1])
                    self.pending_pad = None
                continue
            if len(inputs) > 1:
                op = _MERGES.get(node.op_type)
                attrs = self.g.attrs(node)
                if op is None or (op == "concat" and attrs.get("axis") not in (1, -3)):
                    self.unsupported_op(node, "a merge archcalc does not know" if op is None else
                                        "concatenation along an axis other than the channels")
                    continue
                sources = [producer.get(i) for i in inputs]
                if None in sources:
                    continue  # a node that feeds it was not followed: reported at the end
                self.accounted.add(id(node))
                entry = {"join": {"name": self.name(node), "from": sources, "merge": op}}
            else:
                source = inputs[0]
                if source in padded:
                    pad_node, source, pads = padded[source]
                    self.pending_pad = (pad_node, pads)
                entry = self.entry(node)
                self.pending_pad = None
                if entry is None and id(node) in self.passed and source in producer:
                    producer[node.output[0]] = producer[source]
                    if source == previous:
                        previous = node.output[0]
                    continue
                if entry is not None and source not in producer:
                    self.accounted.discard(id(node))  # reads what was not followed: reported at the end
                    continue
                if entry is None:
                    continue
                if source != previous:
                    (kind, fields), = entry.items()
                    fields["from"] = producer[source]
            self.marks[id(entry)] = self.mark(node)
            entries.append(entry)
            (fields,) = entry.values()
            producer[node.output[0]] = fields["name"]
            previous = node.output[0]
        ends = [o.name for o in self.g.graph.output]
        if ends and ends[0] != previous and ends[0] in producer:
            entries.append({"identity": {"name": "output", "from": producer[ends[0]]}})
        return entries


def _malformed(graph, file: str) -> list:
    """Located `bad-onnx` diagnostics for what no ONNX model may hold: a node without an
    output, without its required inputs, or reading a tensor that nothing defines, and a
    cycle (checked before the graph is followed, which would never end)."""
    problems = []

    def bad(i, node, message, hint=""):
        problems.append(make("bad-onnx", f"the {_printable(node.op_type)} node {_printable(node.name)!r} "
                             f"{message}", Mark(file, i + 2, 1), hint=hint))

    defined = {t.name for t in graph.initializer} | {t.name for t in graph.input}
    produced = {}
    for i, node in enumerate(graph.node):
        for out in node.output:
            if out:
                produced.setdefault(out, i)
    for i, node in enumerate(graph.node):
        if not [o for o in node.output if o]:
            bad(i, node, "has no output")
        needed = _MIN_INPUTS.get(node.op_type, 0 if node.op_type in _NO_INPUTS else 1)
        present = len([x for x in node.input[:needed] if x])
        if present < needed:
            bad(i, node, f"has {present} input{'s' if present != 1 else ''}; {node.op_type} needs {needed}")
        for name in node.input:
            if name and name not in defined and name not in produced:
                bad(i, node, f"reads {_printable(name)!r}, which no node, initializer or graph input defines")
    if problems:
        return problems
    # Kahn's algorithm over the tensors: what is left is on a cycle or after one
    waiting = {}
    readers: dict[int, list] = {}
    for i, node in enumerate(graph.node):
        sources = {produced[name] for name in node.input if name in produced and name not in defined}
        waiting[i] = len(sources)
        for s in sources:
            readers.setdefault(s, []).append(i)
    ready = [i for i, n in waiting.items() if n == 0]
    done = 0
    while ready:
        i = ready.pop()
        done += 1
        for r in readers.get(i, []):
            waiting[r] -= 1
            if waiting[r] == 0:
                ready.append(r)
    if done < len(graph.node):
        stuck = [i for i, n in waiting.items() if n > 0]
        bad(stuck[0], graph.node[stuck[0]], f"is on a cycle ({len(stuck)} nodes cannot be ordered); an ONNX "
            "graph must be acyclic")
    return problems


# How many inputs an op needs at least (ONNX's operator definitions); others need one.
_MIN_INPUTS = {"Conv": 2, "ConvTranspose": 2, "Gemm": 2, "MatMul": 2, "Add": 2, "Mul": 2, "Sub": 2,
               "Div": 2, "BatchNormalization": 5, "Reshape": 2, "Expand": 2, "Tile": 2}
_NO_INPUTS = {"Constant", "RandomNormal", "RandomUniform", "EyeLike"}


def _listing(model, graph, file: str) -> str:
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    lines = [f"# ONNX model {os.path.basename(file)}: ir {model.ir_version}, opset {opset}, "
             f"producer {_printable(model.producer_name)} {_printable(model.producer_version)}".rstrip()]
    for node in graph.node:
        inputs = ", ".join(_printable(i) for i in node.input)
        outputs = ", ".join(_printable(o) for o in node.output)
        lines.append(f"{node.op_type} {_printable(node.name)!s}: ({inputs}) -> ({outputs})")
    return "\n".join(lines) + "\n"


def read(path: str, input_shape=None, **options) -> Document:
    """The spec values of an ONNX model. Raises OnnxUnavailable or NotOnnx; everything else
    about the model becomes a located diagnostic. ``input_shape`` (--input) sizes a symbolic
    input; other options change nothing here."""
    from .files import check_regular_file

    check_regular_file(path)  # a FIFO or a device named *.onnx is refused before it is opened
    from . import onnx_wire as onnx
    from ..limits import MAX_ONNX_NODES
    from .onnx_scan import Unreadable, count_nodes, slim

    top = Mark(path, 1, 1)
    try:
        with open(path, "rb") as handle:
            # mapped, not read: only the graph and the initializers' shapes are ever copied
            data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) \
                if os.fstat(handle.fileno()).st_size else b""
    except (OSError, ValueError) as exc:
        raise NotOnnx(f"{path!r} cannot be read ({getattr(exc, 'strerror', None) or type(exc).__name__})") from None
    try:
        try:  # counted on the wire format, before onnx parses millions of nodes
            if count_nodes(data, MAX_ONNX_NODES + 1) > MAX_ONNX_NODES:
                doc = Document(path, f"# ONNX model {_printable(os.path.basename(path))}\n")
                doc.diagnostics.append(make("too-large", f"the model has more than {MAX_ONNX_NODES:,} "
                                            f"nodes; archcalc reads models of at most {MAX_ONNX_NODES:,}", top))
                return doc
            data_to_parse = slim(data)  # the weights' bytes are never parsed (onnx_scan.slim)
        except Unreadable:
            data_to_parse = bytes(data)  # not protobuf: onnx says so below
        try:
            model = onnx.load_model_from_string(data_to_parse)
        except onnx.DecodeError as exc:
            raise NotOnnx(f"{path!r} is not a readable ONNX model ({exc})") from None
    finally:
        if isinstance(data, mmap.mmap):
            data.close()
    graph = model.graph
    if not graph.node:
        raise NotOnnx(f"{path!r} holds no ONNX graph")
    texts = [text for node in graph.node for text in (node.name, node.op_type, *node.input, *node.output)]
    if any(not isinstance(text, str) for text in texts):
        raise NotOnnx(f"{path!r} is not a readable ONNX model (names that are not UTF-8 text)")
    text = _listing(model, graph, path)
    doc = Document(path, text)
    malformed = _malformed(graph, path)
    if malformed:
        doc.diagnostics.extend(malformed)
        return doc
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is not None and opset not in OPSETS:
        doc.diagnostics.append(make("unknown-opset", f"the model uses opset {opset}; archcalc knows opsets "
                                    f"{OPSETS.start} to {OPSETS.stop - 1}", top,
                                    hint="convert it with onnx.version_converter, or export again "
                                         "with a known opset"))
        return doc
    g = _Graph(onnx, graph, data_to_parse)  # the bytes, parsed by onnx only for shape inference
    g.path = path  # an initializer's values, read again from the file where a kind compares them
    inputs = [i for i in graph.input if i.name not in g.constant]
    if not inputs and g.taken_for_weights:
        names = ", ".join(repr(_printable(n)[:60]) for n in g.taken_for_weights[:3])
        doc.diagnostics.append(make("unsupported-op", f"no graph input is the first (data) input of a node: "
                                    f"archcalc follows the data through each node's first input, and reads "
                                    f"{names} as weights exported as inputs", top,
                                    hint="export with the data as each op's first input (x @ W as "
                                         "MatMul(x, W), x + b as Add(x, b)), or with export_params=True"))
        return doc
    if len(inputs) != 1:
        doc.diagnostics.append(make("unsupported-op", f"the model has {len(inputs)} data inputs; archcalc "
                                    "follows models with one", top))
        return doc
    shape, problem = _input_shape(inputs[0], input_shape)
    if problem:
        doc.diagnostics.append(make("symbolic-input", problem, top,
                                    hint="give the input size with --input, e.g. --input 224x224x3"))
        return doc
    converter = _Converter(g, path)
    try:
        layers, _end, dangling = converter.chain(inputs[0].name)
        if dangling is not None:
            raise _NotSeriesParallel
    except _NotSeriesParallel:
        # Not made of branches that merge again (DenseNet): every node in order, with named
        # tensors (`from`, `join`) where the flow is not the previous node's output.
        converter = _Converter(g, path)
        layers = converter.flat(inputs[0].name)
    for key, count in sorted(converter.unsupported.items()):
        node = converter.first_unsupported[key]
        times = f" ({count} nodes, the first here)" if count > 1 else ""
        converter.problem(node, "unsupported-op", f"archcalc cannot follow the ONNX op {key}{times}",
                          hint="every op archcalc knows is listed in docs/import.md; the model's "
                               "figures would be incomplete, so none are given")
    if not converter.problems:
        # never a node dropped silently: one that became no entry and was not reported
        lost = [n for n in g.nodes if id(n) not in converter.accounted]
        if lost:
            more = f" ({len(lost)} nodes, the first here)" if len(lost) > 1 else ""
            converter.problem(lost[0], "unsupported-op", f"archcalc cannot follow the {_printable(lost[0].op_type)} "
                              f"node {_printable(lost[0].name)!r}{more}: it reads a tensor that no followed "
                              "node computes", hint="the model's figures would be incomplete, so none are given")
    doc.diagnostics.extend(converter.problems)
    if converter.problems:
        return doc
    name = os.path.splitext(os.path.basename(path))[0]
    title = f"{_printable(graph.name)}, imported from {os.path.basename(path)}".lstrip(", ")
    ids = inputs[0].type.tensor_type.elem_type in _INTEGERS and len(shape) == 1
    spec = {"name": name, "title": title,
            "input": {"tokens": shape[0]} if ids else list(shape), "layers": layers}
    doc.root = located(spec, top, converter.marks)
    if converter.expects:
        _check_weights(doc, converter)
    from .onnx_folds import folded, report

    folds = folded(g)
    if folds and not any(d.severity == "error" for d in doc.diagnostics):
        report(doc, converter, folds)
    return doc


def _check_weights(doc, converter):
    """Weights whose shape contradicts the data they multiply (a conv weight made for 5
    input channels on a 3-channel input) are `bad-onnx`: archcalc counts from the data, the
    file holds other weights, and neither figure would be the model's."""
    from ..engine import analyze

    analysis = analyze(Document(doc.file, doc.text, doc.root, []))
    for layer in analysis.layers:
        found = converter.expects.get(layer.name.rpartition(".")[2])
        if found is None or not layer.input:
            continue
        node, what, size = found
        if layer.input[-1] != size:
            doc.diagnostics.append(make(
                "bad-onnx", f"the {_printable(node.op_type)} node {_printable(node.name)!r} has a weight made for "
                f"{size:,} {what}, but its input has {layer.input[-1]:,}", converter.mark(node),
                hint="the weight's shape and the data's disagree: the model cannot run as it is"))


def _input_shape(value_info, override):
    """[H, W, C] or [N] from an NCHW or (N, F) input; (shape, None) or (None, problem)."""
    if override is not None:
        return tuple(override), None
    dims = value_info.type.tensor_type.shape.dim
    sizes = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
    if len(sizes) not in (2, 4):
        return None, f"the input {value_info.name!r} has {len(sizes)} dimensions; archcalc reads (N, C, H, W) or (N, F)"
    symbolic = [str(s) for s in sizes[1:] if not isinstance(s, int)]
    if symbolic:
        return None, (f"the input {_printable(value_info.name)!r} has symbolic dimensions "
                      f"({', '.join(symbolic)}) besides the batch")
    if len(sizes) == 4:
        return (sizes[2], sizes[3], sizes[1]), None
    return (sizes[1],), None
