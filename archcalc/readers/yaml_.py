"""YAML text -> plain values that remember where they came from.

``yaml.compose`` gives a node tree with 0-based marks and constructs nothing, so hostile
tags are never executed. We build ``LMap``/``LList`` (a dict and a list that carry the
marks of their items) and plain scalars; the +1 that makes marks 1-based happens here,
once. Problems are returned as diagnostics, never raised.
"""
from __future__ import annotations

import re

from .. import limits
from ..diagnostics import Diagnostic, make
from ..limits import MAX_INTEGER, MAX_NUMBER_TEXT
from .files import read_bytes
from .located import REFUSED, Document, LList, LMap, Mark, no_cyclic_gc

# Expanded node count above which a document is refused (a "billion laughs" file has
# billions; the largest built-in spec has a few thousand, a spec of 100,000 literal layers
# about a million).
MAX_EXPANDED_NODES = limits.MAX_NODES


_CONVERTING = object()  # marks a node whose conversion is under way (cycle guard)

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _Converter:
    def __init__(self, file: str):
        import yaml.constructor

        self.file = file
        self.ctor = yaml.constructor.SafeConstructor()
        self.diagnostics: list[Diagnostic] = []
        self.budget = MAX_EXPANDED_NODES
        self.memo: dict[int, object] = {}
        self.sizes: dict[int, int] = {}

    def mark(self, node) -> Mark:
        m = node.start_mark
        return _new_tuple(Mark, (self.file, m.line + 1, m.column + 1))  # Mark(...) without its checks

    def expanded_size(self, node) -> int:
        """Node count with every alias expanded, computed without expanding anything."""
        key = id(node)
        size = self.sizes.get(key)
        if size is None:
            self.sizes[key] = 1  # a cycle (impossible in YAML 1.1 composer, but be safe)
            value = node.value
            if isinstance(value, list):
                if value and isinstance(value[0], tuple):
                    size = 1 + sum(self.expanded_size(k) + self.expanded_size(v) for k, v in value)
                else:
                    size = 1 + sum(self.expanded_size(v) for v in value)
            else:
                size = 1
            self.sizes[key] = size
        return size

    def convert(self, node):
        key = id(node)
        if key in self.memo:  # an alias: share the converted value, do not copy it
            value = self.memo[key]
            if value is _CONVERTING:  # an alias inside its own anchor (the scan reports it)
                return REFUSED
            return value
        self.memo[key] = _CONVERTING
        tag = node.tag
        if tag == _MAP and node.id == "mapping":
            value = self.convert_map(node)
        elif tag == _SEQ and node.id == "sequence":
            value = LList()
            value.mark = self.mark(node)
            value.item_marks = []
            for item in node.value:
                value.append(self.convert(item))
                value.item_marks.append(self.mark(item))
        else:
            value = self.convert_scalar(node)
        self.memo[key] = value
        return value

    def convert_map(self, node) -> LMap:
        value = LMap()
        value.mark = self.mark(node)
        value.key_marks = {}
        value.value_marks = {}
        for key_node, value_node in node.value:
            key = self.convert(key_node)
            kmark = self.mark(key_node)
            if isinstance(key, (LMap, LList)):
                self.diagnostics.append(make("wrong-type", "a mapping key must be a plain value, "
                                             "found a collection", kmark))
                continue
            if not isinstance(key, str):
                key = "" if key is None else (str(key).lower() if isinstance(key, bool) else str(key))
            if key in value:
                first = value.key_marks[key]
                self.diagnostics.append(make(
                    "duplicate-key", f"key {key!r} appears twice in this mapping",
                    kmark, hint=f"the first {key!r} is at line {first.line}, column {first.column}; "
                    "remove or rename one"))
                continue
            value[key] = self.convert(value_node)
            value.key_marks[key] = kmark
            value.value_marks[key] = self.mark(value_node)
        return value

    def convert_scalar(self, node):
        if node.id != "scalar":
            return self.forbidden_collection(node.tag, node)
        return self.scalar(node.tag, node.value, node)

    def forbidden_collection(self, tag, node):
        self.diagnostics.append(make(
            "forbidden-tag", f"the tag {tag!r} is not allowed in a spec", self.mark(node),
            hint="remove the tag; specs use plain YAML values only"))
        return REFUSED

    def scalar(self, tag, text, node):
        """The value of a scalar ``text`` resolved to ``tag``; ``node`` (a node or an event)
        gives the mark."""
        if tag == _STR or tag == _TIMESTAMP:
            return text
        if tag == _INT:
            # The common case, decimal digits without a leading zero (YAML 1.1 reads 010 as octal).
            if len(text) < 19 and text.isascii() and text.isdigit() and (text[0] != "0" or text == "0"):
                return int(text)
            value = None
            if len(text) <= MAX_NUMBER_TEXT:
                try:
                    value = self.ctor.construct_yaml_int(_scalar_node(tag, text))
                except (ValueError, IndexError):  # IndexError: PyYAML on an empty `!!int`
                    value = None
            shown = text if len(text) <= 24 else f"{text[:20]}... ({len(text):,} characters)"
            if value is None and len(text) <= MAX_NUMBER_TEXT:  # `!!int abc`: not a number at all
                self.diagnostics.append(make(
                    "bad-value", f"{shown!r} is tagged !!int but is not an integer", self.mark(node),
                    hint="write the number (digits, 0x…, 0o…), or drop the !!int tag"))
                return REFUSED
            if value is None or not -MAX_INTEGER <= value <= MAX_INTEGER:
                self.diagnostics.append(make(
                    "number-too-large", f"the integer {shown} is beyond archcalc's limit of 10^18",
                    self.mark(node),
                    hint="use a realistic size; no real network comes near 10^18"))
                return REFUSED
            return value
        if tag == _FLOAT:
            value = self.ctor.construct_yaml_float(_scalar_node(tag, text))
            if value != value or value in (float("inf"), float("-inf")):
                self.diagnostics.append(make(
                    "bad-value", f"the number {text} is not finite: no size, rate or count "
                    "can be NaN or infinite", self.mark(node), hint="write a real number"))
                return REFUSED
            return value
        if tag == _BOOL:
            return self.ctor.construct_yaml_bool(_scalar_node(tag, text))
        if tag == _NULL:
            return None
        self.diagnostics.append(make(
            "forbidden-tag", f"the tag {tag!r} is not allowed in a spec", self.mark(node),
            hint="specs are loaded safely; remove the tag"))
        return REFUSED


def _scalar_node(tag: str, text: str):
    """A scalar node for PyYAML's constructor (which reads only its tag and value)."""
    import yaml

    return yaml.ScalarNode(tag, text)


class _AnchorMet(Exception):
    """An anchor or an alias: the document is composed as a tree instead (aliases share)."""


class _LimitPassed(Exception):
    def __init__(self, problem: Diagnostic):
        super().__init__(problem.message)
        self.problem = problem


class _Builder(_Converter):
    """Values built straight from the parser's events, without composing a node tree (half the
    time and a third of the memory of composing then converting: no node nor mark objects
    held for the whole document), with the limits of ``_scan`` checked on the way: nesting
    beyond MAX_NESTING and more than MAX_EXPANDED_NODES nodes stop it at the event that
    passes them. What it builds is what ``_Converter`` makes of the composed tree. A
    document with an anchor or alias raises _AnchorMet (those are composed)."""

    def __init__(self, file: str, loader):
        super().__init__(file)
        import yaml.events as ev
        import yaml.nodes

        self.loader = loader
        self.next = loader.get_event
        self.nodes = self.depth = 0
        self.kinds = (ev.ScalarEvent, ev.SequenceStartEvent, ev.MappingStartEvent, ev.SequenceEndEvent,
                      ev.MappingEndEvent, ev.AliasEvent)
        self.scalar_node = yaml.nodes.ScalarNode

    def document(self):
        """The document's value; None for a stream without a document."""
        import yaml.composer
        import yaml.events as ev

        self.next()  # the stream's start
        if self.loader.check_event(ev.StreamEndEvent):
            return None
        self.next()  # the document's start
        start = self.next()
        root = self.value(start)
        self.next()  # the document's end
        if not self.loader.check_event(ev.StreamEndEvent):
            event = self.next()
            raise yaml.composer.ComposerError("expected a single document in the stream", start.start_mark,
                                              "but found another document", event.start_mark)
        return root

    def count(self, event):
        if event.anchor is not None:
            raise _AnchorMet
        self.nodes += 1
        if self.nodes > MAX_EXPANDED_NODES:
            raise _LimitPassed(make(
                "too-large", f"the document holds more than {MAX_EXPANDED_NODES:,} YAML nodes; "
                "the limit is passed here", self.mark(event), hint=_NODES_HINT))

    def enter(self, event):
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _LimitPassed(make(
                "too-large", f"the YAML nests too deeply: beyond {MAX_NESTING} levels of collections",
                self.mark(event), hint="a spec nests a dozen levels at most; use blocks and `repeat`"))

    def value(self, event):
        """The value that ``event`` starts; its events are read up to its end."""
        scalar, sequence, mapping, _, _, _ = self.kinds
        kind = type(event)
        if kind is scalar:
            self.count(event)
            tag = event.tag
            if tag is None or tag == "!":
                tag = self.loader.resolve(self.scalar_node, event.value, event.implicit)
            return self.scalar(tag, event.value, event)
        if kind is not sequence and kind is not mapping:  # an alias
            raise _AnchorMet
        self.count(event)
        self.enter(event)
        tag = event.tag
        if tag is None or tag == "!":
            tag = _SEQ if kind is sequence else _MAP
        if tag != (_SEQ if kind is sequence else _MAP):
            self.skip_rest()
            value = self.forbidden_collection(tag, event)
        elif kind is sequence:
            value = self.sequence(event)
        else:
            value = self.mapping(event)
        self.depth -= 1
        return value

    def sequence(self, start) -> LList:
        value = LList()
        value.mark = self.mark(start)
        value.item_marks = marks = []
        end = self.kinds[3]
        while True:
            event = self.next()
            if type(event) is end:
                return value
            value.append(self.value(event))
            marks.append(self.mark(event))

    def mapping(self, start) -> LMap:
        value = LMap()
        value.mark = self.mark(start)
        value.key_marks = key_marks = {}
        value.value_marks = value_marks = {}
        end = self.kinds[4]
        while True:
            event = self.next()
            if type(event) is end:
                return value
            key = self.value(event)
            kmark = self.mark(event)
            if isinstance(key, (LMap, LList)):
                self.diagnostics.append(make("wrong-type", "a mapping key must be a plain value, "
                                             "found a collection", kmark))
                self.skip(self.next())
                continue
            if not isinstance(key, str):
                key = "" if key is None else (str(key).lower() if isinstance(key, bool) else str(key))
            if key in value:
                first = key_marks[key]
                self.diagnostics.append(make(
                    "duplicate-key", f"key {key!r} appears twice in this mapping",
                    kmark, hint=f"the first {key!r} is at line {first.line}, column {first.column}; "
                    "remove or rename one"))
                self.skip(self.next())
                continue
            event = self.next()
            value[key] = self.value(event)
            key_marks[key] = kmark
            value_marks[key] = self.mark(event)

    def skip(self, event):
        """Read past the value that ``event`` starts, building nothing (limits still count)."""
        scalar, sequence, mapping, _, _, _ = self.kinds
        kind = type(event)
        if kind is not scalar and kind is not sequence and kind is not mapping:
            raise _AnchorMet
        self.count(event)
        if kind is not scalar:
            self.enter(event)
            self.skip_rest()
            self.depth -= 1

    def skip_rest(self):
        """Read past the rest of the collection just entered."""
        scalar, sequence, mapping, seq_end, map_end, _ = self.kinds
        level = 1
        while level:
            event = self.next()
            kind = type(event)
            if kind is seq_end or kind is map_end:
                level -= 1
                if level:
                    self.depth -= 1
            elif kind is scalar:
                self.count(event)
            elif kind is sequence or kind is mapping:
                self.count(event)
                self.enter(event)
                level += 1
            else:
                raise _AnchorMet


_NODES_HINT = "a spec of 100,000 layers has about a million nodes; use `repeat` and blocks"


# Deepest nesting a spec may have. Real specs nest a dozen levels; libyaml composes
# recursively in C, so a file nested thousands deep would crash the process instead.
MAX_NESTING = limits.MAX_NESTING


def _nesting_bound(text: str) -> int:
    """An upper bound of the YAML nesting depth, cheaply: open flow brackets at any point plus
    the longest run of indentation and block indicators that starts a line."""
    import re

    flow = deepest = 0
    for c in re.sub(r"[^\[\]{}]+", "", text):
        if c in "[{":
            flow += 1
            deepest = max(deepest, flow)
        else:
            flow -= 1
    block = max(map(len, re.findall(r"^[ \t?-]*", text, re.M)), default=0)
    return deepest + block


def _scan(text: str, file: str) -> Diagnostic | None:
    """Walk the YAML events (libyaml's parser is a loop, not a recursion) and stop at the
    first event that passes a limit: nesting deeper than MAX_NESTING, more than
    MAX_EXPANDED_NODES nodes, or an alias inside its own anchor. Cost follows the prefix
    read, so a 5 M-line file is refused after 1,000,000 nodes, not parsed to its end.
    Run only when the cheap tests of ``parse`` say a limit may be near."""
    import yaml.events as ev

    loader = _loader_class()(text)
    depth = nodes = 0
    open_anchors: list = []  # (anchor or None) per open collection
    try:
        while loader.check_event():
            event = loader.get_event()
            kind = type(event)
            if kind is ev.ScalarEvent:
                nodes += 1
            elif kind is ev.SequenceStartEvent or kind is ev.MappingStartEvent:
                nodes += 1
                depth += 1
                open_anchors.append(event.anchor)
                if depth > MAX_NESTING:
                    m = event.start_mark
                    return make("too-large", f"the YAML nests too deeply: beyond {MAX_NESTING} levels of "
                                "collections", Mark(file, m.line + 1, m.column + 1),
                                hint="a spec nests a dozen levels at most; use blocks and `repeat`")
            elif kind is ev.SequenceEndEvent or kind is ev.MappingEndEvent:
                depth -= 1
                open_anchors.pop()
            elif kind is ev.AliasEvent:
                nodes += 1
                if event.anchor in open_anchors:
                    m = event.start_mark
                    return make("bad-value", f"the alias *{event.anchor} refers to the collection that "
                                "contains it, which would make it infinite", Mark(file, m.line + 1, m.column + 1),
                                hint=f"an alias can only repeat a value defined before it; remove *{event.anchor}")
            if nodes > MAX_EXPANDED_NODES:
                m = event.start_mark
                return make("too-large", f"the document holds more than {MAX_EXPANDED_NODES:,} YAML nodes; "
                            "the limit is passed here", Mark(file, m.line + 1, m.column + 1),
                            hint=_NODES_HINT)
    finally:
        loader.dispose()
    return None


# Where an alias may stand ('*name' after a space, a line start or a flow indicator); an
# expression's `${c * 4}` does not match.
_ALIAS = re.compile(r"(?:^|[\s\[{,])\*[^\s,\[\]{}]", re.M)

# YAML errors (by the parser's context) whose usual cause is not indentation: message, hint.
_SYNTAX_MESSAGES = {
    "expected a single document in the stream": (
        "the file holds more than one YAML document; a second one starts here",
        "a spec is one YAML document: remove the '---' line (or split the file, one spec each)"),
}

_new_tuple = tuple.__new__
_LOADER = None
# Scalars resolved per (value, style): a spec repeats the same few values ("conv", "3", "64")
# hundreds of times, and `archcalc validate` reads a thousand specs in one process.
_RESOLVED: dict = {}


def _loader_class():
    global _LOADER
    if _LOADER is None:
        import yaml

        base = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
        scalar = yaml.ScalarNode

        class Loader(base):
            def resolve(self, kind, value, implicit):
                if kind is not scalar or len(value) > 40:
                    return super().resolve(kind, value, implicit)
                key = (value, implicit)
                tag = _RESOLVED.get(key)
                if tag is None:
                    tag = super().resolve(kind, value, implicit)
                    if len(_RESOLVED) < 50_000:
                        _RESOLVED[key] = tag
                return tag

        _LOADER = Loader
    return _LOADER


def _tab_in_indentation(text: str, where: Mark) -> Mark | None:
    """The tab in the leading whitespace of the line YAML stopped at (or the line before, where
    a tab-indented line ends the previous block), if there is one."""
    lines = text.split("\n")
    for line_no in (where.line, where.line - 1):
        if 1 <= line_no <= len(lines):
            line = lines[line_no - 1]
            indent = line[: len(line) - len(line.lstrip(" \t"))]
            if "\t" in indent:
                return Mark(where.file, line_no, indent.index("\t") + 1)
    return None


def parse(text: str, file: str) -> Document:
    """Parse YAML text into a Document. Never raises for bad input."""
    with no_cyclic_gc():
        return _parse(text, file)


def _parse(text: str, file: str) -> Document:
    import yaml

    doc = Document(file=file, text=text)
    try:
        # The exact scan of the events only where a limit may be near: aliases, a large
        # text, or a cheap upper bound of the nesting (brackets and indentation, also those
        # inside strings and comments) beyond the limit.
        aliases = _ALIAS.search(text) is not None
        if not aliases:
            # Values straight from the events, the limits checked on the way; a document
            # with anchors is composed below, as one with aliases.
            loader = _loader_class()(text)
            builder = _Builder(file, loader)
            try:
                doc.root = builder.document()
            except _LimitPassed as passed:
                doc.diagnostics.append(passed.problem)
                return doc
            except _AnchorMet:
                builder = doc.root = None
            finally:
                loader.dispose()
            if builder is not None:
                if doc.root is None:
                    doc.diagnostics.append(_no_document(file))
                doc.diagnostics.extend(builder.diagnostics)
                return doc
        # The exact scan of the events only where a limit may be near: aliases, a large
        # text, or a cheap upper bound of the nesting (brackets and indentation, also those
        # inside strings and comments) beyond the limit.
        if aliases or len(text) > 100_000 or _nesting_bound(text) > MAX_NESTING:
            problem = _scan(text, file)
            if problem is not None:
                doc.diagnostics.append(problem)
                return doc
        node = yaml.compose(text, Loader=_loader_class())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Mark(file, mark.line + 1, mark.column + 1) if mark else Mark(file, 1, 1)
        problem = exc.problem or "invalid YAML"
        if "nesting depth" in problem:
            # PyYAML >= 6.0.4 stops at about 1,000 flow levels while scanning ahead, before
            # the event walk of ``_scan`` reaches MAX_NESTING: the same limit, passed.
            doc.diagnostics.append(make(
                "too-large", f"the YAML nests too deeply: beyond {MAX_NESTING} levels of collections",
                where, hint="a spec nests a dozen levels at most; use blocks and `repeat`"))
            return doc
        context = f" ({exc.context})" if exc.context else ""
        tab = _tab_in_indentation(text, where)
        if tab is not None:
            doc.diagnostics.append(make("yaml-syntax", "a tab in the indentation: YAML indents with "
                                        "spaces only", tab, hint="replace the tab with spaces"))
            return doc
        message, hint = _SYNTAX_MESSAGES.get(exc.context or "", (
            f"{problem}{context}", "check indentation and that every ':' is followed by a space"))
        doc.diagnostics.append(make("yaml-syntax", message, where, hint=hint))
        return doc
    except yaml.YAMLError as exc:  # reader errors (control characters) carry no problem_mark
        pos = getattr(exc, "position", 0) or 0
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        doc.diagnostics.append(make("yaml-syntax", str(exc).splitlines()[0], Mark(file, line, column),
                                    hint="the file contains characters YAML does not allow"))
        return doc
    except RecursionError:
        doc.diagnostics.append(make("too-large", "the YAML nesting is too deep", Mark(file, 1, 1)))
        return doc
    if node is None:
        doc.diagnostics.append(_no_document(file))
        return doc
    conv = _Converter(file)
    try:
        # Without an alias ('*name') nothing is expanded: the node count is bounded by the text.
        size = conv.expanded_size(node) if aliases else 0
        if size > MAX_EXPANDED_NODES:
            doc.diagnostics.append(make(
                "too-large", f"the document expands to {size:,} YAML nodes (limit "
                f"{MAX_EXPANDED_NODES:,}); aliases multiply what they reference",
                conv.mark(node), hint="use `repeat` or blocks instead of nested aliases"))
            return doc
        doc.root = conv.convert(node)
    except RecursionError:
        doc.diagnostics.append(make("too-large", "the YAML nesting is too deep", Mark(file, 1, 1)))
        return doc
    doc.diagnostics.extend(conv.diagnostics)
    return doc


def _no_document(file: str) -> Diagnostic:
    return make("empty-file", "the file holds no YAML document", Mark(file, 1, 1),
                hint="a spec needs at least `input` and `layers`")


def read(path: str, **options) -> Document:
    """Read and parse a spec file or ``-`` (standard input); ``options`` (another reader's,
    such as ``input_shape``) change nothing here. OSError propagates: the CLI maps it to exit 2."""
    data = read_bytes(path)
    file = "<stdin>" if path == "-" else path
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        doc = Document(file=file, text="")
        doc.diagnostics.append(make(
            "file-encoding", f"byte 0x{data[exc.start]:02x} at offset {exc.start} is not valid UTF-8",
            Mark(file, line, column), hint="save the file as UTF-8"))
        return doc
    return parse(text, file)
