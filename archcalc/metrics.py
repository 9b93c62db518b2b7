"""Memory and receptive-field arithmetic: the conventions, in one place. Pure integers.

Activation memory
-----------------
A layer *stores* its output when it is a convolution, a dense layer, a pooling layer or a
normalisation (batchnorm, lrn, …): the kinds whose ``group`` is in ``STORED_GROUPS``, unless
a kind says otherwise (``LayerKind.stores``: channel shuffle writes a permuted copy). The
merge of a ``parallel``/``residual`` (concat, add or mul) stores its output too. Element-wise
activations (relu, tanh, … — frameworks run them in place), dropout (the identity at
inference), flatten (a view) and identity store nothing: their ``activations`` is 0.

* ``activations`` (a layer): the values its output stores, times the batch.
* ``Totals.activations``: the sum over layers plus the merge outputs — the forward pass's
  activations. VGG-16 at 224: 13,547,520 (convs) + 1,530,368 (pools) + 9,192 (dense).
* ``Totals.peak_activations``: the most values alive at once during inference, walking the
  layers in execution order: the network input is alive at the start; a storing layer needs
  its input and its output at the same time, after which the input is freed unless a branch
  point still holds it (the input of a ``parallel``/``residual`` stays alive until the
  merge; every branch's output stays alive until the merge).
* Training (``ledger``, ``training_bytes``): what autograd saves for backward, as every
  kind declares it (``LayerKind.saves``, SAVE_WORDS below), each tensor once; the weights
  (params and buffers), one gradient per trainable parameter, the optimizer state per
  trainable parameter (SGD-momentum one value, Adam and AdamW two), the input, the backward
  transient and a fixed CUDA workspace; the peak walked through the backward pass. Frozen
  layers and fixed parameters (``frozen: true``, rbf) have weights but no gradient and no
  optimizer state. docs/metrics.md, "Training memory: the ledger".

``--batch N`` multiplies activations, MACs (hence FLOPs) and the peak by N — every tensor of
a batch grows by the same factor — and leaves parameters alone. ``--dtype`` sets the bytes
per value for every byte figure.

Receptive field
---------------
Per spatial axis, for a window of effective kernel e = d·(k − 1) + 1, stride s and padding
p_begin before the data, from the receptive field (r, j, a) of its input:

    r_out = r_in + (e − 1)·j_in      size
    j_out = j_in·s                   jump (effective stride)
    a_out = a_in − p_begin·j_in      start: input coordinate of output position 0's first pixel

starting from (1, 1, 0) at the input. Per-position layers (activations, batchnorm, dense on
a flat vector or at every position of a volume) keep their input's field. Global pooling and flatten are one window over the
whole volume (e = s = its size), so they and everything after them see the whole input.
A merge takes the union of its branches' fields: the earliest start and the latest end (for
branches with the same jump, as in every real network, this is exact; with different jumps
the larger one is kept). Networks with a flat input have no receptive field (None).
"""
from __future__ import annotations

STORED_GROUPS = frozenset(("conv", "dense", "pool", "norm", "attention", "embedding"))

DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}

# Optimizer state kept per parameter, in values (the contract's keys first; AdamW keeps what
# Adam keeps).
OPTIMIZER_STATE = {"sgd": 0, "sgd_momentum": 1, "adam": 2, "adamw": 2}
CONTRACT_OPTIMIZERS = ("sgd", "sgd_momentum", "adam")
AMP_CHOICES = ("bf16", "fp16")
# Where a dropout mask is made: "cuda", the fused kernel's bool mask (1 byte a value); "cpu",
# PyTorch's unfused dropout, a mask in the activation dtype (the CPU referee's device).
DEVICES = ("cuda", "cpu")
# The attention kernel the ledger counts: "math", PyTorch's unfused path (its CPU's; every
# h·T·T probability kept), "fused", CUDA's flash or memory-efficient kernel (LayerKind.fused;
# the ledger's ``device`` "cpu": PyTorch's CPU flash kernel, which saves one tensor less).
ATTENTION_CHOICES = ("math", "fused")

# What autograd saves for the backward pass (docs/metrics.md, "Training memory"). A kind
# declares it as data (``LayerKind.saves``): a tuple of these words, or a function of
# (inp, out, fields) that returns one.
#   input     the layer's input tensor (shared with whoever else saves that tensor)
#   output    the layer's output tensor
#   pre       the pre-activation output of a layer with a fused `activation` whose backward
#             needs its input (silu, gelu, relu6, …)
#   indices   int64 indices, one per output value (max pooling)
#   mask      the dropout mask, one per output value: bool on CUDA (the fused kernel), the
#             activation dtype on the CPU (ledger's ``device``)
#   rows      two fp32 values (mean, rstd) per row of the output (layer norm)
#   channels  two fp32 values (mean, invstd) per channel, not per sample (batch norm)
#   scores    the attention probabilities (heads·T·T per sample, the math path)
#   view      not a save: the output *is* the input's storage (flatten, identity, a token
#             picked from a sequence), so a later save of it is a save of the input
#   ("new", n) n values of tensors made inside the layer and saved (attention's Q, K, V)
#   ("int64", n) n int64 values made inside the layer and saved (token-type ids)
#   ("fixed", n) n bytes made inside the layer and saved that do not grow with the batch (the
#             bool mask of shifted-window attention, broadcast over the batch)
#   ("new", n, devices) n values made inside the layer that are fp32 under autocast on those
#             devices ("cpu", "cuda") whatever the layer's own dtype (local response norm: on
#             the CPU avg_pool3d, on CUDA pow, is on autocast's fp32 list)
#   ("noamp", n) / ("amp", n[, devices]) n values made inside the layer only without / only
#             under autocast (attention's math path computes in fp32 from fp32 copies of
#             16-bit q, k, v: what it saves differs)
#   ("fp32", n) n values made inside the layer, fp32 in every setting (a logsumexp)
#   ("once", n[, devices]) n values made inside the layer once per forward pass, whatever
#             the batch, in the dtype the layer computes in (fp32 without autocast; under it
#             16 bits in a "low" layer, fp32 on those devices): what Swin V2's position-bias
#             MLP saves, run on a fixed coordinates table
SAVE_WORDS = ("input", "output", "pre", "indices", "mask", "rows", "channels", "view")

# How a kind's tensors are typed under autocast (`--amp`; ``LayerKind.autocast``), per device:
#   None     the layer computes in its input's dtype (ReLU, pooling, batch norm, dropout, …):
#            its output and what it saves are in that dtype
#   "low"    autocast's lower-precision ops (convolution, linear, matmul, attention): a fp32
#            input is cast to 16 bits — a copy, and that copy is what is saved —; the output
#            and the tensors the layer makes are 16-bit
#   "fp32"   autocast's fp32 ops (on CUDA layer_norm, group_norm, softmax, pow, …): a 16-bit
#            input is cast to fp32 — a copy, saved if the layer saves its input —; the output
#            and the tensors the layer makes are fp32
#   "widen"  an fp32 parameter enters the layer's arithmetic (layer scale, a class token, a
#            position embedding, an embedding table's rows): the output is fp32 by type
#            promotion; what the layer saves of its own keeps the input's dtype
#   "upcast" the layer computes in fp32 from an fp32 copy of a 16-bit input — the copy is
#            what it saves of its input, and the tensors it makes are fp32 — and returns its
#            input's dtype (RMS norm's composite, which PyTorch runs at opmath precision)
# A kind gives one word for both devices or a dict {"cpu": word, "cuda": word} (a device left
# out: None). The engine follows each tensor's dtype through the network: the input is fp32,
# a merge is fp32 when any operand is (type promotion; torch.cat is on both devices' promote
# lists), a view keeps its tensor's dtype.
AUTOCAST_WORDS = (None, "low", "fp32", "widen", "upcast")
AMP_DEVICES = ("cpu", "cuda")  # the order of a tally's two autocast byte figures

# A saved-tensor tally: values in the activation dtype, int64 indices, mask values, fp32
# values that grow with the batch, fp32 values that do not (per-channel statistics), bytes
# that do not (a bool mask broadcast over the batch); then, under autocast on the CPU and on
# CUDA, the bytes of the first four (what grows with the batch) with each tensor in the dtype
# autocast gives it there (16-bit values 2 bytes, fp32 values 4, masks in their tensor's
# dtype on the CPU and 1-byte bools on CUDA); last, under autocast on the CPU and on CUDA,
# the bytes that do not grow with the batch, in place of the sixth (a "once" word's tensors
# take the dtype autocast gives them).
SAVED_ZERO = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

# What a fresh CUDA process allocates on first use (cuBLAS and cuDNN workspaces): 65 MiB,
# as measured on an NVIDIA H200 (the header of the GPU reference figures); one constant.
WORKSPACE_BYTES = 65 * 2 ** 20

# While the engine walks, a receptive field is a plain tuple (rh, rw, jh, jw, ah, aw) — size,
# jump and start per axis — because it is updated at every windowed layer of a network that
# may have a million; layers hand it out as a ReceptiveField.
INPUT_FIELD = (1, 1, 1, 1, 0, 0)
_POINTWISE = ((1, 1, 0), (1, 1, 0))


def input_field(shape):
    return INPUT_FIELD if shape is not None and len(shape) == 3 else None


def effective_window(axes):
    """A kind's window axes, or () when the window changes nothing (1×1, stride 1)."""
    return () if not axes or axes == _POINTWISE else tuple(axes)


def through_window(raw, axes):
    """The recurrence above for both axes; ``axes`` = ((e, s, p_begin), (e, s, p_begin)).

    Upsampling kinds give four numbers per axis, (e, s, p, u) — see ``through_upsampling``."""
    if len(axes[0]) == 4:
        return through_upsampling(raw, axes)
    (eh, sh, ph), (ew, sw, pw) = axes
    rh, rw, jh, jw, ah, aw = raw
    return (rh + (eh - 1) * jh, rw + (ew - 1) * jw, jh * sh, jw * sw, ah - ph * jh, aw - pw * jw)


def through_upsampling(raw, axes):
    """An upsampling layer read as PyTorch's transposed convolution is: its input spread out
    with u − 1 zeros between neighbours (the jump becomes j' = j_in·s/u), then a stride-1
    window of e positions, padded by p before:

        j_out = j_in·s/u      r_out = r_in + (e − 1)·j_out      a_out = a_in − p·j_out

    convtranspose gives (e, 1, e − 1 − p_begin, stride); nearest upsampling by f is the
    transposed convolution with kernel f and stride f, (f, 1, f − 1, f). Neighbouring outputs
    that read the same input get the same field in truth, so the uniform field reported is
    an upper bound that contains every output's true field. When j_out is not a whole number
    of input pixels, or e is 0 (a kind that cannot say), the field is not reported (None)."""
    (eh, sh, ph, uh), (ew, sw, pw, uw) = axes
    rh, rw, jh, jw, ah, aw = raw
    if not eh or not ew or (jh * sh) % uh or (jw * sw) % uw:
        return None
    jh, jw = jh * sh // uh, jw * sw // uw
    return (rh + (eh - 1) * jh, rw + (ew - 1) * jw, jh, jw, ah - ph * jh, aw - pw * jw)


def through_merge(raws):
    """The union of the branches' receptive fields (see the module docstring)."""
    first = raws[0]
    if first is None or None in raws:
        return None
    # Written out per axis, without generators: a residual network merges once per block.
    rh, rw, jh, jw, bh, bw = first
    eh, ew = bh + rh, bw + rw  # one past the last pixel seen
    for other in raws:
        if other is first or other == first:
            continue
        orh, orw, ojh, ojw, obh, obw = other
        bh, bw = min(bh, obh), min(bw, obw)
        eh, ew = max(eh, obh + orh), max(ew, obw + orw)
        jh, jw = max(jh, ojh), max(jw, ojw)
    return (eh - bh, ew - bw, jh, jw, bh, bw)


def apply_batch(analysis, batch: int = 1, dtype: str = "fp32"):
    """Scale an analysis to a batch and a precision, in place, after its checks have run
    (a spec's `expect` totals are per sample). Returns the analysis."""
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"unknown dtype {dtype!r}; known: {', '.join(DTYPE_BYTES)}")
    totals = analysis.totals
    totals.dtype, totals.bytes_per_value = dtype, DTYPE_BYTES[dtype]
    factor = batch // totals.batch if batch % totals.batch == 0 else None
    if factor is None or batch < 1:
        raise ValueError(f"cannot rescale a batch of {totals.batch} to {batch}")
    if factor != 1:
        once = once_aux = once_exact = 0  # MACs run once per forward pass, whatever the batch
        for layer in analysis.layers:
            counted, own = layer.once_macs, layer.exact_once_macs
            layer.macs = (layer.macs - counted) * factor + counted
            if layer.exact_macs is not None:
                layer.exact_macs = (layer.exact_macs - own) * factor + own
            if layer.aux:
                once_aux += counted
            else:
                once, once_exact = once + counted, once_exact + own
            layer.activations *= factor
            if layer.saved is not SAVED_ZERO:
                layer.saved = scale_saved(layer.saved, factor)
        for merge in getattr(analysis, "merges", ()):
            if merge.saved is not SAVED_ZERO:
                merge.saved = scale_saved(merge.saved, factor)
        totals.saved = scale_saved(totals.saved, factor)
        if totals.exact_macs is not None:
            totals.exact_macs = (totals.exact_macs - once_exact) * factor + once_exact
        totals.macs = (totals.macs - once) * factor + once
        totals.aux_macs = (totals.aux_macs - once_aux) * factor + once_aux
        for key in ("activations", "merge_activations", "peak_activations", "input_values"):
            setattr(totals, key, getattr(totals, key) * factor)
        totals.batch = batch
    return analysis


def scale_saved(saved, factor):
    act, idx, mask, rows, chans, fixed, cpu, cuda, cpu_fixed, cuda_fixed = saved
    return (act * factor, idx * factor, mask * factor, rows * factor, chans, fixed, cpu * factor, cuda * factor,
            cpu_fixed, cuda_fixed)


def add_saved(a, b):
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4], a[5] + b[5], a[6] + b[6],
            a[7] + b[7], a[8] + b[8], a[9] + b[9])


def saved_bytes(saved, bytes_per_value: int, mask_bytes: int | None = 1, amp: str | None = None) -> int:
    """Bytes of a saved-tensor tally; ``mask_bytes`` None: masks in the activation dtype (the
    CPU's). ``amp`` (autocast): the tally's autocast figure for the device (CPU when
    ``mask_bytes`` is None, else CUDA) — each tensor in the dtype autocast gives it there."""
    act, idx, mask, rows, chans, fixed, cpu, cuda, cpu_fixed, cuda_fixed = saved
    if amp:
        return (cpu + cpu_fixed if mask_bytes is None else cuda + cuda_fixed) + chans * 4
    return (act * bytes_per_value + idx * 8 + mask * (bytes_per_value if mask_bytes is None else mask_bytes)
            + (rows + chans) * 4 + fixed)


def ledger(analysis, optimizer: str = "sgd_momentum", scale: int = 1, device: str = "cuda") -> dict:
    """The training ledger of one step at the analysis's batch and dtype, in bytes (see
    docs/metrics.md, "Training memory"): weights, gradients, optimizer state, the input, the
    tensors autograd saves, the backward transient, the workspace, and the peak.

    The peak is walked through the backward pass, last layer first: at layer i, alive are
    the weights, the optimizer state, the tensors saved by layers up to i (a tensor saved
    twice is freed after its first saver), the gradients of the parameters of layers i and
    after, and the transient of layer i — the gradient flowing out of it and the one it
    computes for its input. The optimizer step (weights, gradients, state) is the other
    candidate; the workspace is added to the larger. ``scale`` multiplies the batch.
    ``device`` says where dropout runs: "cuda" keeps 1-byte bool masks, "cpu" masks in the
    activation dtype (the CPU referee's setting; the figures are otherwise the same).

    Mixed precision (``totals.amp``, bf16 or fp16, as torch.autocast): weights, gradients,
    optimizer state and the input stay fp32; each saved tensor takes the dtype autocast gives
    it on ``device`` (the engine follows every tensor's dtype: ``AUTOCAST_WORDS``) — 16-bit
    after a convolution or matmul, fp32 after an fp32 op or an fp32 parameter, a 16-bit copy
    saved where a convolution or matmul reads an fp32 tensor (the network input too) — and
    gradients flowing back are 2 bytes a value; every conv, dense and attention layer's
    weights are cast to 2 bytes and the copy is saved. Token ids (``input: {tokens: T}``) are
    int64 in every setting: 8 bytes each, never cast."""
    return _ledger(_walk(analysis, scale, device), optimizer)


def _ledger(walk: dict, optimizer: str) -> dict:
    """The ledger for ``optimizer`` from the walk of the backward pass (``_walk``), which
    does not depend on the optimizer: its state adds to both candidates of the peak."""
    state = OPTIMIZER_STATE[optimizer] * walk["state_per_slot"]
    weights, grads, inp = walk["weights"], walk["gradients"], walk["input"]
    peak = max(weights + state + inp + walk["peak_backward"], weights + grads + state + inp) + WORKSPACE_BYTES
    return {"optimizer": optimizer, "amp": walk["amp"], "attention": walk["attention"], "batch": walk["batch"],
            "weights": weights,
            "gradients": grads, "optimizer_state": state, "input": inp,
            "saved_activations": walk["saved_activations"], "backward_transient": walk["backward_transient"],
            "workspace": WORKSPACE_BYTES, "peak": peak}


def _walk(analysis, scale: int = 1, device: str = "cuda") -> dict:
    """``ledger``'s figures that do not depend on the optimizer, the backward pass walked once."""
    totals = analysis.totals
    amp = getattr(totals, "amp", None)
    m = 1 if device == "cuda" else None  # bytes of a mask value; None: the activation dtype's
    b = 2 if amp else totals.bytes_per_value  # activations
    w = 4 if amp else totals.bytes_per_value  # weights, gradients, optimizer state, input
    weights = (totals.params + totals.buffers) * w
    grads = totals.trainable_params * w
    casts = _casts(analysis) if amp else {}
    if getattr(totals, "attention", "math") == "fused":  # the kernels' difference, as a (signed) cast
        for key, delta in _fused(analysis, b, totals.batch * scale, m, amp).items():
            casts[key] = casts.get(key, 0) + delta
    saved = saved_bytes(scale_saved(totals.saved, scale), b, m, amp) + sum(casts.values())
    ids = getattr(analysis.input, "ids", False)  # token ids: int64, 8 bytes each, never cast by autocast
    inp = totals.input_values * (8 if ids else w) * scale
    layers = [layer for layer in analysis.layers if layer is not None and not layer.aux]
    extra = [0] * (len(layers) + 1)  # merge saves, freed with the layer before them
    position = []
    count = 0
    for layer in analysis.layers:
        if layer is not None and not layer.aux:
            count += 1
        position.append(count)
    for merge in getattr(analysis, "merges", ()):
        if merge.saved is not SAVED_ZERO:
            at = position[merge.after - 1] if merge.after else 0
            extra[at] += saved_bytes(scale_saved(merge.saved, scale), b, m, amp)
    alive = saved
    grad_so_far = 0
    peak_backward, transient_at_peak = 0, 0
    batch = totals.batch * scale
    for i in range(len(layers) - 1, -1, -1):
        layer = layers[i]
        grad_so_far += layer.trainable * w
        transient = (_values(layer.input) + _values(layer.output)) * batch * b
        here = alive + grad_so_far + transient
        if here > peak_backward:
            peak_backward, transient_at_peak = here, transient
        alive -= saved_bytes(layer.saved if scale == 1 else scale_saved(layer.saved, scale), b, m, amp) \
            + extra[i + 1] + (casts.get(id(layer), 0) if casts else 0)
    if getattr(totals, "checkpoint", False):
        saved, peak_backward, transient_at_peak = _checkpointed(analysis, layers, casts, scale, b, grads, m, amp)
    return {"amp": amp, "attention": getattr(totals, "attention", "math"), "batch": batch, "weights": weights,
            "gradients": grads, "input": inp, "saved_activations": saved, "backward_transient": transient_at_peak,
            "peak_backward": peak_backward, "state_per_slot": totals.trainable_params * w}


def checkpoint_blocks(analysis) -> list:
    """The blocks `--checkpoint` wraps in torch.utils.checkpoint: the outermost groups that
    are modules of their own (a block call, a named repeat or one of its iterations), looking
    inside the groups that are no module of their own in PyTorch (``Group.module`` false: a
    branch set, an auxiliary head, whose layers archcalc export calls one by one) for them."""
    blocks, end = [], -1
    for group in analysis.groups:  # in the order they open: a group's inner groups follow it
        if group.end <= group.start or group.start < end or not group.module:
            continue
        blocks.append(group)
        end = group.end
    return blocks


def _checkpointed(analysis, layers, casts, scale, b, grads, m, amp=None):
    """Activation checkpointing per block (``checkpoint_blocks``; torch.utils.checkpoint around
    each): a block keeps only its input through the forward pass — the whole storage of it,
    when the input is a view (a token picked from a sequence), once however many blocks or
    layers outside keep it; in the backward pass one block at a time is run again and keeps
    what its layers save. Layers outside every block save as usual (an auxiliary head's too:
    it runs in training). Returns (saved, the backward term of the peak, its transient): the
    kept inputs, the most any one block saves, every gradient and the largest transient —
    an upper bound, since a block's gradients are not all present while the largest block
    is recomputed."""
    batch = analysis.totals.batch * scale
    bit = 1 if m is None else 2  # the device's autocast dtype bit (engine: CPU 1, CUDA 2)
    inside = set()
    blocks = checkpoint_blocks(analysis)
    owns = {}
    for group in blocks:
        own = 0
        for layer in analysis.layers[group.start:group.end]:
            if layer is None:
                continue
            inside.add(id(layer))
            own += saved_bytes(scale_saved(layer.saved, scale), b, m, amp) + casts.get(id(layer), 0)
        owns[group.name] = own
    outside = 0
    kept_ids = set()
    others = [layer for layer in analysis.layers if layer is not None and id(layer) not in inside]
    # a `mul` merge saves its operands: inside a block, recomputed with it; outside every
    # block, kept as a layer outside keeps what it saves
    for merge in getattr(analysis, "merges", ()):
        if merge.saved is SAVED_ZERO and not merge.shared_tensors:
            continue
        block = next((name for name in merge.path if name in owns), None)
        if block is not None:
            owns[block] += saved_bytes(scale_saved(merge.saved, scale), b, m, amp)
        else:
            others.append(merge)
    most = max(owns.values(), default=0)
    for layer in others:
        outside += saved_bytes(scale_saved(layer.saved, scale), b, m, amp) + casts.get(id(layer), 0)
        kept_ids.update(layer.saved_tensors)
    kept = 0
    # the blocks' inputs, then what layers outside save that a layer inside a block saved
    # first (that block keeps only its input now): each tensor once
    for tid, values, wide in [group.tensor for group in blocks] + \
            [shared for layer in others for shared in layer.shared_tensors]:
        if tid and tid not in kept_ids:  # the network input (0) is the ledger's `input`
            kept_ids.add(tid)
            kept += values * batch * ((4 if wide & bit else 2) if amp else b)
    transient = max(((_values(layer.input) + _values(layer.output)) * batch * b for layer in layers), default=0)
    saved = kept + outside
    return saved, saved + most + grads + transient, transient


def layer_saved_bytes(analysis, layer) -> int:
    """What one layer (or a merge) saves for backward that no earlier layer saved, in bytes,
    at the analysis's batch, dtype and ``--amp``: the per-layer share of the ledger's
    ``saved_activations`` (on CUDA; under autocast with the 16-bit copies of its weights and
    of an fp32 input it saves)."""
    totals = analysis.totals
    amp = getattr(totals, "amp", None)
    b = 2 if amp else totals.bytes_per_value
    saved = saved_bytes(layer.saved, b, 1, amp)
    if amp:
        saved += 2 * getattr(layer, "casts", 0)
    fused = getattr(layer, "fused", None)
    if fused is not None and getattr(totals, "attention", "math") == "fused":
        saved += saved_bytes(scale_saved(fused[AMP_DEVICES.index("cuda")], totals.batch), b, 1, amp)
    return saved


def _fused(analysis, b: int, batch: int, mask_bytes: int | None = 1, amp: str | None = None) -> dict:
    """Under ``--attention fused``: by layer, the bytes a fused attention kernel saves more
    than the math path (negative: fewer), at ``batch`` with ``b``-byte activations (a
    layer's ``fused`` is that difference as a signed tally per sample, from its kind's
    ``LayerKind.fused``)."""
    deltas = {}
    at = AMP_DEVICES.index("cpu" if mask_bytes is None else "cuda")  # the device's kernel
    for layer in analysis.layers:
        if layer is not None and layer.fused is not None:
            deltas[id(layer)] = saved_bytes(scale_saved(layer.fused[at], batch), b, mask_bytes, amp)
    return deltas


def _casts(analysis) -> dict:
    """Under autocast: the 2-byte weight copies the layers save (their kinds' ``casts``), by
    layer."""
    return {id(layer): 2 * layer.casts for layer in analysis.layers if layer is not None and layer.casts}


def _values(shape) -> int:
    n = 1
    for size in shape:
        n *= size
    return n


def training_bytes(analysis, walk: dict | None = None) -> dict[str, int]:
    """The peak of one training step per optimizer, in bytes (``ledger``); the contract's
    three keys. ``walk``: the network's ``_walk``, when the caller has it."""
    walk = _walk(analysis) if walk is None else walk
    return {name: _ledger(walk, name)["peak"] for name in CONTRACT_OPTIMIZERS}


def kv_cache_bytes(totals) -> int:
    """The KV cache at --seq × --batch in --dtype: keys and values of every causal attention
    layer, 2·kv_heads·head_dim values per token per layer, for the T tokens of the sequence (at
    most W in a layer with a sliding window of W; docs/metrics.md)."""
    values = totals.extras.get("kv_cached_values")
    if values is None:
        values = totals.kv_values * (totals.seq or 0)
    return values * totals.batch * totals.bytes_per_value


def token_figures(totals) -> dict | None:
    """The token-model figures (docs/metrics.md, "Token models"), per sequence of T tokens at
    batch 1, or None for a network without a token input. With S = Σ h·d over the attention
    layers (PaLM's L·H·Q) and the MACs of the layers on the token sequence = N·T + 2·T²·S:

    * ``weight_macs_per_token`` N: what one token multiplies outside the attention scores
      (every projection, MLP and LM head once; embeddings are lookups);
    * ``attention_score_macs`` 2·T²·S: QKᵀ and attention·V over the full T×T square;
    * ``causal_macs``: the forward MACs if causal layers computed only the T(T+1)/2 scores a
      token sees, S_causal·T(T+1) instead of 2·T²·S_causal (fewer within a sliding window);
    * ``per_sequence_macs``: layers after the tokens end (a pooler or a head on one token);
    * ``training_flops_per_token``: 6·N + 12·T·S, the PaLM appendix's 6N + 12·L·H·Q·T
      (forward and backward, full square, per token of a T-token sequence);
    * ``decode_macs_per_token``: one generated token at context T with a KV cache: N plus
      2·T·S (its query against T cached keys, then their values; min(T, W) in a layer with a
      sliding window of W); causal models only."""
    t = totals.seq
    if t is None:
        return None
    s = totals.extras.get("attention_hd", 0)
    causal = totals.extras.get("causal_hd", 0)
    macs = totals.macs // totals.batch
    score = 2 * t * t * s
    n, rest = divmod(totals.token_macs - score, t)
    skipped = totals.extras.get("causal_skipped_macs", 0)
    figures = {"seq": t, "attention_score_macs": score, "causal_macs": macs - skipped,
               "kv_cache_values_per_token": totals.kv_values}
    if rest == 0:
        figures.update({"weight_macs_per_token": n, "per_sequence_macs": macs - totals.token_macs,
                        "training_flops_per_token": 6 * n + 12 * t * s})
        if causal:
            figures["decode_macs_per_token"] = n + 2 * t * (s - causal) + totals.extras.get("decode_score_macs", 0)
    return figures


def memory_dict(analysis, optimizer: str = "sgd_momentum") -> dict:
    """The JSON `memory` object: the settings the byte figures were computed with, the
    training peak per optimizer and the ledger of the chosen one (the network walked once)."""
    totals = analysis.totals
    walk = _walk(analysis)
    values = {"batch": totals.batch, "dtype": totals.dtype, "bytes_per_value": totals.bytes_per_value,
              "input_values": totals.input_values, "merge_activations": totals.merge_activations,
              "peak_activations": totals.peak_activations, "training_bytes": training_bytes(analysis, walk),
              "ledger": _ledger(walk, optimizer)}
    if totals.kv_values:
        values["kv_cache_bytes"] = kv_cache_bytes(totals)
        values["kv_cache_bytes_per_token"] = totals.kv_values * totals.bytes_per_value
    return values


# ------------------------------------------------------------------ fitting in a memory size
_UNITS = {"": 1, "b": 1, "kb": 10 ** 3, "mb": 10 ** 6, "gb": 10 ** 9, "tb": 10 ** 12,
          "kib": 2 ** 10, "mib": 2 ** 20, "gib": 2 ** 30, "tib": 2 ** 40}


def parse_size(text: str) -> int:
    """'80GB' -> 80·10⁹ bytes, '24GiB' -> 24·2³⁰, '512MiB', '1.5TB', '1000000' (bytes).
    Raises ValueError with the reason."""
    import re

    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", text or "")
    if not match:
        raise ValueError("expected a size such as 80GB, 24GiB or 512MiB")
    number, unit = match.groups()
    if unit.lower() not in _UNITS:
        raise ValueError(f"unknown unit {unit!r}; use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB")
    if len(number) > 30:
        raise ValueError("the number is too long")
    from fractions import Fraction

    size = int(Fraction(number) * _UNITS[unit.lower()])
    if size <= 0:
        raise ValueError("the size must be more than 0 bytes")
    return size


def fit_batch(analysis, limit: int, optimizer: str, most: int = 2 ** 40) -> int:
    """The largest batch (a multiple of the analysis's own) whose training peak fits in
    ``limit`` bytes; 0 when not even one fits. The peak grows with the batch, so a doubling
    search and then bisection find it."""
    if ledger(analysis, optimizer, 1)["peak"] > limit:
        return 0
    low, high = 1, 2
    while high <= most and ledger(analysis, optimizer, high)["peak"] <= limit:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if ledger(analysis, optimizer, middle)["peak"] <= limit:
            low = middle
        else:
            high = middle
    return low * analysis.totals.batch


def fit_seq(analyse_at, limit: int, optimizer: str, dtype: str, amp=None, most: int = 2 ** 24,
            attention: str = "math") -> int:
    """The longest sequence whose training step at batch 1 fits; ``analyse_at(T)`` analyses
    the spec at T tokens. 0 when not even one token fits."""
    def fits(length) -> bool:
        analysis = analyse_at(length)
        if analysis.errors or analysis.output is None:
            return False
        analysis.totals.dtype, analysis.totals.bytes_per_value = dtype, DTYPE_BYTES[dtype]
        analysis.totals.amp, analysis.totals.attention = amp, attention
        return ledger(analysis, optimizer)["peak"] <= limit

    if not fits(1):
        return 0
    low, high = 1, 2
    while high <= most and fits(high):
        low, high = high, high * 2
    if high > most:
        return low
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low
