"""ONNX models in: a graph -> the located values of an equivalent spec.

Read with the ``onnx`` package (the optional extra ``archcalc[onnx]``); no onnxruntime, no
torch, no external-data files. Weights are never interpreted: a layer's fields come from
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

import mmap
import os
from collections import Counter

from ..diagnostics import make
from . import ImportRefused
from .located import Document, Mark, located

#: the default-domain opsets whose operator semantics this module implements
OPSETS = range(7, 24)

_ACTIVATIONS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softmax": "softmax",
                "LeakyRelu": "leakyrelu", "Elu": "elu", "Gelu": "gelu", "HardSwish": "hardswish",
                "HardSigmoid": "hardsigmoid"}
_MERGES = {"Add": "add", "Mul": "mul", "Concat": "concat"}
_PASS = {"Identity": "identity", "Concat": "identity"}  # a Concat of one tensor passes it through


class OnnxUnavailable(ImportRefused):
    """The onnx package is not installed."""


class NotOnnx(ImportRefused):
    """The file is not a readable ONNX model."""


def _onnx():
    try:
        import onnx  # noqa: PLC0415 - optional, imported only for .onnx files
    except ImportError:
        raise OnnxUnavailable("reading .onnx files needs the onnx package: "
                              "pip install 'archcalc[onnx]'") from None
    return onnx


def _printable(text) -> str:
    if isinstance(text, bytes):  # a string field that is not UTF-8
        text = text.decode("utf-8", "replace")
    return "".join(ch if ch.isprintable() else "?" for ch in text)


class _NotSeriesParallel(Exception):
    """A fork whose branches do not meet again at one merge: read the graph flat instead."""


class _Graph:
    """Indexes of one graph: constants, producers, consumers and attributes."""

    def __init__(self, onnx, graph):
        self.onnx = onnx
        self.graph = graph
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
        # Weights exported as graph inputs (torch.onnx.export(..., export_params=False)) are
        # never any node's first input: they are constants whose shapes are declared.
        firsts = {node.input[0] for node in graph.node if node.input and node.op_type != "Identity"}
        self.taken_for_weights: list[str] = []  # graph inputs read as weights (said if no input is left)
        for vi in graph.input:
            if vi.name not in self.constant and vi.name not in firsts:
                self.constant.add(vi.name)
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
            else:
                self.nodes.append(node)
        self.consumers: dict[str, list] = {}
        for node in self.nodes:
            for name in self.data_inputs(node):
                self.consumers.setdefault(name, []).append(node)

    def data_inputs(self, node) -> list[str]:
        if node.op_type in ("Reshape", "Clip", "Pad", "Resize", "Upsample", "Dropout", "Squeeze",
                            "Unsqueeze", "Slice", "Split", "Expand", "Tile", "ReduceMean"):
            inputs = node.input[:1]
        else:
            inputs = node.input
        return [i for i in inputs if i and i not in self.constant]

    def attrs(self, node) -> dict:
        return {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}

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
        self.last_expect = None

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
        op = node.op_type
        a = self.g.attrs(node)
        fields = None
        kind = None
        if op == "Conv":
            kind, fields = "conv", self.conv_fields(node, a)
        elif op in ("MaxPool", "AveragePool"):
            kind = "maxpool" if op == "MaxPool" else "avgpool"
            fields = self.pool_fields(node, a)
        elif op in ("GlobalAveragePool", "GlobalMaxPool"):
            kind = "globalavgpool" if op == "GlobalAveragePool" else "globalmaxpool"
            fields = {}
        elif op == "ReduceMean":  # PyTorch's default (dynamo) exporter writes global average pooling so
            axes = self.g.scalar(node.input[1]) if len(node.input) > 1 and node.input[1] else a.get("axes")
            axes = [axes] if isinstance(axes, int) else axes
            if a.get("keepdims", 1) != 1 or not isinstance(axes, list) or sorted(axes) not in ([-2, -1], [2, 3]):
                return self.unsupported_op(node, f"ReduceMean over axes {axes!r} (only the mean over H and W "
                                                 "that keeps them, a global average pool, is followed)")
            kind, fields = "globalavgpool", {}
        elif op == "Gemm":
            kind, fields = "dense", self.gemm_fields(node, a)
        elif op == "MatMul":
            kind, fields = "dense", self.matmul_fields(node)
        elif op == "BatchNormalization":
            kind, fields = "batchnorm", {}
        elif op in _ACTIVATIONS:
            kind, fields = _ACTIVATIONS[op], {}
            if op == "Softmax" and a.get("axis", -1) not in (-1, 1):
                return self.unsupported_op(node, "softmax over an axis other than the channels")
        elif op == "Clip":
            low = self.g.scalar(node.input[1]) if len(node.input) > 1 else a.get("min")
            high = self.g.scalar(node.input[2]) if len(node.input) > 2 else a.get("max")
            if low == 0 and high == 6:
                kind, fields = "relu6", {}
            elif low == 0 and high is None:
                kind, fields = "relu", {}
            else:
                return self.unsupported_op(node, f"Clip to [{low}, {high}] (only [0, 6], relu6, is known)")
        elif op == "Flatten":
            if a.get("axis", 1) != 1:
                return self.unsupported_op(node, "Flatten from an axis other than 1")
            kind, fields = "flatten", {}
        elif op == "Reshape":
            target = self.g.scalar(node.input[1]) if len(node.input) > 1 else None
            if isinstance(target, list) and len(target) == 2 and target[1] == -1 or \
                    isinstance(target, list) and len(target) == 2 and target[0] in (1, -1, 0):
                kind, fields = "flatten", {}
            else:
                return self.unsupported_op(node, f"Reshape to {target!r} (only flattening to "
                                                 "[batch, features] is followed)")
        elif op == "Dropout":
            ratio = self.g.scalar(node.input[1]) if len(node.input) > 1 and node.input[1] else a.get("ratio", 0.5)
            kind, fields = "dropout", {"rate": float(ratio) if isinstance(ratio, (int, float)) else 0.5}
        elif op == "LRN":
            kind, fields = "lrn", {"size": int(a.get("size", 5))}
        elif op in _PASS:
            kind, fields = _PASS[op], {}
        elif op == "Pad":
            return self.pad(node, a)
        else:
            return self.unsupported_op(node)
        if kind is None:
            return None
        if self.pending_pad is not None:
            pad_node, pads = self.pending_pad
            self.pending_pad = None
            if kind not in ("conv", "maxpool", "avgpool") or fields.get("padding") == "same":
                self.problem(pad_node, "unsupported-op", f"Pad node {pad_node.name!r} is followed by "
                             f"{op}, into which it cannot be folded",
                             hint="archcalc folds zero padding into the next convolution or pooling")
            else:
                old = fields.get("padding", [0, 0, 0, 0])
                fields["padding"] = [x + y for x, y in zip(old, pads)]
        name = self.name(node)
        if self.last_expect is not None:
            self.expects[name] = (node, *self.last_expect)
            self.last_expect = None
        entry = {kind: dict(fields, name=name) if fields is not None else {"name": name}}
        self.marks[id(entry)] = self.mark(node)
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

    def window(self, a, kernel):
        pads = list(a.get("pads", [0, 0, 0, 0]))
        if len(pads) != 4:
            raise ValueError(f"pads has {len(pads)} values; a 2-D window takes 4")
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto == "SAME_UPPER":
            padding = "same"
        elif auto in ("NOTSET", "VALID"):
            padding = [int(pads[0]), int(pads[2]), int(pads[1]), int(pads[3])] if len(pads) == 4 else None
        else:
            padding = None
        return {"stride": list(a.get("strides", [1, 1])), "padding": padding}

    def conv_fields(self, node, a):
        w = self.g.weight_shape(node.input[1]) if len(node.input) > 1 else None
        if w is None or len(w) != 4:
            return self.unsupported_op(node, "not a 2-D convolution with a known weight shape")
        fields = {"filters": int(w[0]), "kernel": [int(w[2]), int(w[3])]}
        window = self.window(a, fields["kernel"])
        if window["padding"] is None:
            return self.unsupported_op(node, "auto_pad SAME_LOWER")
        fields.update(window)
        fields["dilation"] = list(a.get("dilations", [1, 1]))
        fields["groups"] = int(a.get("group", 1))
        fields["bias"] = len(node.input) > 2 and bool(node.input[2])
        self.last_expect = ("input channels", int(w[1]) * fields["groups"])
        return fields

    def pool_fields(self, node, a):
        kernel = list(a.get("kernel_shape", []))
        if len(kernel) != 2:
            return self.unsupported_op(node, "not a 2-D pooling")
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            return self.unsupported_op(node, "dilated pooling")
        fields = {"size": kernel}
        window = self.window(a, kernel)
        if window["padding"] is None:
            return self.unsupported_op(node, "auto_pad SAME_LOWER")
        fields.update(window)
        fields["ceil"] = bool(a.get("ceil_mode", 0))
        return fields

    def gemm_fields(self, node, a):
        b = self.g.weight_shape(node.input[1])
        if a.get("transA", 0) or b is None or len(b) != 2:
            return self.unsupported_op(node, "a Gemm whose second input is not a weight matrix")
        units = b[0] if a.get("transB", 0) else b[1]
        self.last_expect = ("input features", int(b[1] if a.get("transB", 0) else b[0]))
        return {"units": int(units), "bias": len(node.input) > 2 and bool(node.input[2])}

    def matmul_fields(self, node):
        b = self.g.weight_shape(node.input[1]) if node.input[1] in self.g.constant else None
        if b is None or len(b) != 2:
            return self.unsupported_op(node, "a product of two activations")
        self.last_expect = ("input features", int(b[0]))
        return {"units": int(b[1]), "bias": False}

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
                    merge, parallel = self.fork(tensor, consumers)
                    if merge is None:
                        return entries, tensor, None
                    entries.append(parallel)
                    tensor = merge.output[0]
                    continue
                node = consumers[0]
            if len(self.g.data_inputs(node)) > 1:
                return entries, tensor, node
            if node.op_type in _MERGES and len(node.input) > 1:
                # an Add or Mul with a constant: a bias or a scale archcalc cannot see as a layer
                self.unsupported_op(node, "with a constant operand")
            else:
                entry = self.entry(node)
                if entry is not None:
                    entries.append(entry)
            tensor = node.output[0]
            node = None

    def fork(self, tensor, consumers):
        branches = []
        merges = []
        for consumer in consumers:
            if len(self.g.data_inputs(consumer)) > 1:
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
        ordered = []
        remaining = list(branches)
        for name in inputs:
            for i, (entries, end) in enumerate(remaining):
                if end == name:
                    ordered.append(entries)
                    del remaining[i]
                    break
        if remaining or len(ordered) != len(inputs):
            raise _NotSeriesParallel
        op = _MERGES.get(merge.op_type)
        attrs = self.g.attrs(merge)
        if op is None or (op == "concat" and attrs.get("axis") not in (1, -3)):
            self.unsupported_op(merge, "a merge archcalc does not know" if op is None else
                                "concatenation along an axis other than the channels")
            return merge, {"identity": {"name": self.name(merge)}}
        self.accounted.add(id(merge))
        entry = {"parallel": {"name": self.name(merge), "merge": op, "branches": ordered}}
        self.marks[id(entry)] = self.mark(merge)
        return merge, entry


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
                if node.op_type in _MERGES and len(node.input) > 1:
                    self.unsupported_op(node, "with a constant operand")
                    continue
                entry = self.entry(node)
                self.pending_pad = None
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


def _listing(model, graph, file: str, nodes: bool = True) -> str:
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    lines = [f"# ONNX model {os.path.basename(file)}: ir {model.ir_version}, opset {opset}, "
             f"producer {_printable(model.producer_name)} {_printable(model.producer_version)}".rstrip()]
    for node in graph.node if nodes else ():
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
    onnx = _onnx()
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
        except Exception as exc:  # noqa: BLE001 - protobuf raises several types for bad bytes
            raise NotOnnx(f"{path!r} is not a readable ONNX model ({type(exc).__name__})") from None
        del data_to_parse
    finally:
        if isinstance(data, mmap.mmap):
            data.close()
    graph = model.graph
    if not graph.node:
        raise NotOnnx(f"{path!r} holds no ONNX graph")
    texts = [text for node in graph.node for text in (node.name, node.op_type, *node.input, *node.output)]
    if any(not isinstance(text, str) for text in texts):
        raise NotOnnx(f"{path!r} is not a readable ONNX model (names that are not UTF-8 text)")
    if len(graph.node) > MAX_ONNX_NODES:  # the wire count above already refused these
        doc = Document(path, _listing(model, graph, path, nodes=False))
        doc.diagnostics.append(make("too-large", f"the model has {len(graph.node):,} nodes; archcalc reads "
                                    f"models of at most {MAX_ONNX_NODES:,}", top))
        return doc
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
    g = _Graph(onnx, graph)
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
    spec = {"name": name, "title": title,
            "input": list(shape), "layers": layers}
    doc.root = located(spec, top, converter.marks)
    if converter.expects:
        _check_weights(doc, converter)
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
