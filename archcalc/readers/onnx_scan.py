"""Counting an ONNX model's nodes from its bytes, before the onnx package parses them.

A model of millions of nodes takes onnx.load tens of seconds and gigabytes; the node limit
(limits.MAX_ONNX_NODES) is checked first, on the protobuf wire format itself: a ModelProto's
field 7 is its GraphProto, whose field 1 repeats one NodeProto per node. Only the keys and
lengths of those two levels are read (every other field is skipped by its length), so the
count costs one pass over the top-level entries and stops as soon as it passes the limit.
"""
from __future__ import annotations

_GRAPH = 7  # ModelProto.graph
_NODE = 1   # GraphProto.node


class Unreadable(Exception):
    """The bytes are not protobuf wire format (the onnx package then says what it finds)."""


def _varint(data: bytes, i: int) -> tuple[int, int]:
    b = data[i]
    if b < 0x80:
        return b, i + 1
    result, shift = b & 0x7F, 7
    while True:
        i += 1
        b = data[i]
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i + 1
        shift += 7
        if shift > 63:
            raise Unreadable("a varint longer than ten bytes")


def _fields(data: bytes, start: int, end: int):
    """(field number, value start, value end) of each length-delimited field in
    data[start:end]; other wire types are skipped."""
    i = start
    try:
        while i < end:
            key, i = _varint(data, i)
            wire = key & 7
            if wire == 2:
                length, i = _varint(data, i)
                if i + length > end:
                    raise Unreadable("a field runs past its message")
                yield key >> 3, i, i + length
                i += length
            elif wire == 0:
                _, i = _varint(data, i)
            elif wire == 1:
                i += 8
            elif wire == 5:
                i += 4
            else:
                raise Unreadable(f"wire type {wire}")
    except IndexError:
        raise Unreadable("the bytes end inside a field") from None
    if i != end:
        raise Unreadable("the bytes end inside a field")


def count_nodes(data: bytes, stop: int) -> int:
    """The graph's nodes, counting no further than ``stop`` (a count of ``stop`` means "at
    least"). Raises Unreadable for bytes that are not a protobuf message."""
    count = 0
    for field, start, end in _fields(data, 0, len(data)):
        if field != _GRAPH:
            continue
        for inner, _, _ in _fields(data, start, end):
            if inner == _NODE:
                count += 1
                if count >= stop:
                    return count
    return count
