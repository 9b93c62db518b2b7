"""The shapes ONNX's shape inference leaves unknown, completed in one pass over the graph.

The TorchScript exporter computes sizes from the data (x.shape in a module's forward): Swin's
padding to whole windows is ``F.pad`` with pads computed by ``Mod`` from the volume's
``Shape``, which ONNX's data propagation does not evaluate, so every shape after that Pad is
unknown to it, and so are the Reshapes whose targets are computed from those shapes. Here the
small integer tensors such sizes are made of are evaluated (``Shape``, ``Gather``, ``Mod``,
``Concat``, ``Slice``, ``Transpose``…: pure Python, never a weight), and the shape of each
tensor inference left unknown is computed from its inputs' for the ops that move data
(``Pad``, ``Reshape``, ``Slice``, ``Concat``, ``Transpose``, ``MatMul``, elementwise ops…).
A tensor neither knows stays unknown, as before.
"""
from __future__ import annotations

from math import prod

#: values are computed for tensors of at most this many numbers (sizes, pads, indices)
SMALL = 4096

# ops whose output has their first input's shape
_SAME = {"Relu", "Gelu", "Erf", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "LayerNormalization", "Cast",
         "Identity", "Dropout", "Neg", "Sqrt", "Exp", "Log", "Clip", "Not", "Reciprocal", "Abs",
         "BatchNormalization", "LeakyRelu", "HardSigmoid", "HardSwish", "Elu", "Selu", "Softplus",
         "Softsign", "Mish", "CastLike", "InstanceNormalization", "GroupNormalization", "Floor", "Ceil",
         "Round", "Sign", "LpNormalization", "Trilu", "ScatterND", "ScatterElements"}
# elementwise ops of several inputs, broadcast
_BROADCAST = {"Add", "Sub", "Mul", "Div", "Pow", "Where", "Equal", "Less", "Greater", "LessOrEqual",
              "GreaterOrEqual", "And", "Or", "Xor", "Max", "Min", "Mod", "Sum", "Mean", "PRelu", "BitShift"}
_INTEGER_TYPES = (2, 3, 4, 5, 6, 7, 9, 12, 13)  # TensorProto's integer and bool types


def _broadcast(*shapes):
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        sizes = {s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0}
        sizes.discard(1)
        if len(sizes) > 1:
            raise ValueError("shapes that do not broadcast")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def _strides(dims):
    strides, step = [], 1
    for d in reversed(dims):
        strides.append(step)
        step *= d
    return strides[::-1]


def _index(flat, dims):
    return [(flat // s) % d for s, d in zip(_strides(dims), dims)] if dims else []


def _at(values, dims, index):
    return values[sum(i * s for i, s in zip(index, _strides(dims)))] if dims else values[0]


def _expanded(value, dims):
    """``value`` (dims, flat values) broadcast to ``dims``."""
    vdims, vals = value
    pad = (1,) * (len(dims) - len(vdims)) + tuple(vdims)
    return [_at(vals, pad, [0 if p == 1 else i for i, p in zip(_index(n, dims), pad)]) for n in range(prod(dims))]


def _axis(axis, rank):
    return axis + rank if axis < 0 else axis


def _slice_bounds(n, start, end, step):
    if step > 0:
        start = max(0, min(n, start + n if start < 0 else start))
        end = max(0, min(n, end + n if end < 0 else end))
    else:
        start = max(-1, min(n - 1, start + n if start < 0 else start))
        end = max(-1, min(n - 1, end + n if end < 0 else end))
    return range(start, end, step)


class Completion:
    """Known shapes (``shapes``: tensor -> dims) and small values (``values``: tensor ->
    (dims, flat list)), completed node by node in the graph's order."""

    def __init__(self, shapes: dict, values: dict, attrs):
        self.shapes = shapes
        self.values = values
        self.attrs = attrs

    def value(self, name):
        return self.values.get(name) if name else None

    def ints(self, name):
        value = self.value(name)
        return [int(v) for v in value[1]] if value is not None else None

    def run(self, nodes):
        for node in nodes:
            try:
                self._node(node)
            except (ValueError, TypeError, KeyError, IndexError, ZeroDivisionError, OverflowError, RecursionError):
                continue  # a node this pass does not follow: its outputs stay unknown

    # ------------------------------------------------------------------------------------
    def _node(self, node):
        op, out = node.op_type, node.output[0] if node.output else ""
        if not out:
            return
        a = self.attrs(node)
        inputs = list(node.input)
        dims = [self.shapes.get(i) if i else None for i in inputs]
        if op == "Shape" and dims and dims[0] is not None:
            n = len(dims[0])
            start, end = _axis(a.get("start", 0), n), _axis(a.get("end", n), n)
            sizes = list(dims[0][max(0, min(n, start)):max(0, min(n, end))])
            self._set(out, (len(sizes),), sizes)
            return
        if op == "Size" and dims and dims[0] is not None:
            self._set(out, (), [prod(dims[0])])
            return
        value = self._evaluate(node, op, a, inputs)
        if value is not None and len(value[1]) == prod(value[0]) and len(value[1]) <= SMALL:
            self._set(out, *value)
            return
        if out in self.shapes:
            return
        shape = self._shape(node, op, a, inputs, dims)
        if shape is not None and all(isinstance(d, int) and d >= 0 for d in shape):
            self.shapes[out] = tuple(shape)

    def _set(self, name, dims, values):
        self.shapes[name] = tuple(dims)
        # an integer beyond 64 bits is no size: not kept, so products of products stay small
        if all(not isinstance(v, int) or -(2 ** 64) <= v <= 2 ** 64 for v in values):
            self.values[name] = (tuple(dims), list(values))

    # -- small integer tensors ------------------------------------------------------------
    def _evaluate(self, node, op, a, inputs):
        vals = [self.value(i) for i in inputs]
        given = [v for i, v in zip(inputs, vals) if i]
        if op == "ConstantOfShape":
            sizes = self.ints(inputs[0])
            if sizes is None or any(d < 0 for d in sizes) or prod(sizes) > SMALL:
                return None
            fill = a.get("value")
            fill = self._fill(fill)
            return tuple(sizes), [fill] * prod(sizes)
        if op == "Range" and all(v is not None for v in given):
            start, limit, delta = (v[1][0] for v in given)
            n = int(max(0, -(-(limit - start) // delta)))
            if n > SMALL:
                return None
            return (n,), [start + i * delta for i in range(n)]
        if not given or any(v is None for v in given):
            return None
        if op in ("Identity", "Cast"):
            to = a.get("to")
            d, v = vals[0]
            if op == "Cast" and to in _INTEGER_TYPES:
                v = [int(x) for x in v]
            elif op == "Cast" and to in (1, 10, 11, 16):
                v = [float(x) for x in v]
            return d, v
        if op == "Unsqueeze":
            d, v = vals[0]
            axes = self.ints(inputs[1]) if len(inputs) > 1 and inputs[1] else list(a.get("axes", []))
            out = list(d)
            rank = len(d) + len(axes)
            for ax in sorted(_axis(x, rank) for x in axes):
                out.insert(ax, 1)
            return tuple(out), v
        if op == "Squeeze":
            d, v = vals[0]
            axes = self.ints(inputs[1]) if len(inputs) > 1 and inputs[1] else list(a.get("axes", []))
            axes = {_axis(x, len(d)) for x in axes} if axes else {i for i, x in enumerate(d) if x == 1}
            return tuple(x for i, x in enumerate(d) if i not in axes), v
        if op == "Reshape":
            d, v = vals[0]
            target = self._target(d, self.ints(inputs[1]), a)
            return (tuple(target), v) if target is not None else None
        if op == "Flatten":
            d, v = vals[0]
            ax = _axis(a.get("axis", 1), len(d))
            return (prod(d[:ax]), prod(d[ax:])), v
        if sum(len(v[1]) for v in given) > 4 * SMALL:
            return None  # never a size: not evaluated (a hostile file's work stays bounded)
        if op == "Concat":
            parts = [v for v in vals if v is not None]
            rank = len(parts[0][0])
            ax = _axis(a.get("axis", 0), rank)
            out = list(parts[0][0])
            out[ax] = sum(p[0][ax] for p in parts)
            result = []
            outer = prod(out[:ax])
            for o in range(outer):
                for pd, pv in parts:
                    inner = prod(pd[ax:])
                    result += pv[o * inner:(o + 1) * inner]
            return tuple(out), result
        if op == "Gather":
            (dd, dv), (idims, iv) = vals[0], vals[1]
            ax = _axis(a.get("axis", 0), len(dd))
            outer, inner, n = prod(dd[:ax]), prod(dd[ax + 1:]), dd[ax]
            if outer * inner * len(iv) > SMALL:
                return None
            result = []
            for o in range(outer):
                for i in iv:
                    i = int(i) + n if int(i) < 0 else int(i)
                    start = (o * n + i) * inner
                    result += dv[start:start + inner]
            return tuple(dd[:ax]) + tuple(idims) + tuple(dd[ax + 1:]), result
        if op == "Transpose":
            d, v = vals[0]
            perm = list(a.get("perm", range(len(d) - 1, -1, -1)))
            out = tuple(d[p] for p in perm)
            result = []
            for n in range(prod(out)):
                index = _index(n, out)
                source = [0] * len(d)
                for k, p in enumerate(perm):
                    source[p] = index[k]
                result.append(_at(v, d, source))
            return out, result
        if op == "Slice":
            d, v = vals[0]
            bounds = self._bounds(d, inputs, a)
            if bounds is None:
                return None
            ranges = [range(n) for n in d]
            for ax, r in bounds.items():
                ranges[ax] = r
            out = tuple(len(r) for r in ranges)
            result = [_at(v, d, [ranges[k][i] for k, i in enumerate(_index(n, out))]) for n in range(prod(out))]
            return out, result
        if op == "Expand":
            d, v = vals[0]
            out = _broadcast(d, tuple(self.ints(inputs[1])))
            if prod(out) > SMALL:
                return None
            return out, _expanded(vals[0], out)
        if op in _BROADCAST or op in ("Not", "Neg", "Abs"):
            out = _broadcast(*(v[0] for v in given))
            if prod(out) > SMALL:
                return None
            columns = [_expanded(v, out) for v in given]
            return out, [self._apply(op, a, *row) for row in zip(*columns)]
        return None

    @staticmethod
    def _fill(fill):
        if fill is None:
            return 0.0
        values = getattr(fill, "int64_data", None) or getattr(fill, "int32_data", None) \
            or getattr(fill, "float_data", None)
        if values:
            return values[0]
        try:
            from . import onnx_wire

            return onnx_wire.numpy_helper.to_array(fill).reshape(-1).tolist()[0]
        except Exception:  # noqa: BLE001 - an unreadable fill: unknown
            raise ValueError("a fill not read") from None

    @staticmethod
    def _apply(op, a, *xs):
        if op == "Add":
            return xs[0] + xs[1]
        if op == "Sub":
            return xs[0] - xs[1]
        if op == "Mul":
            return xs[0] * xs[1]
        if op == "Div":
            if isinstance(xs[0], int) and isinstance(xs[1], int):
                q = abs(xs[0]) // abs(xs[1])  # ONNX's integer division truncates
                return q if (xs[0] >= 0) == (xs[1] >= 0) else -q
            return xs[0] / xs[1]
        if op == "Mod":
            if a.get("fmod", 0):
                from math import fmod

                return fmod(xs[0], xs[1])
            return xs[0] % xs[1]
        if op == "Pow":
            if isinstance(xs[1], int) and not -64 <= xs[1] <= 64:
                raise ValueError("a power too large for a size")
            return xs[0] ** xs[1]
        if op == "Equal":
            return xs[0] == xs[1]
        if op == "Less":
            return xs[0] < xs[1]
        if op == "Greater":
            return xs[0] > xs[1]
        if op == "LessOrEqual":
            return xs[0] <= xs[1]
        if op == "GreaterOrEqual":
            return xs[0] >= xs[1]
        if op == "Where":
            return xs[1] if xs[0] else xs[2]
        if op == "Max":
            return max(xs)
        if op == "Min":
            return min(xs)
        if op == "Not":
            return not xs[0]
        if op == "Neg":
            return -xs[0]
        if op == "Abs":
            return abs(xs[0])
        if op == "And":
            return bool(xs[0]) and bool(xs[1])
        if op == "Or":
            return bool(xs[0]) or bool(xs[1])
        raise ValueError(op)

    def _target(self, dims, target, a):
        if target is None:
            return None
        out = [dims[i] if t == 0 and not a.get("allowzero", 0) and i < len(dims) else t for i, t in enumerate(target)]
        if out.count(-1) > 1:
            return None
        if -1 in out:
            known = prod(x for x in out if x != -1)
            if known == 0 or prod(dims) % known:
                return None
            out[out.index(-1)] = prod(dims) // known
        return out if prod(out) == prod(dims) else None

    def _bounds(self, dims, inputs, a):
        if len(inputs) >= 3:
            starts, ends = self.ints(inputs[1]), self.ints(inputs[2])
            axes = self.ints(inputs[3]) if len(inputs) > 3 and inputs[3] else list(range(len(starts or [])))
            steps = self.ints(inputs[4]) if len(inputs) > 4 and inputs[4] else [1] * len(starts or [])
        else:  # opset < 10: attributes
            starts, ends = list(a.get("starts", [])), list(a.get("ends", []))
            axes = list(a.get("axes", range(len(starts))))
            steps = [1] * len(starts)
        if None in (starts, ends, axes, steps):
            return None
        return {_axis(ax, len(dims)): _slice_bounds(dims[_axis(ax, len(dims))], s, e, st)
                for s, e, ax, st in zip(starts, ends, axes, steps)}

    # -- the shapes of tensors that move data ----------------------------------------------
    def _shape(self, node, op, a, inputs, dims):
        first = dims[0] if dims else None
        if op in _SAME:
            return first
        if op in _BROADCAST:
            given = [d for i, d in zip(inputs, dims) if i]
            return _broadcast(*given) if all(d is not None for d in given) else None
        if first is None:
            return None
        if op == "Pad":
            pads = self.ints(inputs[1]) if len(inputs) > 1 and inputs[1] else list(a.get("pads", []))
            if pads is None:
                return None
            rank = len(first)
            axes = self.ints(inputs[3]) if len(inputs) > 3 and inputs[3] else list(range(rank))
            if axes is None or len(pads) != 2 * len(axes):
                return None
            out = list(first)
            for k, ax in enumerate(axes):
                ax = _axis(ax, rank)
                out[ax] += pads[k] + pads[k + len(axes)]
            return out
        if op == "Reshape":
            return self._target(first, self.ints(inputs[1]), a)
        if op == "Slice":
            bounds = self._bounds(first, inputs, a)
            if bounds is None:
                return None
            return [len(bounds[i]) if i in bounds else n for i, n in enumerate(first)]
        if op == "Concat":
            if any(d is None for d in dims):
                return None
            ax = _axis(a.get("axis", 0), len(first))
            out = list(first)
            out[ax] = sum(d[ax] for d in dims)
            return out
        if op == "Transpose":
            perm = list(a.get("perm", range(len(first) - 1, -1, -1)))
            return [first[p] for p in perm]
        if op == "MatMul":
            second = dims[1]
            if second is None or len(first) < 2 or len(second) < 2 or first[-1] != second[-2]:
                return None
            return list(_broadcast(first[:-2], second[:-2])) + [first[-2], second[-1]]
        if op == "Gemm":
            second = dims[1]
            if second is None:
                return None
            m = first[1] if a.get("transA", 0) else first[0]
            n = second[0] if a.get("transB", 0) else second[1]
            return [m, n]
        if op == "Gather":
            indices = dims[1]
            if indices is None:
                return None
            ax = _axis(a.get("axis", 0), len(first))
            return list(first[:ax]) + list(indices) + list(first[ax + 1:])
        if op == "Unsqueeze":
            axes = self.ints(inputs[1]) if len(inputs) > 1 and inputs[1] else list(a.get("axes", []))
            if axes is None:
                return None
            out = list(first)
            for ax in sorted(_axis(x, len(first) + len(axes)) for x in axes):
                out.insert(ax, 1)
            return out
        if op == "Squeeze":
            axes = self.ints(inputs[1]) if len(inputs) > 1 and inputs[1] else list(a.get("axes", []))
            if axes is None:
                return None
            axes = {_axis(x, len(first)) for x in axes} if axes else {i for i, x in enumerate(first) if x == 1}
            return [x for i, x in enumerate(first) if i not in axes]
        if op == "Flatten":
            ax = _axis(a.get("axis", 1), len(first))
            return [prod(first[:ax]), prod(first[ax:])]
        if op == "Expand":
            target = self.ints(inputs[1])
            return _broadcast(first, tuple(target)) if target is not None else None
        if op in ("GlobalAveragePool", "GlobalMaxPool"):
            return list(first[:2]) + [1] * (len(first) - 2)
        if op in ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL2", "ReduceProd"):
            axes = self.ints(inputs[1]) if len(inputs) > 1 and inputs[1] else list(a.get("axes", []))
            if axes is None:
                return None
            axes = {_axis(x, len(first)) for x in axes} if axes else set(range(len(first)))
            if a.get("keepdims", 1):
                return [1 if i in axes else n for i, n in enumerate(first)]
            return [n for i, n in enumerate(first) if i not in axes]
        return None
