"""An ONNX model's bytes read on the protobuf wire, before the onnx package parses them.

* ``count_nodes``: a model of millions of nodes takes onnx.load tens of seconds and
  gigabytes; the node limit (limits.MAX_ONNX_NODES) is checked first. A ModelProto's field 7
  is its GraphProto, whose field 1 repeats one NodeProto per node. Only the keys and lengths
  of those two levels are read (every other field is skipped by its length), so the count
  costs one pass over the top-level entries and stops as soon as it passes the limit.
* ``slim``: archcalc reads shapes, never weights, so the payload of every large initializer
  (GraphProto field 5, a TensorProto: raw_data and the typed data fields) is dropped before
  parsing — its dims, data type, name and external-data fields stay. A 100 MB ResNet-50 is
  parsed as a few hundred kilobytes. Small tensors keep their values (Reshape's shape, a
  Constant's scalar are read from them).
* ``payload``: where the values of the one kind of initializer a reader does compare lie (a
  head the dynamo exporter wrote as a transposed copy of the embedding's table), found again
  in the file's bytes by its name.
"""
from __future__ import annotations

from .onnx_wire import DecodeError as Unreadable  # not protobuf wire format
from .onnx_wire import _varint

_GRAPH = 7  # ModelProto.graph
_NODE = 1   # GraphProto.node


def _wire(data: bytes, start: int, end: int):
    """(field number, wire type, key start, value start, value end) of each field in
    data[start:end], whatever its wire type (a varint's value is its bytes)."""
    i = start
    while i < end:
        at = i
        key, i = _varint(data, i, end)
        wire, value = key & 7, i
        if wire == 2:
            length, value = _varint(data, i, end)
            i = value + length
            if i > end:
                raise Unreadable("a field runs past its message")
        elif wire == 0:
            _, i = _varint(data, i, end)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise Unreadable(f"wire type {wire}")
        yield key >> 3, wire, at, value, i
    if i != end:
        raise Unreadable("the bytes end inside a field")


def _fields(data: bytes, start: int, end: int):
    """(field number, key start, value start, value end) of each length-delimited field in
    data[start:end]; other wire types are skipped."""
    for field, wire, at, value, value_end in _wire(data, start, end):
        if wire == 2:
            yield field, at, value, value_end


def count_nodes(data: bytes, stop: int) -> int:
    """The graph's nodes, counting no further than ``stop`` (a count of ``stop`` means "at
    least"). Raises Unreadable for bytes that are not a protobuf message."""
    count = 0
    for field, _, start, end in _fields(data, 0, len(data)):
        if field != _GRAPH:
            continue
        for inner, _, _, _ in _fields(data, start, end):
            if inner == _NODE:
                count += 1
                if count >= stop:
                    return count
    return count


_INITIALIZER = 5  # GraphProto.initializer
# TensorProto's data: float_data 4, int32_data 5, string_data 6, int64_data 7, raw_data 9,
# double_data 10, uint64_data 11 (dims 1, data_type 2, name 8, external_data 13 and
# data_location 14 stay)
_TENSOR_DATA = frozenset((4, 5, 6, 7, 9, 10, 11))
KEEP_BYTES = 4096  # initializers up to this size keep their values


def _varint_bytes(n: int) -> bytes:
    out = bytearray()
    while True:
        n, b = n >> 7, n & 0x7F
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def _message(field: int, payload) -> bytes:
    return _varint_bytes(field << 3 | 2) + _varint_bytes(len(payload)) + bytes(payload)


def _slim_tensor(data, start: int, end: int) -> bytearray:
    out, at = bytearray(), start
    for field, key, _, value_end in _fields(data, start, end):
        if field in _TENSOR_DATA:
            out += data[at:key]
            at = value_end
    out += data[at:end]
    return out


def _slim_graph(data, start: int, end: int, keep: int) -> bytearray | None:
    out, at, changed = bytearray(), start, False
    for field, key, value_start, value_end in _fields(data, start, end):
        if field == _INITIALIZER and value_end - value_start > keep:
            out += data[at:key]
            out += _message(_INITIALIZER, _slim_tensor(data, value_start, value_end))
            at, changed = value_end, True
    if not changed:
        return None
    out += data[at:end]
    return out


def slim(data, keep: int = KEEP_BYTES) -> bytes:
    """The model's bytes without the payload of any initializer over ``keep`` bytes (``data``
    may be an mmap: only what is kept is copied). Raises Unreadable for bytes that are not a
    protobuf message."""
    out, at = bytearray(), 0
    for field, key, start, end in _fields(data, 0, len(data)):
        if field != _GRAPH:
            continue
        graph = _slim_graph(data, start, end, keep)
        if graph is not None:
            out += data[at:key]
            out += _message(_GRAPH, graph)
            at = end
    out += data[at:len(data)]
    return bytes(out)


_DATA_TYPE, _NAME, _RAW, _EXTERNAL = 2, 8, 9, 13  # TensorProto.data_type, .name, .raw_data, .external_data
_KEY, _VALUE = 1, 2  # StringStringEntryProto.key, .value


def payload(data, name: str):
    """Where the values of the initializer called ``name`` lie: (data type, (start, end)) of
    its raw_data in ``data``, (data type, {"location": …, "offset": …, "length": …}) when
    they are stored outside the model (external data, as written: not checked here), or
    None (no such initializer, or values in the typed fields). Raises Unreadable for bytes
    that are not protobuf."""
    wanted = name.encode("utf-8")
    for field, _, start, end in _fields(data, 0, len(data)):
        if field != _GRAPH:
            continue
        for inner, _, t_start, t_end in _fields(data, start, end):
            if inner != _INITIALIZER:
                continue
            found, raw, external = False, None, {}
            for tensor_field, _, v_start, v_end in _fields(data, t_start, t_end):
                if tensor_field == _NAME:
                    found = data[v_start:v_end] == wanted
                    if not found:
                        break
                elif tensor_field == _RAW:
                    raw = (v_start, v_end)
                elif tensor_field == _EXTERNAL:
                    entry = {k: bytes(data[a:b]) for k, _, a, b in _fields(data, v_start, v_end)}
                    try:
                        external[entry.get(_KEY, b"").decode("utf-8")] = entry.get(_VALUE, b"").decode("utf-8")
                    except UnicodeDecodeError:
                        raise Unreadable("external data entry that is not UTF-8 text") from None
            if found:
                kind = _data_type(data, t_start, t_end)
                if raw is not None:
                    return kind, raw
                return (kind, external) if external else None
    return None


def _data_type(data, start: int, end: int) -> int:
    """TensorProto.data_type (a varint field, which ``_fields`` skips)."""
    for field, wire, _, value, value_end in _wire(data, start, end):
        if field == _DATA_TYPE and wire == 0:
            return _varint(data, value, value_end)[0]
    return 0
