"""The pure engine: a loaded spec in, an ``Analysis`` out. No printing, no exit, no rich.

Two passes:

1. **compile** (compiler.py) turns the located YAML values into a small tree of nodes
   (``Leaf``, ``Seq``, ``Composite``): it normalises the three entry forms, expands blocks
   with their arguments (``$name``, ``${expr}``), and checks every field generically
   against the kind's declaration. A repeat body is compiled once.
2. **evaluate** walks that tree with a shape, applying each kind's rules, naming leaves,
   and recording layers, scope groups and diagnostics. An error stops the shape flow of
   the network, but compilation has already checked every field of every layer.

User mistakes never raise: they become diagnostics stamped with file, line, column and
layer name.
"""
from __future__ import annotations

from math import prod

from .analysis import Analysis, Group, LayerResult, MergeResult, Span, Totals
from .compiler import (
    BROKEN,
    COMMON_KEYS,
    MAX_LEAVES,
    Compiler,
    Composite,
    Leaf,
    Seq,
    did_you_mean,
    holds_refused,
)
from . import ignores
from .composites import COMPOSITES
from .diagnostics import CATALOGUE, ERROR, WARNING, Diagnostic, Mark, make
from .limits import MAX_INTEGER
from .layers import REGISTRY
from .layers.base import SHAPE, FieldError, RuleError, TokenIds, describe_found, fmt_shape, is_ids
from .metrics import (
    add_saved,
    AMP_DEVICES,
    SAVED_ZERO,
    effective_window,
    input_field,
    through_merge,
    through_window,
)
from .readers.located import Document, LList, LMap, no_cyclic_gc

TOP_LEVEL_KEYS = ("name", "title", "reference", "input", "blocks", "layers", "expect", "ignore")
TOTAL_KEYS = ("params", "trainable_params", "connections", "buffers", "macs", "flops", "depth", "layers", "output",
              "max_params", "max_macs", "max_flops")


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
            # `relu6` + 1 would read as `relu61`: a kind ending in a digit gets a separator
            name = f"{self.prefix}{kind}_{n}" if kind[-1:].isdigit() else f"{self.prefix}{kind}{n}"
            if name not in used and name not in reserved:
                self.counters[kind] = n
                return name

    def child(self, local: str) -> "_Scope":
        full = f"{self.prefix}{local}"
        return _Scope(full + ".", self.path + (full,))


class _Evaluator:
    def __init__(self, diagnostics, probing=False):
        self.layers: list[LayerResult] = []
        self.groups: list[Group] = []
        self.spans: list[Span] = []
        self.diagnostics = diagnostics
        self.used: set[str] = set()
        self.reported_names: set = set()
        # `expect` pins describe the spec's own input; with --input, or when probing another
        # size, they are not checked
        self.check_pins = not probing
        # explicit names of the sequence being walked: a generated `conv2` must not take the
        # name that a later layer of the same sequence was given
        self.reserved: set[str] = set()
        # Probing another input size for _suggest_inputs: no rows are kept, and the walk stops
        # at the first problem that makes the size inexact (most candidates fail early).
        self.record = not probing
        self.after_softmax = False
        self.params = self.buffers = self.macs = 0
        self.aux_params = self.aux_macs = 0
        self.trainable = self.connections = 0
        self.kv_values = 0         # values kept per token when generating (keys and values)
        self.embedding_params = 0  # token and position embeddings (Kaplan et al.'s split)
        self.token_macs = 0        # MACs of the layers that act on a token sequence [T, D]
        self.extras: dict = {}     # the kinds' further figures (LayerKind.extra), summed
        self.frozen = 0  # how many enclosing composites are `frozen: true`
        # Memory, in values for one sample (metrics.py). The state walked is
        # (shape, depth, receptive field, held): `held` marks a tensor that a branch point
        # keeps alive, so the next storing layer must not free it.
        self.activations = self.merge_activations = 0
        self.live = self.peak = 0
        # Saved for backward: every tensor's size by id (a state's fifth item), the ids saved
        # so far, the tally, and the operands of the last merge
        self.sizes: list = []
        # and its dtype under autocast: bit 1 set when it is fp32 on the CPU, bit 2 on CUDA
        # (metrics.AUTOCAST_WORDS), with a set of the ids saved so far per device, since
        # where autocast casts a tensor the copy is saved, not the tensor
        self.wide: list = []
        self.saved_ids: set = set()
        self.fresh: list = []  # the ids the last layer saved first
        self.shared: list = []  # and (id, values, dtype bits) of those an earlier layer saved
        self.amp_saved_ids: tuple = (set(), set())
        self.saved = SAVED_ZERO
        self.merge_inputs: list = []
        self.rules: dict = {}  # (id(leaf node), input shape) -> what the kind's rules give
        # the spec's `ignore` entries of the layers being walked, innermost last; what they
        # caught, with where the ignore is written; and the ignores that caught something
        self.ignoring: list = []
        self.ignored: list = []
        self.merges: list = []  # MergeResult per merge, in execution order
        self.used_ignores: set = set()
        # Named tensors (`from:` and `join`): the output state of every layer and named
        # composite, by full name, kept only when the spec reads any (``references``).
        self.references: set[str] = set()
        self.tensors: dict[str, tuple] = {}

    def report(self, code, message, mark, layer, hint="", severity=None):
        if self.record:
            diagnostic = make(code, message, mark, hint=hint, layer=layer, severity=severity)
            if self.ignoring and diagnostic.severity == WARNING:
                for ignored_code, ignore_mark in reversed(self.ignoring):
                    if ignored_code == code:
                        self.ignored.append((diagnostic, ignores.where(ignore_mark)))
                        self.used_ignores.add(ignore_mark)
                        return
            self.diagnostics.append(diagnostic)
        elif code == "window-drops-input" or (severity or CATALOGUE[code][0]) == ERROR:
            raise _NotExact

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

    def bounded(self, shape, mark, name) -> bool:
        """False (after a report) when a computed dimension passes MAX_INTEGER: every kind's
        output goes through here, so no rule can grow a size without bound (an upsample
        repeated a million times)."""
        if all(x <= MAX_INTEGER for x in shape):
            return True
        self.report("too-large", f"{name} would output a dimension beyond archcalc's limit of 10^18",
                    mark, name, hint="no real network comes near 10^18; check the sizes and repeats")
        return False

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
                and seq.items[0].name is None and seq.items[0].unit.absorbed:
            item = seq.items[0]
            self.ignoring.extend(item.ignore)
            state = self.composite(item, state, scope, absorbed=True)
            if item.ignore:
                del self.ignoring[len(self.ignoring) - len(item.ignore):]
            return state
        for name in seq.names:
            self.reserved.add(scope.prefix + name)
        for item in seq.items:
            if state is None or item is BROKEN:
                return None
            before = state
            if item.source is not None:
                if self.record:
                    read = Span("from", len(self.layers), len(self.groups))
                    read.sources = [item.source[0]]
                    self.spans.append(read)
                state = self.lookup(item.source, scope, item.name)
                if state is None:
                    return None
            self.ignoring.extend(item.ignore)
            state = self.leaf(item, state, scope) if isinstance(item, Leaf) else \
                self.composite(item, state, scope)
            if item.ignore:
                del self.ignoring[len(self.ignoring) - len(item.ignore):]
            if state is not None and isinstance(item, Composite) and not item.unit.feeds:
                state = before  # a head feeds nothing: the next entry reads what came before it
        return state

    # -- named tensors ----------------------------------------------------------------------
    def keep(self, name: str, state):
        """Remember a layer's output for later `from`/`join`; a tensor the spec reads by name
        stays alive (held) to the end of the network in the peak-memory estimate."""
        referenced = name in self.references or any(name.endswith("." + r) for r in self.references)
        if referenced:
            state = (state[0], state[1], state[2], True, state[4])
        self.tensors[name] = state
        return state

    def lookup(self, source, scope: _Scope, layer=None):
        """The state of the tensor ``source`` names: the nearest enclosing scope first, then
        the whole network; `input` is the network's input unless a layer has that name."""
        name, mark = source
        prefix = scope.prefix
        while True:
            state = self.tensors.get(prefix + name)
            if state is not None:
                return state
            if not prefix:
                break
            prefix = prefix[:-1].rpartition(".")[0]
            prefix = prefix + "." if prefix else ""
        here = f" in {scope.prefix[:-1]}" if scope.prefix else ""
        close = did_you_mean(name, [t.rpartition(".")[2] for t in self.tensors] + list(self.tensors))
        self.report("unknown-reference", f"{name!r} names no layer before this point{here}", mark, layer,
                    hint=(close + " " if close else "") + "`from` and `join` read the output of an earlier "
                         "layer or named block, by its name (or `input`)")
        return None


    def leaf(self, node: Leaf, state, scope: _Scope):
        shape, depth, field, held, tid = state
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
        key = (id(node), shape, shape.__class__)  # a TokenIds tuple equals the plain one
        rule = self.rules.get(key)
        if rule is None:
            try:
                if is_ids(shape) != kind.takes_ids:
                    raise RuleError("needs-embedding", f"{kind.name} receives the {shape[0]} token ids of "
                                    "`input: {tokens: ...}`; token ids feed a token embedding first",
                                    hint="begin with `- embedding: {vocab: V, dim: D}`") \
                        if is_ids(shape) else \
                        RuleError("needs-ids", f"{kind.name} takes the token ids of `input: {{tokens: T}}`, "
                                  f"but receives {fmt_shape(shape)}",
                                  hint="an embedding reads token ids: write the input as `input: {tokens: T}`; "
                                       "features need no embedding")
                out = kind.shape(shape, fields)
            except RuleError as exc:
                mark = node.field_marks.get(exc.field, node.mark) if exc.field else node.mark
                self.report(exc.code, exc.message, mark, name, hint=exc.hint)
                return None
            if not self.bounded(out, node.mark, name):
                return None
            rule = self.rules[key] = (
                out, kind.params(shape, out, fields), kind.buffers(shape, out, fields),
                kind.macs(shape, out, fields),
                kind.trainable(shape, out, fields) if kind.trainable is not None else None,
                kind.connections(shape, out, fields) if kind.connections is not None else None,
                tuple(kind.warnings(shape, out, fields)) if kind.warnings is not None else (),
                prod(out) if kind.stores else 0,
                effective_window(kind.window(shape, fields)) if kind.window is not None else (),
                kind.kv_cache(shape, out, fields) if kind.kv_cache is not None else 0,
                kind.extra(shape, out, fields) if kind.extra is not None else None,
                kind.saves(shape, out, fields) if callable(kind.saves) else kind.saves)
        out, params, buffers, macs, trainable, connections, warnings, stored, axes, kv, extra, saves = rule
        if connections is None:
            connections = macs
        frozen = node.frozen or self.frozen > 0
        if frozen:
            trainable = 0
        elif trainable is None:
            trainable = params
        if kind.weighted:
            depth += 1
        for code, message, hint in warnings:
            self.report(code, message, node.mark, name, hint=hint)
        self.after_softmax = kind.name == "softmax" or fields.get("activation") == "softmax"
        if node.expect is not None:
            self.check_expect(node, out, name)
        self.params += params
        self.trainable += trainable
        self.connections += connections
        self.buffers += buffers
        self.macs += macs
        if kv:
            self.kv_values += kv
        if len(shape) == 2:  # on a token sequence: MACs that grow with T
            self.token_macs += macs
        if extra:
            extras = self.extras
            for key, value in extra.items():
                extras[key] = extras.get(key, 0) + value
        if kind.group == "embedding":
            self.embedding_params += params
        if stored:
            self.activations += stored
            live = self.live + stored
            if live > self.peak:
                self.peak = live
            self.live = live if held else live - prod(shape)
            held = False
        if field is not None and axes:
            field = through_window(field, axes)
        rules = kind.autocast
        if saves and "view" in saves:
            out_tid = tid
        else:
            w = self.wide[tid]
            out_tid = self.tensor(out, _out_wide(rules[0], w & 1, 1) | _out_wide(rules[1], w & 2, 2))
        fused = None
        if kind.fused is not None and self.record:  # before the save: the same tensors saved so far
            math = self.save(saves, tid, out_tid, out, rules, False, shape)

            def more(rule):  # signed: what the fused kernel saves more than the math path
                instead = self.save(rule(shape, out, fields), tid, out_tid, out, rules, False, shape)
                return tuple(a - b for a, b in zip(instead, math))

            first, second = kind.fused  # per device (AMP_DEVICES)
            one = more(first)
            fused = (one, one if second is first else more(second))
        saved = self.save(saves, tid, out_tid, out, rules, True, shape) if saves else SAVED_ZERO
        if self.record:
            mark = node.mark
            self.layers.append(LayerResult(name, kind.name, shape, out, params, buffers, macs, fields,
                                           mark.line, mark.column, depth, scope.path, stored, field,
                                           trainable, frozen, connections))
            recorded = self.layers[-1]
            if saved is not SAVED_ZERO:
                recorded.saved = saved
                if self.fresh:
                    recorded.saved_tensors = tuple(self.fresh)
            if saves and self.shared:
                recorded.shared_tensors = tuple(self.shared)
            if kind.casts is not None:
                recorded.casts = kind.casts(shape, out, fields)
                if not tid and kind.input_casts is not None:  # the network input needs no gradient
                    recorded.casts -= kind.input_casts(shape, out, fields)
            if fused is not None:
                recorded.fused = fused
            if kind.once_macs is not None:
                recorded.once_macs = kind.once_macs(shape, out, fields)
        else:
            self.layers.append(None)
        if self.references:
            return self.keep(name, (out, depth, field, held, out_tid))
        return (out, depth, field, held, out_tid)

    # -- what autograd saves for backward (metrics.py, SAVE_WORDS) -----------------------------
    def tensor(self, shape, wide: int = 0) -> int:
        """A new tensor's id; its size (values per sample) is kept for the saves, and which
        devices' autocast make it fp32 (``wide``: bit 1 the CPU, bit 2 CUDA)."""
        sizes = self.sizes
        sizes.append(prod(shape))
        self.wide.append(wide)
        return len(sizes) - 1

    def save(self, words, tid, out_tid, out, rules=(None, None), record: bool = True, inp=None):
        """Tally what a layer saves that no earlier layer saved (a tensor is saved once; the
        network input, id 0, is the ledger's `input`, not a saved activation); then the same
        under autocast on each device, each tensor in the dtype autocast gives it there.
        ``record`` False: only the tally, the tensors not marked as saved. ``inp``: the
        layer's input shape, when it is a view of a larger tensor (a token picked)."""
        act = idx = mask = rows = chans = fixed = 0
        saved_ids, sizes = self.saved_ids, self.sizes
        if record:
            here, mark = _NOTHING, saved_ids.add
        else:
            here = set()
            mark = here.add
        fresh, shared = [], []
        for word in words:
            if word == "input" or word == "output":
                t = tid if word == "input" else out_tid
                if t and t not in saved_ids and t not in here:
                    mark(t)
                    fresh.append(t)
                    act += sizes[t]
                elif t and record and t not in fresh:
                    shared.append((t, sizes[t], self.wide[t]))
            elif word == "pre":
                act += prod(out)
            elif word == "indices":
                idx += prod(out)
            elif word == "mask":
                mask += prod(out)
            elif word == "rows":
                rows += 2 * prod(out[:-1])
            elif word == "channels":
                chans += 2 * out[-1]
            elif word == "view":
                continue
            elif word[0] == "int64":  # ("int64", values): ids made inside the layer
                idx += word[1]
            elif word[0] == "fixed":  # ("fixed", bytes): made inside, not per sample
                fixed += word[1]
            elif word[0] == "fp32":  # ("fp32", values): made inside, fp32 in every setting
                rows += word[1]
            elif word[0] == "once":  # ("once", values[, devices]): made once per pass, fp32 here
                fixed += 4 * word[1]
            elif word[0] == "amp":  # made only under autocast
                continue
            else:  # ("new", values) or ("noamp", values): tensors made inside the layer
                act += word[1]
        cpu, cpu_fixed = self.amp_save(words, tid, out_tid, out, rules[0], 0, record, inp)
        cuda, cuda_fixed = self.amp_save(words, tid, out_tid, out, rules[1], 1, record, inp)
        tally = (act, idx, mask, rows, chans, fixed, cpu, cuda, cpu_fixed, cuda_fixed)
        if record:
            self.saved = add_saved(self.saved, tally)
            self.fresh, self.shared = fresh, shared
        return tally

    def amp_save(self, words, tid, out_tid, out, rule, device: int, record: bool = True, inp=None) -> tuple:
        """The bytes a layer saves under autocast on one device (0 the CPU, 1 CUDA;
        metrics.AUTOCAST_WORDS), 16-bit values 2 bytes, fp32 ones 4: per sample, and once
        whatever the batch."""
        bit = 1 << device
        sizes, wide, saved_ids = self.sizes, self.wide, self.amp_saved_ids[device]
        if record:
            here, mark = _NOTHING, saved_ids.add
        else:
            here = set()
            mark = here.add
        wide_in = wide[tid] & bit
        made = 4 if rule == "fp32" or rule == "upcast" or (rule != "low" and wide_in) else 2  # computed in
        total = fixed = 0
        for word in words:
            if word == "input":
                if rule == "low" and wide_in or (rule == "fp32" or rule == "upcast") and not wide_in:
                    # autocast's cast copy, made for this layer alone, of what the layer reads
                    total += made * (sizes[tid] if inp is None else prod(inp))
                elif tid and tid not in saved_ids and tid not in here:
                    mark(tid)
                    total += (4 if wide_in else 2) * sizes[tid]
            elif word == "output":
                if out_tid and out_tid not in saved_ids and out_tid not in here:
                    mark(out_tid)
                    total += (4 if wide[out_tid] & bit else 2) * sizes[out_tid]
            elif word == "pre":
                total += (4 if wide[out_tid] & bit else 2) * prod(out)
            elif word == "indices":
                total += 8 * prod(out)
            elif word == "mask":  # the CPU's in the layer's dtype, CUDA's a bool
                total += (made if device == 0 else 1) * prod(out)
            elif word == "rows":
                total += 8 * prod(out[:-1])
            elif word == "channels" or word == "view":
                continue
            elif word[0] == "fixed":
                fixed += word[1]
            elif word[0] == "once":
                fixed += (4 if len(word) > 2 and AMP_DEVICES[device] in word[2] else made) * word[1]
            elif word[0] == "int64":
                total += 8 * word[1]
            elif word[0] == "fp32":
                total += 4 * word[1]
            elif word[0] == "noamp":  # made only without autocast
                continue
            else:  # ("new" or "amp", values[, the devices where they are fp32])
                total += (4 if len(word) > 2 and AMP_DEVICES[device] in word[2] else made) * word[1]
        return total, fixed

    def save_operands(self, tids):
        """What a `mul` merge saves: both operands, each tensor once. The ids it saves first
        and (id, values, dtype bits) of those an earlier layer saved go to ``fresh`` and
        ``shared``, as a layer's (for `--checkpoint`)."""
        act = 0
        fresh, shared = [], []
        for t in tids:
            if t and t not in self.saved_ids:
                self.saved_ids.add(t)
                fresh.append(t)
                act += self.sizes[t]
            elif t and t not in fresh:
                shared.append((t, self.sizes[t], self.wide[t]))
        amp = [0, 0]
        for device in (0, 1):
            saved_ids, bit = self.amp_saved_ids[device], 1 << device
            for t in tids:
                if t and t not in saved_ids:
                    saved_ids.add(t)
                    amp[device] += (4 if self.wide[t] & bit else 2) * self.sizes[t]
        tally = (act, 0, 0, 0, 0, 0, amp[0], amp[1], 0, 0)
        self.saved = add_saved(self.saved, tally)
        self.fresh, self.shared = fresh, shared
        return tally

    def open_group(self, scope: _Scope, kind: str, state, module: bool = True):
        tid = state[4]
        group = Group(scope.prefix[:-1], kind, len(scope.path) - 1, len(self.layers), input=state[0],
                      tensor=(tid, self.sizes[tid], self.wide[tid]), module=module)
        if self.record:
            self.groups.append(group)
        return group

    def composite(self, node: Composite, state, scope: _Scope, absorbed=False):
        """What every composite shares (its scope and group, its span, `frozen`, `expect`,
        keeping its output for `from`); its unit's ``walk`` rule does the rest."""
        kind, unit = node.kind, node.unit
        if absorbed:
            inner = scope
            group = None
        elif node.name is not None:
            full = self.unique(scope.prefix + node.name, node.mark)
            inner = _Scope(full + ".", scope.path + (full,))
            group = self.open_group(inner, kind, state, unit.module)
        elif not node.scoped:
            # an unnamed repeat or residual is sugar, and a parallel may say `scope: false`
            inner, group = scope, None
        else:
            local = scope.generated(kind, self.used, self.reserved)[len(scope.prefix):]
            self.used.add(scope.prefix + local)
            inner = scope.child(local)
            group = self.open_group(inner, kind, state, unit.module)
        span = None
        if self.record and unit.span:
            span = Span(kind, len(self.layers), len(self.groups), aux=not unit.feeds)
            span.times = node.times
            self.spans.append(span)

        self.frozen += node.frozen
        out, group = unit.walk(self, node, state, scope, inner, span, group)
        self.frozen -= node.frozen
        if group is not None:
            group.end, group.output = len(self.layers), out and out[0]
        if span is not None:
            span.end, span.output = len(self.layers), out and out[0]
            if node.times == 1:
                span.first_end = span.end
        if out is not None and node.expect is not None and unit.feeds:  # a head checks its own
            self.check_expect(node, out[0], node.name or kind)
        if out is not None and self.references and group is not None:
            out = self.keep(inner.prefix[:-1], out)
        return out

    def branches(self, node: Composite, state, scope: _Scope, span=None):
        outs = []
        if span is not None:
            span.merge, span.branches = node.merge, []
        shared = (state[0], state[1], state[2], True, state[4])  # the input stays alive until the merge
        slices = self.channel_slices(node, state[0], scope)
        if slices is False:
            return None
        for i, (branch, local) in enumerate(zip(node.branches, node.branch_names)):
            self.after_softmax = False
            if span is not None:
                span.branches.append((len(self.layers), len(self.layers)))
            branch_state = shared
            if slices and slices[i] is not None:
                # a view of the input's channels [start, stop): no copy, nothing stored
                start, stop = slices[i]
                branch_state = (state[0][:-1] + (stop - start,), state[1], state[2], True, state[4])
            if not branch.items:
                outs.append(branch_state)  # an empty branch is the identity (of its slice)
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
            out = self.seq(branch, branch_state, sub)
            if span is not None:
                span.branches[-1] = (span.branches[-1][0], len(self.layers))
            if out is None:
                return None
            outs.append(out)
        labels = [local or node.unit.branch_label or f"branch{i}" for i, local in enumerate(node.branch_names, 1)]
        return self.merged(node, self.combine(node, outs, labels, scope.prefix[:-1] or node.kind, state),
                           scope)

    def merged(self, node: Composite, out, scope: _Scope):
        """Record where a merge happens and what it makes, for the table's merge rows."""
        if out is not None and self.record:
            saved = SAVED_ZERO
            if node.merge == "mul":  # the product's backward needs both operands
                saved = self.save_operands(self.merge_inputs)
            self.merges.append(MergeResult(len(self.layers), node.merge, out[0], scope.path, saved))
            if node.merge == "mul":
                self.merges[-1].saved_tensors = tuple(self.fresh)
                self.merges[-1].shared_tensors = tuple(self.shared)
        elif out is not None and node.merge == "mul":
            self.save_operands(self.merge_inputs)
        return out

    def combine(self, node: Composite, outs, labels, where, state):
        """Merge branch (or joined) outputs by ``node.merge``; None after a located error."""
        shapes = [o[0] for o in outs]
        depth = max(o[1] for o in outs)
        if node.merge in ("add", "mul"):
            return self.elementwise(node, shapes, labels, where, depth, state, outs)
        if any(len(s) != len(shapes[0]) for s in shapes) or \
                (len(shapes[0]) == 3 and any(s[:2] != shapes[0][:2] for s in shapes)):
            desc = ", ".join(f"{label} {fmt_shape(s)}" for label, s in zip(labels, shapes))
            self.report("merge-mismatch", f"{where}: cannot concatenate {desc}: concat needs equal "
                        "spatial sizes", node.mark, where,
                        hint="give every branch the same stride and padding ('same' keeps sizes)")
            return None
        channels = sum(s[-1] for s in shapes)
        if not self.bounded((channels,), node.mark, where):
            return None
        return self.merge(shapes[0][:-1] + (channels,), depth, state, outs)

    def elementwise(self, node: Composite, shapes, labels, where, depth, state, outs):
        """`add` and `mul` broadcast as PyTorch does: per axis the sizes are equal or one of
        them is 1 (a 1×1×C gate scales an H×W×C volume); the ranks must agree."""
        verb = "add" if node.merge == "add" else "multiply"
        result = shapes[0]
        for label, shape in zip(labels[1:], shapes[1:]):
            merged = broadcast_shapes(result, shape)
            if merged is None:
                first = labels[0] if result == shapes[0] else "the branches before it"
                if node.merge == "add" and len(shape) == len(result):
                    hint = _projection_hint(state[0], result, shape, label, node.unit.shortcut)
                elif len(shape) != len(result):
                    hint = ("a dense layer outputs a flat vector; a 1×1 conv keeps the 1×1×C volume "
                            "that broadcasts over H×W×C")
                else:
                    hint = "per axis the sizes must be equal, or one of them 1 (a 1×1×C gate scales H×W×C)"
                self.report("merge-mismatch",
                            f"{where}: cannot {verb} {first} ({fmt_shape(result)}) and {label} "
                            f"({fmt_shape(shape)}): {node.merge} needs shapes that are equal or "
                            "broadcast (per axis equal sizes or a 1)", node.mark, where, hint=hint)
                return None
            result = merged
        return self.merge(result, depth, state, outs)

    def channel_slices(self, node: Composite, shape, scope: _Scope):
        """Per branch (start, stop) or None; None for no split; False after an error."""
        if node.slices is None and node.split is None:
            return None
        where = scope.prefix[:-1] or node.kind
        channels = shape[-1]
        axis = "channels" if len(shape) == 3 else "features"
        if node.split is not None:
            value, mark = node.split
            n = len(node.branches)
            if value == "equal":
                if channels % n:
                    self.report("split-mismatch", f"{where}: `split: equal` cannot divide {channels} input "
                                f"{axis} among {n} branches", mark, where,
                                hint=f"{channels} = {n}·{channels // n} + {channels % n}: list the counts "
                                     "instead, e.g. `split: [" + ", ".join(
                                         str(channels // n + (i < channels % n)) for i in range(n)) + "]`")
                    return False
                sizes = (channels // n,) * n
            else:
                sizes = value
                if sum(sizes) != channels:
                    self.report("split-mismatch", f"{where}: `split` counts {' + '.join(map(str, sizes))} = "
                                f"{sum(sizes)} {axis}, but the input has {channels}", mark, where,
                                hint="the counts must add up to the input's channels")
                    return False
            slices, start = [], 0
            for size in sizes:
                slices.append((start, start + size))
                start += size
            return slices
        slices = []
        for piece in node.slices:
            if piece is None:
                slices.append(None)
                continue
            (start, stop), mark = piece
            if stop > channels:
                self.report("split-mismatch", f"{where}: branch `channels: [{start}, {stop}]` does not fit the "
                            f"input's {channels} {axis} (indices 0 to {channels - 1})", mark, where,
                            hint=f"the stop is exclusive and at most {channels}")
                return False
            slices.append((start, stop))
        return slices

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
        self.merge_inputs = [out[4] for out in outs]
        wide = 0
        for out in outs:  # type promotion: fp32 if any operand is (torch.cat: autocast's promote list)
            wide |= self.wide[out[4]]
        return (shape, depth, through_merge([out[2] for out in outs]), False, self.tensor(shape, wide))


_NOTHING = frozenset()  # the ids a recording save has marked besides the saved ones: none


def _out_wide(rule, wide_in: int, bit: int) -> int:
    """``bit`` when a layer with autocast ``rule`` (metrics.AUTOCAST_WORDS) makes an fp32
    output on that device, given whether its input is fp32 there."""
    if rule is None or rule == "upcast":
        return wide_in
    return 0 if rule == "low" else bit


def broadcast_shapes(a, b):
    """The broadcast of two shapes of equal rank (per axis equal, or one of them 1), or None."""
    if len(a) != len(b):
        return None
    out = []
    for x, y in zip(a, b):
        if x != y and x != 1 and y != 1:
            return None
        out.append(x if y == 1 else y)
    return tuple(out)


def _projection_hint(inp, main, other, label, shortcut=None) -> str:
    """Suggest the 1×1 projection that makes an add's identity branch match the main one."""
    if inp is None or len(inp) != 3 or len(main) != 3:
        return "make the branches produce equal shapes"
    if other != inp:
        return f"make {label} produce {fmt_shape(main)}"
    stride = inp[0] // main[0] if main[0] and inp[0] % main[0] == 0 else None
    if stride:
        s = f", stride: {stride}" if stride > 1 else ""
        projection = f"[conv: {{filters: {main[2]}, kernel: 1{s}}}, batchnorm]"
        where = f"`{shortcut}: {projection}`" if shortcut else f"{projection} as {label}"
        return f"add a projection: {where} turns {fmt_shape(inp)} into {fmt_shape(main)}"
    return f"project {label} to {fmt_shape(main)}"


# ------------------------------------------------------------------------------ entry point
# Loader refusals that leave a value empty: what is later said about that value is an echo.
_REFUSALS = ("forbidden-tag", "number-too-large", "bad-value")  # what the loader refuses


def analyze(doc: Document, input_shape=None, seq: int | None = None, count_as: str | None = None) -> Analysis:
    """Analyse a loaded spec. Never raises for a user's mistake. ``seq`` (``--seq``) sets
    the length T of a token input (``input: {tokens: T}`` or ``[T, D]``); a spec with another
    input ignores it (the commands refuse it there, see app.analyse_spec). ``count_as``
    (``--count-as``) reports MACs under another tool's convention (archcalc/conventions.py),
    after the spec's own pins and budgets were checked against archcalc's count."""
    with no_cyclic_gc():
        analysis = _analyze(doc, input_shape, seq)
    refused = {(d.line, d.column) for d in doc.diagnostics if d.code in _REFUSALS}
    if refused:
        # A refused value was reported once, where it stands; the follow-on complaints about
        # the same place ("expects a positive integer, found nothing") would only repeat it.
        loader = set(map(id, doc.diagnostics))
        analysis.diagnostics[:] = [d for d in analysis.diagnostics
                                   if id(d) in loader or (d.line, d.column) not in refused]
    if count_as is not None:
        from .conventions import apply

        apply(analysis, count_as)
    return analysis


def _analyze(doc: Document, input_shape, seq=None) -> Analysis:
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
                                    hint=(did_you_mean(key, TOP_LEVEL_KEYS) + " ").lstrip()
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
        if len(shape) == 1 and isinstance(root.get("input"), LMap):  # --input N on token ids: N ids
            shape = TokenIds(shape)
    elif "input" not in root:
        diagnostics.append(make("missing-field", "the spec has no `input`", top_mark,
                                hint="add `input: [224, 224, 3]` ([H, W, C]) or `input: [N]`"))
    elif isinstance(root["input"], LMap):
        shape = _token_input(root["input"], root.value_marks["input"], diagnostics)
    else:
        try:
            shape = SHAPE.check(root["input"])
        except FieldError as exc:
            if not holds_refused(root["input"]):
                diagnostics.append(_bad_input(root["input"], root.value_marks["input"], exc))
        else:
            problem = _channels_first(shape, root.value_marks["input"])
            if problem is not None:
                diagnostics.append(problem)
    pinned_input = input_shape is None
    if seq is not None and shape is not None and (is_ids(shape) or len(shape) == 2) and seq != shape[0]:
        shape = TokenIds((seq,)) if is_ids(shape) else (seq, shape[1])
        pinned_input = False  # `expect` pins describe the spec's own length
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

    file_ignores = ignores.parse(root["ignore"], root.value_marks["ignore"],
                                 getattr(root["ignore"], "item_marks", ()), diagnostics) \
        if "ignore" in root else ()
    compiler = Compiler(blocks, diagnostics)
    if "layers" not in root:
        diagnostics.append(make("missing-field", "the spec has no `layers`", top_mark,
                                hint="add `layers:` with one entry per layer"))
        return analysis
    program = compiler.layer_list(root["layers"], root.value_marks["layers"], {}, ())
    analysis.program, analysis.blocks = program, blocks
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
    evaluator.check_pins = pinned_input
    evaluator.references = compiler.references
    if shape is not None:
        evaluator.live = evaluator.peak = prod(shape)
        start = (shape, 0, input_field(shape), False, evaluator.tensor(shape, 3))  # an fp32 input
        if compiler.references:
            start = evaluator.keep("input", start)
        out = evaluator.seq(program, start, _Scope("", ()))
    else:
        out = None
    analysis.layers = evaluator.layers
    analysis.groups = evaluator.groups
    analysis.spans = evaluator.spans
    analysis.output = out[0] if out else None
    analysis.totals = Totals(params=evaluator.params, buffers=evaluator.buffers, macs=evaluator.macs,
                             trainable_params=evaluator.trainable, connections=evaluator.connections,
                             depth=out[1] if out else max((l.depth for l in evaluator.layers), default=0),
                             layers=len(evaluator.layers), activations=evaluator.activations,
                             merge_activations=evaluator.merge_activations,
                             peak_activations=evaluator.peak, input_values=prod(shape) if shape else 0)
    analysis.totals.kv_values = evaluator.kv_values
    analysis.totals.saved = evaluator.saved
    analysis.totals.embedding_params = evaluator.embedding_params
    analysis.totals.token_macs = evaluator.token_macs
    analysis.totals.extras = evaluator.extras
    if "inactive_params" in evaluator.extras:  # a mixture of experts: what one token uses
        analysis.totals.active_params = evaluator.params - evaluator.extras["inactive_params"]
    if shape is not None and (is_ids(shape) or len(shape) == 2):
        analysis.totals.seq = shape[0]
    if out is not None and evaluator.record:
        _check_references(analysis, diagnostics)
    analysis.totals.aux_params, analysis.totals.aux_macs = evaluator.aux_params, evaluator.aux_macs
    expect = root.get("expect")
    if isinstance(expect, LMap) and "connections" in expect:
        analysis.totals.show_connections = True  # the spec has a connections figure
    if out is not None:
        _check_totals(root, analysis, diagnostics, pinned=pinned_input)
    if any(d.code == "window-drops-input" for d in diagnostics) and input_shape is None:
        _suggest_inputs(program, shape, analysis, diagnostics, compiler.references)
    analysis.ignored = evaluator.ignored
    analysis.merges = evaluator.merges
    _file_ignores(file_ignores, compiler.ignores, analysis, evaluator.used_ignores,
                  complete=out is not None)
    return analysis


def _token_input(value: LMap, mark, diagnostics):
    """`input: {tokens: T}`: T token ids (an integer each), the input of a token embedding."""
    for key in value:
        if key != "tokens":
            diagnostics.append(make("bad-input", f"unknown key {key!r} in `input`", value.key_marks[key],
                                    hint="a token input is `input: {tokens: T}`, T the sequence length "
                                         "(`--seq` overrides it)"))
            return None
    if "tokens" not in value:
        diagnostics.append(make("bad-input", "`input` as a mapping is a token input and needs `tokens`",
                                mark, hint="write `input: {tokens: 128}` (128 token ids), or a list "
                                           "`[H, W, C]`, `[T, D]` or `[N]`"))
        return None
    t = value["tokens"]
    if isinstance(t, int) and not isinstance(t, bool) and 1 <= t <= MAX_INTEGER:
        return TokenIds((t,))
    if not holds_refused(t):
        diagnostics.append(make("bad-input", f"`input: {{tokens: ...}}` expects a positive integer (the "
                                f"sequence length), found {describe_found(t)}", value.value_marks["tokens"],
                                hint="e.g. `input: {tokens: 128}`"))
    return None


def _check_references(analysis: Analysis, diagnostics):
    """Fields that name an earlier layer (a tied head's embedding), checked once every layer
    is analysed: the named layer exists, comes first, and fits (the kind's check_reference)."""
    by_name = None
    for i, layer in enumerate(analysis.layers):
        kind = REGISTRY.get(layer.kind)
        if kind is None or kind.reference is None or layer.fields.get(kind.reference) is None:
            continue
        if by_name is None:
            by_name = {other.name: j for j, other in enumerate(analysis.layers)}
        target = layer.fields[kind.reference]
        scope = layer.name.rpartition(".")[0]
        j = by_name.get(f"{scope}.{target}" if scope else target, by_name.get(target))
        mark = Mark(analysis.file, layer.line, layer.column)
        if j is None or j >= i:
            where = "no layer" if j is None else "a later layer"
            diagnostics.append(make("bad-reference", f"{layer.name}: `{kind.reference}: {target}` names "
                                    f"{where} {target!r}", mark, layer=layer.name,
                                    hint=f"name the earlier layer it shares weights with (e.g. "
                                         f"`{kind.reference}: wte`)"))
            continue
        problem = kind.check_reference(layer, analysis.layers[j])
        if problem is not None:
            code, message, hint = problem
            diagnostics.append(make(code, f"{layer.name}: {message}", mark, layer=layer.name, hint=hint))


def _file_ignores(file_ignores, layer_ignores, analysis: Analysis, used: set, complete: bool):
    """Apply the spec's top-level `ignore`, then report the spec's ignores that caught nothing
    (only for a network walked to its end: an early error hides what later layers would say)."""
    diagnostics = analysis.diagnostics
    if file_ignores:
        codes = {}
        for code, mark in file_ignores:
            codes.setdefault(code, mark)
        kept = []
        for d in diagnostics:
            mark = codes.get(d.code) if d.severity == WARNING else None
            if mark is None:
                kept.append(d)
            else:
                analysis.ignored.append((d, ignores.where(mark)))
                used.add(mark)
        diagnostics[:] = kept
    if not complete or analysis.errors:
        return
    for code, mark in dict.fromkeys(file_ignores + tuple(layer_ignores)):
        if mark not in used:
            diagnostics.append(make("unused-ignore", f"`ignore: {code}` ignores nothing: no {code} "
                                    "warning arises where it applies", mark,
                                    hint="remove it, or move it to the layer that has the warning"))


def _bad_input(value, mark, exc) -> Diagnostic:
    """`bad-input`, at the item that is wrong when the list has a plausible length."""
    from .compiler import sizes_written_as_text

    example = "e.g. `input: [224, 224, 3]` or `input: [784]`"
    if isinstance(value, LList) and len(value) in (1, 3):
        for i, (item, item_mark) in enumerate(zip(value, value.item_marks)):
            if isinstance(item, int) and not isinstance(item, bool) and item >= 1:
                continue
            hint = "sizes are positive whole numbers"
            number = _as_number(item)
            # a finite whole number of a plausible size ("1e400" as text is infinite; 1e300
            # is whole but no size)
            if number is not None and 1 <= number < 1e18 and number == int(number):
                hint = f"write {int(number)}" + (": YAML reads it as text" if isinstance(item, str) else "")
            return make("bad-input", f"`input` item {i + 1} expects a positive integer, found "
                        f"{describe_found(item)}", item_mark, hint=hint)
    listed = sizes_written_as_text(value)
    return make("bad-input", f"`input` expects {exc.expected}, found {describe_found(exc.found)}", mark,
                hint=f"write a list: `input: {listed}`" if listed else example)


def _as_number(item):
    if isinstance(item, bool):
        return None
    if isinstance(item, (int, float)):
        return item
    if isinstance(item, str):
        try:
            return float(item.replace("_", ""))
        except ValueError:
            return None
    return None


def _channels_first(shape, mark) -> Diagnostic | None:
    """[3, 224, 224] is a PyTorch user's (C, H, W): read channels-last it is a 3-row image with
    224 channels. Warn when the first axis is a typical channel count (1 to 4) and the other
    two look like image sides, not channels."""
    if len(shape) != 3:
        return None
    c, h, w = shape
    if c <= 4 and h >= 8 and w > 4 and h >= 4 * c:
        return make("channels-first-input", f"`input: [{c}, {h}, {w}]` is read channels-last as "
                    f"{c}×{h} pixels with {w} channels; it looks like PyTorch's channels-first "
                    f"(C, H, W)", mark, hint=f"write `input: [{h}, {w}, {c}]` ([H, W, C]), or ignore "
                    "this warning if the input really is that shape")
    return None


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
        return value if -MAX_INTEGER <= value <= MAX_INTEGER else None
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_INTEGER:
        return int(value)
    if isinstance(value, str):
        text = value.strip().replace("_", "").replace(",", "").lower()
        unit = text[-1:] if text[-1:] in _UNITS and text[-1:] else ""
        number = text[: -1] if unit else text
        if len(number) > 40:  # no count is written with more characters; Decimal would take any
            return None
        try:
            from decimal import Decimal, InvalidOperation

            amount = Decimal(number)
            # 'inf', 'nan' and '1e999999' are no counts; bounded before anything multiplies them
            if not amount.is_finite() or abs(amount) > MAX_INTEGER:
                return None
            amount *= _UNITS[unit]
        except (InvalidOperation, ValueError, ArithmeticError):
            return None
        if abs(amount) <= MAX_INTEGER and amount == amount.to_integral_value():
            return int(amount)
    return None


def budget_problem(totals: dict, total: str, limit: int, stated: str, mark) -> Diagnostic | None:
    """`budget-exceeded` when ``totals[total]`` is over ``limit``; ``stated`` is how the user
    wrote the budget (`max_params: 5M` in a spec, `--max-params 5M` on the command line)."""
    if totals[total] <= limit:
        return None
    return make("budget-exceeded", f"{total} {totals[total]:,} exceed the budget `{stated}` ({limit:,}) "
                f"by {totals[total] - limit:,}", mark, hint="shrink the network or raise the budget")


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
                                    hint=(did_you_mean(key, TOTAL_KEYS) + " ").lstrip() + "accepted: "
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
            problem = budget_problem(totals, key[4:], number, f"{key}: {want}", mark)
            if problem is not None:
                diagnostics.append(problem)
            continue
        if pinned and totals[key] != number:
            diff = totals[key] - number
            diagnostics.append(make("total-mismatch", f"{key} total is {totals[key]:,}, but `expect.{key}` "
                                    f"says {number:,} ({'+' if diff > 0 else ''}{diff:,})", mark,
                                    hint="look at the layers whose numbers differ from the reference"))


def _suggest_inputs(program: Seq, shape, analysis: Analysis, diagnostics, references=frozenset()):
    """Add the nearest exact input sizes to every window warning's hint."""
    if shape is None or len(shape) != 3 or program.size > 20_000:
        return
    h, w, c = shape

    def exact(candidate) -> bool:
        try:
            probe = _Evaluator([], probing=True)
            probe.references = references
            start = (candidate, 0, None, False, probe.tensor(candidate))
            if references:
                start = probe.keep("input", start)
            return probe.seq(program, start, _Scope("", ())) is not None
        except _NotExact:
            return False

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


class _NotExact(Exception):
    """Raised by a probing walk at the first window that drops input, or the first error."""
