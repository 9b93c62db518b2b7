"""ONNX models decoded from the protobuf wire format in pure Python: the messages, fields and
helpers archcalc's ONNX reader uses, under the names the onnx package gives them, without
importing onnx (whose import alone takes about a second: numpy, ml_dtypes, protobuf).

The schema is onnx.proto's (ONNX IR version 10): field numbers and types of ModelProto,
OperatorSetIdProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto,
TypeProto, TensorShapeProto and StringStringEntryProto. Fields outside it are skipped by
their wire type, as protobuf does. ``load_model_from_string(data)`` decodes a model;
``helper.get_attribute_value`` and ``numpy_helper.to_array`` behave as onnx's do for what the
reader asks (``to_array`` returns a small list-backed array: ``size``, ``ndim``, ``item()``,
``reshape(-1).tolist()``). Malformed bytes raise ``DecodeError``; nesting (subgraphs in
attributes) is bounded.
"""
from __future__ import annotations

import struct
from typing import ClassVar

MAX_DEPTH = 64  # messages inside messages (a graph in an If inside a Loop inside …)


class DecodeError(ValueError):
    """The bytes are not an ONNX model on the protobuf wire."""


# --------------------------------------------------------------------------- wire format
def _varint(data, i: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= end:
            raise DecodeError("the bytes end inside a number")
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise DecodeError("a number longer than ten bytes")


def _signed(n: int) -> int:
    """A varint read as int64 (protobuf writes negative int32/int64 as ten-byte two's complement)."""
    return n - (1 << 64) if n >= 1 << 63 else n


def _text(raw: bytes):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw  # not text: the reader refuses names that are not str


# field kinds
INT, FLOAT, DOUBLE, UINT, STR, BYTES = "int", "float", "double", "uint", "str", "bytes"
_FIXED = {FLOAT: ("<f", 4), DOUBLE: ("<d", 8)}


class Message:
    """A decoded message: every field of its schema as an attribute (repeated fields lists,
    unset fields their defaults); ``HasField`` says which were on the wire."""

    FIELDS: ClassVar[dict] = {}     # number -> (name, kind or Message subclass, repeated)
    _DEFAULTS: ClassVar[dict] = {}  # name -> the value of an unset field (an unset message: an empty one)
    _LISTS: ClassVar[tuple] = ()    # the repeated fields

    def __init__(self):
        d = self.__dict__
        d.update(type(self)._DEFAULTS)
        for name in type(self)._LISTS:
            d[name] = []
        d["_present"] = set()

    def HasField(self, name: str) -> bool:
        return name in self._present

    @classmethod
    def decode(cls, data, start: int = 0, end: int | None = None, depth: int = 0):
        if depth > MAX_DEPTH:
            raise DecodeError(f"messages nested more than {MAX_DEPTH} deep")
        end = len(data) if end is None else end
        self = cls()
        fields = cls.FIELDS
        i = start
        while i < end:
            key, i = _varint(data, i, end)
            number, wire = key >> 3, key & 7
            spec = fields.get(number)
            if wire == 0:
                value, i = _varint(data, i, end)
                if spec is not None and spec[1] in (INT, UINT):
                    self._set(spec, _signed(value) if spec[1] == INT else value)
            elif wire == 1 or wire == 5:
                size = 8 if wire == 1 else 4
                if i + size > end:
                    raise DecodeError("the bytes end inside a number")
                if spec is not None and spec[1] in _FIXED and _FIXED[spec[1]][1] == size:
                    self._set(spec, struct.unpack_from(_FIXED[spec[1]][0], data, i)[0])
                i += size
            elif wire == 2:
                length, i = _varint(data, i, end)
                if i + length > end:
                    raise DecodeError("a field runs past its message")
                if spec is not None:
                    self._field(spec, data, i, i + length, depth)
                i += length
            else:
                raise DecodeError(f"wire type {wire}, which ONNX never writes")
        if i != end:
            raise DecodeError("a field runs past its message")
        return self

    def _set(self, spec, value):
        name, _, repeated = spec
        if repeated:
            self.__dict__[name].append(value)
        else:
            self.__dict__[name] = value
        self._present.add(name)

    def _field(self, spec, data, start, end, depth):
        name, kind, repeated = spec
        if isinstance(kind, type):
            self._set(spec, kind.decode(data, start, end, depth + 1))
        elif kind == STR:
            self._set(spec, _text(bytes(data[start:end])))
        elif kind == BYTES:
            self._set(spec, bytes(data[start:end]))
        elif not repeated:
            raise DecodeError(f"field {name!r} holds bytes where a number belongs")
        elif kind in _FIXED:  # packed fixed-size numbers
            fmt, size = _FIXED[kind]
            if (end - start) % size:
                raise DecodeError(f"packed field {name!r} of a size no number divides")
            values = self.__dict__[name]
            values.extend(v for (v,) in struct.iter_unpack(fmt, bytes(data[start:end])))
            self._present.add(name)
        else:  # packed varints
            values = self.__dict__[name]
            i = start
            while i < end:
                value, i = _varint(data, i, end)
                values.append(_signed(value) if kind == INT else value)
            self._present.add(name)

    def __repr__(self):
        shown = ", ".join(f"{n}={self.__dict__[n]!r}" for n in sorted(self._present))
        return f"{type(self).__name__}({shown})"


_SCALAR_DEFAULTS = {INT: 0, UINT: 0, FLOAT: 0.0, DOUBLE: 0.0, STR: "", BYTES: b""}


def _schema(cls, fields):
    """Declare a message's fields; message-typed fields must be declared before use (an
    unset one reads as a shared empty instance, never mutated)."""
    cls.FIELDS = {number: (name, kind, repeated) for number, name, kind, repeated in fields}
    cls._LISTS = tuple(name for _, name, _, repeated in fields if repeated)
    cls._DEFAULTS = {name: (kind() if isinstance(kind, type) else _SCALAR_DEFAULTS[kind])
                     for _, name, kind, repeated in fields if not repeated}
    return cls


class StringStringEntryProto(Message):
    pass


class OperatorSetIdProto(Message):
    pass


class Dimension(Message):
    pass


class TensorShapeProto(Message):
    Dimension = Dimension


class TypeProtoTensor(Message):
    pass


class TypeProto(Message):
    Tensor = TypeProtoTensor


class ValueInfoProto(Message):
    pass


class TensorProto(Message):
    DEFAULT, EXTERNAL = 0, 1
    UNDEFINED, FLOAT, UINT8, INT8, UINT16, INT16, INT32, INT64, STRING, BOOL = range(10)
    FLOAT16, DOUBLE, UINT32, UINT64, COMPLEX64, COMPLEX128, BFLOAT16 = range(10, 17)


class AttributeProto(Message):
    UNDEFINED, FLOAT, INT, STRING, TENSOR, GRAPH, FLOATS, INTS, STRINGS, TENSORS, GRAPHS = range(11)
    SPARSE_TENSOR, SPARSE_TENSORS, TYPE_PROTO, TYPE_PROTOS = 11, 12, 13, 14


class NodeProto(Message):
    pass


class GraphProto(Message):
    pass


class ModelProto(Message):
    pass


_schema(StringStringEntryProto, [(1, "key", STR, False), (2, "value", STR, False)])
_schema(OperatorSetIdProto, [(1, "domain", STR, False), (2, "version", INT, False)])
_schema(Dimension, [(1, "dim_value", INT, False), (2, "dim_param", STR, False), (3, "denotation", STR, False)])
_schema(TensorShapeProto, [(1, "dim", Dimension, True)])
_schema(TypeProtoTensor, [(1, "elem_type", INT, False), (2, "shape", TensorShapeProto, False)])
_schema(TypeProto, [(1, "tensor_type", TypeProtoTensor, False), (6, "denotation", STR, False)])
_schema(ValueInfoProto, [(1, "name", STR, False), (2, "type", TypeProto, False), (3, "doc_string", STR, False)])
_schema(TensorProto, [
    (1, "dims", INT, True), (2, "data_type", INT, False), (4, "float_data", FLOAT, True),
    (5, "int32_data", INT, True), (6, "string_data", BYTES, True), (7, "int64_data", INT, True),
    (8, "name", STR, False), (9, "raw_data", BYTES, False), (10, "double_data", DOUBLE, True),
    (11, "uint64_data", UINT, True), (12, "doc_string", STR, False),
    (13, "external_data", StringStringEntryProto, True), (14, "data_location", INT, False)])
_schema(GraphProto, [
    (1, "node", NodeProto, True), (2, "name", STR, False), (5, "initializer", TensorProto, True),
    (10, "doc_string", STR, False), (11, "input", ValueInfoProto, True), (12, "output", ValueInfoProto, True),
    (13, "value_info", ValueInfoProto, True)])
_schema(NodeProto, [
    (1, "input", STR, True), (2, "output", STR, True), (3, "name", STR, False), (4, "op_type", STR, False),
    (5, "attribute", AttributeProto, True), (6, "doc_string", STR, False), (7, "domain", STR, False),
    (9, "metadata_props", StringStringEntryProto, True)])
_schema(AttributeProto, [
    (1, "name", STR, False), (2, "f", FLOAT, False), (3, "i", INT, False), (4, "s", BYTES, False),
    (5, "t", TensorProto, False), (6, "g", GraphProto, False), (7, "floats", FLOAT, True),
    (8, "ints", INT, True), (9, "strings", BYTES, True), (10, "tensors", TensorProto, True),
    (11, "graphs", GraphProto, True), (13, "doc_string", STR, False), (20, "type", INT, False),
    (21, "ref_attr_name", STR, False)])
_schema(ModelProto, [
    (1, "ir_version", INT, False), (2, "producer_name", STR, False), (3, "producer_version", STR, False),
    (4, "domain", STR, False), (5, "model_version", INT, False), (6, "doc_string", STR, False),
    (7, "graph", GraphProto, False), (8, "opset_import", OperatorSetIdProto, True)])


def load_model_from_string(data) -> ModelProto:
    """The model in ``data`` (bytes or an mmap); DecodeError for anything else."""
    return ModelProto.decode(data)


# --------------------------------------------------------------------------- helpers
class helper:
    @staticmethod
    def get_attribute_value(attr: AttributeProto):
        """As onnx.helper.get_attribute_value: the value its ``type`` names."""
        if attr.ref_attr_name:
            raise ValueError(f"cannot get the value of a reference attribute {attr.name!r}")
        kind = attr.type
        value = {AttributeProto.FLOAT: lambda: attr.f, AttributeProto.INT: lambda: attr.i,
                 AttributeProto.STRING: lambda: attr.s, AttributeProto.TENSOR: lambda: attr.t,
                 AttributeProto.GRAPH: lambda: attr.g, AttributeProto.FLOATS: lambda: list(attr.floats),
                 AttributeProto.INTS: lambda: list(attr.ints), AttributeProto.STRINGS: lambda: list(attr.strings),
                 AttributeProto.TENSORS: lambda: list(attr.tensors),
                 AttributeProto.GRAPHS: lambda: list(attr.graphs)}.get(kind)
        if value is not None:
            return value()
        if kind == AttributeProto.UNDEFINED:
            return None
        raise ValueError(f"unsupported attribute type {kind} in {attr.name!r}")


class _Array:
    """The values of a small tensor, flat, with its dims: what the reader asks of a numpy array."""

    def __init__(self, values: list, dims: tuple):
        self.values, self.dims = values, dims

    @property
    def size(self) -> int:
        return len(self.values)

    @property
    def ndim(self) -> int:
        return len(self.dims)

    def item(self):
        if len(self.values) != 1:
            raise ValueError("item() of an array of more than one value")
        return self.values[0]

    def reshape(self, *shape):
        return _Array(self.values, (len(self.values),))

    def tolist(self) -> list:
        return list(self.values)


_RAW = {TensorProto.FLOAT: "f", TensorProto.UINT8: "B", TensorProto.INT8: "b", TensorProto.UINT16: "H",
        TensorProto.INT16: "h", TensorProto.INT32: "i", TensorProto.INT64: "q", TensorProto.BOOL: "?",
        TensorProto.FLOAT16: "e", TensorProto.DOUBLE: "d", TensorProto.UINT32: "I", TensorProto.UINT64: "Q"}
# where each type's values lie when not in raw_data (onnx.proto's comments)
_TYPED = {TensorProto.FLOAT: "float_data", TensorProto.DOUBLE: "double_data", TensorProto.INT64: "int64_data",
          TensorProto.UINT32: "uint64_data", TensorProto.UINT64: "uint64_data"}


class numpy_helper:
    @staticmethod
    def to_array(tensor: TensorProto) -> _Array:
        """The tensor's values (numbers only; no external data, which is never read)."""
        if tensor.data_location == TensorProto.EXTERNAL:
            raise ValueError("the tensor's data is stored outside the model")
        dims = tuple(tensor.dims)
        count = 1
        for d in dims:
            count *= d
        kind = tensor.data_type
        if kind == TensorProto.BFLOAT16:
            if tensor.raw_data:
                bits = struct.unpack(f"<{len(tensor.raw_data) // 2}H", tensor.raw_data)
            else:
                bits = [v & 0xFFFF for v in tensor.int32_data]
            values = [struct.unpack("<f", struct.pack("<I", b << 16))[0] for b in bits]
        elif kind not in _RAW:
            raise ValueError(f"tensor data type {kind} is not read")
        elif tensor.raw_data:
            fmt = _RAW[kind]
            size = struct.calcsize(fmt)
            if len(tensor.raw_data) % size:
                raise ValueError("raw data of a size the data type does not divide")
            values = list(struct.unpack(f"<{len(tensor.raw_data) // size}{fmt}", tensor.raw_data))
        elif kind == TensorProto.FLOAT16:
            values = [struct.unpack("<e", struct.pack("<H", v & 0xFFFF))[0] for v in tensor.int32_data]
        elif kind == TensorProto.BOOL:
            values = [bool(v) for v in tensor.int32_data]
        else:
            values = list(getattr(tensor, _TYPED.get(kind, "int32_data")))
        if len(values) != count:
            raise ValueError(f"the tensor holds {len(values)} values for dims {list(dims)}")
        return _Array(values, dims)
