"""ONNX forms that the kinds read themselves (issue 24): channels-last LayerNorm and Linear
between Transposes (ConvNeXt), the bias Add folded into the MatMul before it, layer scale,
local response normalisation and SiLU as PyTorch's exporters decompose them, ConvTranspose,
a crop written as two Slices, and a Concat the exporter flattened from nested branches
(Inception-v3). Graphs are built with onnx.helper; every figure is hand arithmetic.
"""
from __future__ import annotations

import json

import pytest
import yaml
from test_onnx import _model, _save, need


@pytest.fixture
def onnx():
    return need("onnx")


def _show(cli, path):
    result = cli("show", str(path), "--format", "json")
    assert result.code == 0, result.out + result.err
    data = json.loads(result.out)
    return data, [(layer["kind"], layer["output"]) for layer in data["layers"]]


def _const(name, values, shape=None):
    from onnx import TensorProto, helper

    dtype = TensorProto.INT64 if all(isinstance(v, int) for v in values) else TensorProto.FLOAT
    return helper.make_node("Constant", [], [name], name=f"{name}_c",
                            value=helper.make_tensor(name, dtype, [len(values)] if shape is None else shape, values))


def test_convnext_style_channels_last_block(cli, onnx, tmp_path):
    from onnx import helper

    nodes = [helper.make_node("Transpose", ["x"], ["t"], name="to_last", perm=[0, 2, 3, 1]),
             helper.make_node("LayerNormalization", ["t", "g", "b"], ["n"], name="norm", axis=-1, epsilon=1e-6),
             helper.make_node("Transpose", ["w"], ["wt"], name="w_t", perm=[1, 0]),
             helper.make_node("MatMul", ["n", "wt"], ["m"], name="fc"),
             helper.make_node("Add", ["bias", "m"], ["a"], name="fc_bias"),
             helper.make_node("Transpose", ["a"], ["back"], name="to_first", perm=[0, 3, 1, 2]),
             helper.make_node("Mul", ["back", "gamma"], ["y"], name="scale")]
    # nn.Linear(4, 6).weight is (6, 4); the exporter transposes it to (4, 6) for MatMul
    model = _model(onnx, nodes, {"g": [4], "b": [4], "w": [6, 4], "bias": [6], "gamma": [6, 1, 1]},
                   shape=(1, 4, 5, 5))
    path = _save(onnx, tmp_path, model)
    data, layers = _show(cli, path)
    assert layers == [("layernorm", [5, 5, 4]), ("dense", [5, 5, 6]), ("layerscale", [5, 5, 6])]
    # layernorm γ, β 4 + 4; dense 4·6 + 6 = 30; layer scale 6: 44. MACs 5·5·4·6 = 600
    assert (data["totals"]["params"], data["totals"]["macs"]) == (44, 600)
    # the float32 epsilon written as the 1e-6 it was made from
    written = cli("import", str(path))
    assert written.code == 0 and yaml.safe_load(written.out)["layers"][0] == {"layernorm": {"name": "norm", "eps": 1e-6}}


def test_a_layernorm_over_nchw_and_a_scale_by_a_constant_are_not_guessed(cli, onnx, tmp_path):
    from onnx import helper

    for nodes in ([helper.make_node("LayerNormalization", ["x", "g"], ["y"], name="norm", axis=-1)],
                  [_const("half", [0.5], shape=[]), helper.make_node("Mul", ["x", "half"], ["y"], name="scale")]):
        model = _model(onnx, nodes, {"g": [5]}, shape=(1, 4, 5, 5))
        result = cli("show", str(_save(onnx, tmp_path, model)), "--format", "json")
        assert result.code == 1 and "unsupported-op" in result.out


def test_local_response_norm_as_pytorch_decomposes_it(cli, onnx, tmp_path):
    """x / (k + α·avgpool3d(pad(x²)))^β over 5 channels (AlexNet's), with the Unsqueeze,
    Pad and Squeeze around the 3-D pool."""
    from onnx import helper

    nodes = [helper.make_node("Mul", ["x", "x"], ["sq"], name="lrn/Mul"),
             _const("axis", [1]),
             helper.make_node("Unsqueeze", ["sq", "axis"], ["u"], name="lrn/Unsqueeze"),
             _const("pads", [0, 0, 2, 0, 0, 0, 0, 2, 0, 0]),
             helper.make_node("Pad", ["u", "pads"], ["p"], name="lrn/Pad"),
             helper.make_node("AveragePool", ["p"], ["avg"], name="lrn/AveragePool", kernel_shape=[5, 1, 1]),
             helper.make_node("Squeeze", ["avg", "axis"], ["s"], name="lrn/Squeeze"),
             _const("alpha", [1e-4], shape=[]),
             helper.make_node("Mul", ["s", "alpha"], ["sa"], name="lrn/Mul_1"),
             _const("k", [1.0], shape=[]),
             helper.make_node("Add", ["sa", "k"], ["d"], name="lrn/Add"),
             _const("beta", [0.75], shape=[]),
             helper.make_node("Pow", ["d", "beta"], ["pw"], name="lrn/Pow"),
             helper.make_node("Div", ["x", "pw"], ["y"], name="lrn/Div")]
    model = _model(onnx, nodes, {}, shape=(1, 8, 6, 6))
    path = _save(onnx, tmp_path, model)
    _data, layers = _show(cli, path)
    assert layers == [("lrn", [6, 6, 8])]
    written = cli("import", str(path))
    assert written.code == 0 and yaml.safe_load(written.out)["layers"] == [{"lrn": {"name": "lrn/Div"}}]


def test_silu_is_read_as_silu_and_a_gate_stays_a_product(cli, onnx, tmp_path):
    from onnx import helper

    silu = [helper.make_node("Sigmoid", ["x"], ["s"], name="act/Sigmoid"),
            helper.make_node("Mul", ["x", "s"], ["y"], name="act/Mul")]
    _data, layers = _show(cli, _save(onnx, tmp_path, _model(onnx, silu, {}, shape=(1, 4, 5, 5))))
    assert layers == [("silu", [5, 5, 4])]
    # x · sigmoid(conv(x)): a gate with weights (squeeze-and-excitation), not an activation
    gate = [helper.make_node("Conv", ["x", "w"], ["c"], name="gate/Conv", kernel_shape=[1, 1]),
            helper.make_node("Sigmoid", ["c"], ["s"], name="gate/Sigmoid"),
            helper.make_node("Mul", ["x", "s"], ["y"], name="gate/Mul")]
    data, layers = _show(cli, _save(onnx, tmp_path, _model(onnx, gate, {"w": [4, 4, 1, 1]}, shape=(1, 4, 5, 5))))
    assert layers == [("conv", [5, 5, 4]), ("sigmoid", [5, 5, 4])]
    assert data["totals"]["params"] == 16  # 1·1·4·4, no bias


def test_convtranspose_and_a_crop_of_two_slices(cli, onnx, tmp_path):
    from onnx import helper

    nodes = [helper.make_node("ConvTranspose", ["x", "w", "b"], ["up"], name="up", kernel_shape=[2, 2],
                              strides=[2, 2]),
             _const("s0", [1]), _const("e0", [5]), _const("a0", [2]), _const("st", [1]),
             helper.make_node("Slice", ["up", "s0", "e0", "a0", "st"], ["h"], name="crop_h"),
             _const("s1", [2]), _const("e1", [-2]), _const("a1", [3]),
             helper.make_node("Slice", ["h", "s1", "e1", "a1", "st"], ["y"], name="crop_w")]
    # ConvTranspose2d(3, 5, 2, stride=2): weight (3, 5, 2, 2); 4×4 -> (4 − 1)·2 + 2 = 8×8
    model = _model(onnx, nodes, {"w": [3, 5, 2, 2], "b": [5]}, shape=(1, 3, 4, 4))
    path = _save(onnx, tmp_path, model)
    data, layers = _show(cli, path)
    # rows 1…4 of 8, columns 2…5 (8 − 2 = 6, exclusive): one crop of 4×4 at [1, 2]
    assert layers == [("convtranspose", [8, 8, 5]), ("crop", [4, 4, 5])]
    written = cli("import", str(path))
    assert written.code == 0
    assert yaml.safe_load(written.out)["layers"][1] == {"crop": {"name": "crop_h", "size": 4, "offset": [1, 2]}}
    # params 2·2·3·5 + 5 = 65; MACs as PyTorch counts: 3·5·2·2 per input position, 16 of them
    assert (data["totals"]["params"], data["totals"]["macs"]) == (65, 960)


def test_a_concat_flattened_from_nested_branches_imports_nested(cli, onnx, tmp_path):
    """x → a, and x → b → (b1, b2), all three concatenated in one Concat (as TorchScript
    writes torch.cat([a, torch.cat([b1, b2])])): nested parallels, no `from:` wiring."""
    from onnx import helper

    def conv(name, src, w):
        return helper.make_node("Conv", [src, w], [name], name=name, kernel_shape=[1, 1])

    nodes = [conv("a", "x", "wa"), conv("b", "x", "wb"), conv("b1", "b", "wb1"), conv("b2", "b", "wb2"),
             helper.make_node("Concat", ["a", "b1", "b2"], ["y"], name="cat", axis=1)]
    model = _model(onnx, nodes, {"wa": [2, 3, 1, 1], "wb": [4, 3, 1, 1], "wb1": [5, 4, 1, 1], "wb2": [6, 4, 1, 1]},
                   shape=(1, 3, 7, 7))
    path = _save(onnx, tmp_path, model)
    data, _layers = _show(cli, path)
    # 2 + 5 + 6 = 13 channels; params 3·2 + 3·4 + 4·5 + 4·6 = 62
    assert data["output"] == [7, 7, 13] and data["totals"]["params"] == 62
    written = cli("import", str(path))
    assert written.code == 0 and "from:" not in written.out and "join" not in written.out
    assert written.out.count("parallel") >= 2


def test_lenet_1998_forms_subsampling_without_bias_and_a_connection_table(cli, onnx, tmp_path):
    """LeNet-5 (1998)'s forms as PyTorch exports them: an AveragePool times a coefficient per
    map viewed as (1, C, 1, 1) (no bias: the Mul is the last node), then a connection table —
    a Concat of convolutions, each of a Gather of some input channels."""
    from onnx import helper

    nodes = [helper.make_node("AveragePool", ["x"], ["p"], name="S2/pool", kernel_shape=[2, 2], strides=[2, 2]),
             _const("view", [1, -1, 1, 1]),
             helper.make_node("Reshape", ["coef", "view"], ["cv"], name="S2/Reshape"),
             helper.make_node("Mul", ["p", "cv"], ["s"], name="S2/Mul"),
             _const("rows0", [0, 1]), _const("rows1", [1, 2, 3]),
             helper.make_node("Gather", ["s", "rows0"], ["g0"], name="C3/Gather", axis=1),
             helper.make_node("Conv", ["g0", "w0", "b0"], ["c0"], name="C3/0/Conv", kernel_shape=[3, 3]),
             helper.make_node("Gather", ["s", "rows1"], ["g1"], name="C3/Gather_1", axis=1),
             helper.make_node("Conv", ["g1", "w1", "b1"], ["c1"], name="C3/1/Conv", kernel_shape=[3, 3]),
             helper.make_node("Concat", ["c0", "c1"], ["y"], name="C3/Concat", axis=1)]
    model = _model(onnx, nodes, {"coef": [4], "w0": [1, 2, 3, 3], "b0": [1], "w1": [1, 3, 3, 3], "b1": [1]},
                   shape=(1, 4, 10, 10))
    path = _save(onnx, tmp_path, model)
    data, layers = _show(cli, path)
    # 10×10 → 2×2/2 → 5×5; a 3×3 conv → 3×3, 2 filters
    assert layers == [("subsample", [5, 5, 4]), ("conv", [3, 3, 2])]
    # subsample: 4 coefficients, no bias; the table: (2 + 3)·3·3 + 2 biases = 47; MACs 3·3·(2 + 3)·9 = 405
    assert (data["totals"]["params"], data["totals"]["macs"]) == (51, 405)
    written = cli("import", str(path))
    assert written.code == 0, written.err
    assert [next(iter(entry.values())) for entry in yaml.safe_load(written.out)["layers"]] == [
        {"name": "S2/Mul", "bias": False}, {"name": "C3/Concat", "kernel": 3, "filters": 2, "table": [[0, 1], [1, 2, 3]]}]

    # filters with different windows are no one conv: refused, never guessed
    nodes[9] = helper.make_node("Conv", ["g1", "w1", "b1"], ["c1"], name="C3/1/Conv", kernel_shape=[3, 3],
                                pads=[1, 1, 1, 1])
    model = _model(onnx, nodes, {"coef": [4], "w0": [1, 2, 3, 3], "b0": [1], "w1": [1, 3, 3, 3], "b1": [1]},
                   shape=(1, 4, 10, 10))
    result = cli("show", str(_save(onnx, tmp_path, model)), "--format", "json")
    assert result.code == 1 and "unsupported-op" in result.out


def test_a_channel_shuffle_of_reshapes_and_a_transpose(cli, onnx, tmp_path):
    """torchvision's channel_shuffle as the dynamo exporter writes it: (N, C, H, W) viewed as
    (N, groups, C/groups, H, W), the two axes swapped, viewed back; then a 1×1 conv."""
    from onnx import helper

    nodes = [_const("grid", [1, 2, 3, 5, 5]),
             helper.make_node("Reshape", ["x", "grid"], ["v"], name="shuffle/Reshape"),
             helper.make_node("Transpose", ["v"], ["t"], name="shuffle/Transpose", perm=[0, 2, 1, 3, 4]),
             _const("back", [1, 6, 5, 5]),
             helper.make_node("Reshape", ["t", "back"], ["s"], name="shuffle/Reshape_1"),
             helper.make_node("Conv", ["s", "w"], ["y"], name="conv", kernel_shape=[1, 1])]
    model = _model(onnx, nodes, {"w": [4, 6, 1, 1]}, shape=(1, 6, 5, 5))
    path = _save(onnx, tmp_path, model)
    data, layers = _show(cli, path)
    assert layers == [("channelshuffle", [5, 5, 6]), ("conv", [5, 5, 4])]
    # the shuffle has no parameters; the conv 6·4 = 24 (no bias), MACs 5·5·6·4 = 600
    assert (data["totals"]["params"], data["totals"]["macs"]) == (24, 600)
    written = cli("import", str(path))
    assert written.code == 0, written.err
    assert yaml.safe_load(written.out)["layers"][0] == {"channelshuffle": {"name": "shuffle/Reshape_1", "groups": 2}}

    # another permutation of the five axes is no shuffle: refused, never guessed
    nodes[2] = helper.make_node("Transpose", ["v"], ["t"], name="shuffle/Transpose", perm=[0, 1, 2, 4, 3])
    model = _model(onnx, nodes, {"w": [4, 6, 1, 1]}, shape=(1, 6, 5, 5))
    result = cli("show", str(_save(onnx, tmp_path, model)), "--format", "json")
    assert result.code == 1 and "unsupported-op" in result.out


def _vit_like(onnx, softmax="Softmax"):
    """A volume's positions as tokens (Reshape, Transpose), a class token put first, a position
    embedding added, grouped-query self-attention between separate projections (T = 5, D = 8,
    2 query heads of d = 4 sharing 1 key/value head), the class token taken by a Gather."""
    from onnx import TensorProto, helper

    def mm(a, w, out):
        return helper.make_node("MatMul", [a, w], [out], name=f"attn/{out}")

    nodes = [_const("flat", [1, 8, 4]),
             helper.make_node("Reshape", ["x", "flat"], ["v"], name="patches/Reshape"),
             helper.make_node("Transpose", ["v"], ["t"], name="patches/Transpose", perm=[0, 2, 1]),
             helper.make_node("Concat", ["cls", "t"], ["c"], name="class_token", axis=1),
             helper.make_node("Add", ["c", "pos"], ["e"], name="pos_embedding"),
             mm("e", "wq", "q"), helper.make_node("Add", ["q", "bq"], ["qb"], name="attn/q_bias"),
             mm("e", "wk", "k"), helper.make_node("Add", ["k", "bk"], ["kb"], name="attn/k_bias"),
             mm("e", "wv", "vv"), helper.make_node("Add", ["vv", "bv"], ["vb"], name="attn/v_bias"),
             _const("qshape", [1, 5, 2, 4]), _const("kvshape", [1, 5, 1, 4]),
             helper.make_node("Reshape", ["qb", "qshape"], ["q4"], name="attn/q_heads"),
             helper.make_node("Transpose", ["q4"], ["qt"], name="attn/q_t", perm=[0, 2, 1, 3]),
             helper.make_node("Reshape", ["kb", "kvshape"], ["k4"], name="attn/k_heads"),
             helper.make_node("Transpose", ["k4"], ["kt"], name="attn/k_t", perm=[0, 2, 3, 1]),
             helper.make_node("Reshape", ["vb", "kvshape"], ["v4"], name="attn/v_heads"),
             helper.make_node("Transpose", ["v4"], ["vt"], name="attn/v_t", perm=[0, 2, 1, 3]),
             mm("qt", "kt", "s"),
             helper.make_node("Constant", [], ["scale"], name="attn/scale_c",
                              value=helper.make_tensor("scale", TensorProto.FLOAT, [], [0.5])),
             helper.make_node("Mul", ["s", "scale"], ["ss"], name="attn/scale"),
             helper.make_node(softmax, ["ss"], ["p"], name="attn/softmax", **({"axis": -1} if softmax == "Softmax" else {})),
             mm("p", "vt", "o"),
             helper.make_node("Transpose", ["o"], ["ot"], name="attn/o_t", perm=[0, 2, 1, 3]),
             _const("back", [1, 5, 8]),
             helper.make_node("Reshape", ["ot", "back"], ["of"], name="attn/merge"),
             mm("of", "wo", "y"), helper.make_node("Add", ["y", "bo"], ["yb"], name="attn/out_bias"),
             helper.make_node("Constant", [], ["zero"], name="zero_c",
                              value=helper.make_tensor("zero", TensorProto.INT64, [], [0])),
             helper.make_node("Gather", ["yb", "zero"], ["z"], name="take", axis=1)]
    return _model(onnx, nodes, {"cls": [1, 1, 8], "pos": [1, 5, 8], "wq": [8, 8], "bq": [8], "wk": [8, 4],
                                "bk": [4], "wv": [8, 4], "bv": [4], "wo": [8, 8], "bo": [8]}, shape=(1, 8, 2, 2))


def test_a_vit_like_graph_with_grouped_query_attention(cli, onnx, tmp_path):
    path = _save(onnx, tmp_path, _vit_like(onnx))
    data, layers = _show(cli, path)
    assert layers == [("patches", [4, 8]), ("classtoken", [5, 8]), ("posembed", [5, 8]),
                      ("attention", [5, 8]), ("taketoken", [8])]
    # class token 8; position embedding 5·8 = 40; attention: q 8·8, k and v 8·4 each, out 8·8
    # = 192 weights, biases 8 + 4 + 4 + 8 = 24: 264 in all
    # MACs: projections 5·(8·8 + 2·8·4 + 8·8) = 960; QKᵀ and probabilities·V 2·5²·2·4 = 400
    assert (data["totals"]["params"], data["totals"]["macs"]) == (264, 1360)
    written = cli("import", str(path))
    assert written.code == 0, written.err
    entries = yaml.safe_load(written.out)["layers"]
    assert entries[3] == {"attention": {"name": "attn/out_bias", "heads": 2, "kv_heads": 1}}
    assert entries[4] == {"taketoken": {"name": "take"}}  # index 0, the default


def test_products_of_activations_without_a_softmax_are_not_read_as_attention(cli, onnx, tmp_path):
    result = cli("show", str(_save(onnx, tmp_path, _vit_like(onnx, softmax="Relu"))), "--format", "json")
    assert result.code == 1 and "unsupported-op" in result.out


def test_a_token_model_embedding_causal_attention_and_a_tied_head(cli, onnx, tmp_path):
    """Token ids (an int64 input) looked up in a (10, 8) table; causal self-attention (T = 4,
    D = 8, 2 heads of 4, no biases) whose mask is a Trilu of ones shaped as the scores, as the
    TorchScript exporter writes is_causal; a head projecting onto the table's transpose."""
    from onnx import TensorProto, helper

    def mm(a, w, out):
        return helper.make_node("MatMul", [a, w], [out], name=f"attn/{out}")

    def scalar(name, value, dtype=TensorProto.FLOAT):
        return helper.make_node("Constant", [], [name], name=f"{name}_c",
                                value=helper.make_tensor(name, dtype, [], [value]))

    nodes = [helper.make_node("Gather", ["table", "ids"], ["e"], name="wte", axis=0),
             mm("e", "wq", "q"), mm("e", "wk", "k"), mm("e", "wv", "v"),
             _const("heads", [1, 4, 2, 4]),
             helper.make_node("Reshape", ["q", "heads"], ["q4"], name="attn/q_heads"),
             helper.make_node("Transpose", ["q4"], ["qt"], name="attn/q_t", perm=[0, 2, 1, 3]),
             helper.make_node("Reshape", ["k", "heads"], ["k4"], name="attn/k_heads"),
             helper.make_node("Transpose", ["k4"], ["kt"], name="attn/k_t", perm=[0, 2, 3, 1]),
             helper.make_node("Reshape", ["v", "heads"], ["v4"], name="attn/v_heads"),
             helper.make_node("Transpose", ["v4"], ["vt"], name="attn/v_t", perm=[0, 2, 1, 3]),
             mm("qt", "kt", "s"),
             helper.make_node("Shape", ["s"], ["s_shape"], name="attn/shape"),
             helper.make_node("ConstantOfShape", ["s_shape"], ["ones"], name="attn/ones",
                              value=helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])),
             helper.make_node("Trilu", ["ones"], ["tri"], name="attn/tril", upper=0),
             scalar("zero", 0.0), scalar("neginf", float("-inf")),
             helper.make_node("Equal", ["tri", "zero"], ["hidden"], name="attn/hidden"),
             helper.make_node("Where", ["hidden", "neginf", "zero"], ["mask"], name="attn/mask"),
             helper.make_node("Add", ["s", "mask"], ["masked"], name="attn/masked"),
             helper.make_node("Softmax", ["masked"], ["p"], name="attn/softmax", axis=-1),
             mm("p", "vt", "o"),
             helper.make_node("Transpose", ["o"], ["ot"], name="attn/o_t", perm=[0, 2, 1, 3]),
             _const("back", [1, 4, 8]),
             helper.make_node("Reshape", ["ot", "back"], ["of"], name="attn/merge"),
             mm("of", "wo", "y"),
             helper.make_node("Transpose", ["table"], ["table_t"], name="head/t", perm=[1, 0]),
             helper.make_node("MatMul", ["y", "table_t"], ["logits"], name="head")]
    inits = {"table": [10, 8], "wq": [8, 8], "wk": [8, 8], "wv": [8, 8], "wo": [8, 8]}
    graph = helper.make_graph(
        nodes, "tokens", [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)],
        [helper.make_tensor(n, TensorProto.FLOAT, d, [0.1] * (d[0] * d[1])) for n, d in inits.items()])
    path = _save(onnx, tmp_path, helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    data, layers = _show(cli, path)
    assert layers == [("embedding", [4, 8]), ("attention", [4, 8]), ("lmhead", [4, 10])]
    # table 10·8 = 80; attention 4·8·8 = 256 (no biases); the tied head none of its own: 336
    # MACs: projections 4·(8·8 + 2·8·8 + 8·8) = 1,024, scores 2·4²·2·4 = 256; head 4·8·10 = 320
    assert (data["totals"]["params"], data["totals"]["macs"]) == (336, 1600)
    written = cli("import", str(path))
    assert written.code == 0, written.err
    spec = yaml.safe_load(written.out)
    assert spec["input"] == {"tokens": 4}
    assert spec["layers"][1] == {"attention": {"name": "attn/y", "heads": 2, "qkv_bias": False, "out_bias": False,
                                               "causal": True}}
    assert spec["layers"][2] == {"lmhead": {"name": "head", "vocab": 10, "tied": "wte"}}

def _folded_by(node, rules, fx=None):
    """Mark ``node`` as onnxscript's optimizer marks a node it rewrote (and, with ``fx``, the
    batch norm's FX node the exporter records)."""
    entry = node.metadata_props.add()
    entry.key, entry.value = "pkg.onnxscript.rewriter.rule_name", rules
    if fx is not None:
        entry = node.metadata_props.add()
        entry.key, entry.value = "pkg.torch.onnx.fx_node", fx


def test_batch_norms_folded_by_the_exporter_are_reported_with_the_figures_before(cli, onnx, tmp_path):
    """Three folds as PyTorch's dynamo exporter writes them: a bias-free conv given the bias
    ``w1_bias`` (the fold's own), a conv that kept its own bias ``b2``, and a Gemm (transB)
    whose fold left a zero bias dropped; the second batch norm had no γ, β (affine=False)."""
    from onnx import helper

    nodes = [helper.make_node("Conv", ["x", "w1", "w1_bias"], ["c1"], name="conv1", kernel_shape=[3, 3]),
             helper.make_node("Conv", ["c1", "w2", "b2"], ["c2"], name="conv2", kernel_shape=[1, 1]),
             helper.make_node("Flatten", ["c2"], ["f"], name="flat", axis=1),
             helper.make_node("Gemm", ["f", "w3"], ["y"], name="fc", transB=1)]
    _folded_by(nodes[0], "FuseBatchNormIntoConv, RemoveOptionalBiasFromConv")
    _folded_by(nodes[1], "FuseBatchNormIntoConv",
               fx="%bn : [num_users=1] = call_function[target=torch.ops.aten._native_batch_norm_legit_no_training"
                  ".default](args = (%conv2d_1, None, None, %b_bn_running_mean, %b_bn_running_var, 0.1, 1e-05), "
                  "kwargs = {})")
    _folded_by(nodes[3], "FuseBatchNormIntoGemm")
    model = _model(onnx, nodes, {"w1": [8, 3, 3, 3], "w1_bias": [8], "w2": [4, 8, 1, 1], "b2": [4],
                                 "w3": [10, 4 * 6 * 6]}, shape=(1, 3, 8, 8))
    path = _save(onnx, tmp_path, model)
    data, _layers = _show(cli, path)
    # the file: conv1 8·27 + 8 = 224; conv2 4·8 + 4 = 36; fc 10·144 = 1,440: 1,700
    assert data["totals"]["params"] == 1_700
    warned = [d for d in data["diagnostics"] if d["code"] == "folded-batchnorm"]
    assert len(warned) == 1 and warned[0]["severity"] == "warning" and warned[0]["line"] == 2
    # before: conv1 without its bias (−8) and bn1's γ, β (+16); conv2's bias was its own, bn2
    # had no γ, β (+0); fc's bn γ, β over 10 outputs (+20): 1,700 − 8 + 16 + 20 = 1,728 parameters;
    # running mean and variance 2·(8 + 4 + 10) = 44 buffers
    assert "3 batch norms were folded" in warned[0]["message"]
    assert "had 1,728 and 44" in warned[0]["message"], warned[0]["message"]
    # the import keeps the note as a comment, and says it on stderr
    written = cli("import", str(path))
    assert written.code == 0 and "# note: 3 batch norms were folded" in written.out
    assert "folded-batchnorm" in written.err


def test_a_node_merely_named_for_a_fold_is_not_reported(cli, onnx, tmp_path):
    """Only onnxscript's fold rules count: another rewrite rule, or a Relu carrying the fold
    rule's name, changes nothing."""
    from onnx import helper

    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c1"], ["y"], name="relu")]
    _folded_by(nodes[0], "RemoveOptionalBiasFromConv")
    _folded_by(nodes[1], "FuseBatchNormIntoConv")
    data, _layers = _show(cli, _save(onnx, tmp_path, _model(onnx, nodes, {"w1": [8, 3, 3, 3]}, shape=(1, 3, 8, 8))))
    assert not [d for d in data["diagnostics"] if d["code"] == "folded-batchnorm"]


def _channel_split(onnx, first, second, order):
    """x (8 channels) → Slice channels ``first`` and ``second`` (opset 13's inputs; the end
    INT64_MAX as the dynamo exporter writes "to the end"); a 1×1 conv of 4 filters on the
    second; Concat in ``order`` ("ab": the first Slice, then the conv)."""
    from onnx import helper

    big = 2**63 - 1
    nodes = [_const("s1", [first[0]]), _const("e1", [first[1]]), _const("s2", [second[0]]),
             _const("e2", [second[1] if second[1] is not None else big]), _const("ax", [1]), _const("st", [1]),
             helper.make_node("Slice", ["x", "s1", "e1", "ax", "st"], ["a"], name="keep"),
             helper.make_node("Slice", ["x", "s2", "e2", "ax", "st"], ["b"], name="take"),
             helper.make_node("Conv", ["b", "w"], ["c"], name="conv", kernel_shape=[1, 1]),
             helper.make_node("Concat", ["a", "c"] if order == "ab" else ["c", "a"], ["y"], name="cat", axis=1)]
    return _model(onnx, nodes, {"w": [4, 4, 1, 1]}, shape=(1, 8, 6, 6), opset=13)


def test_a_channel_split_as_two_slices_is_a_parallel_split(cli, onnx, tmp_path):
    """ShuffleNet-v2's x.chunk(2, dim=1) as the dynamo exporter writes it: the first half
    passed to the Concat, the second half a branch's input."""
    path = _save(onnx, tmp_path, _channel_split(onnx, (0, 4), (4, None), "ab"))
    data, layers = _show(cli, path)
    # the conv: 4·4 = 16 weights on 6·6 positions, 16·36 = 576 MACs; the output 4 + 4 channels
    assert (data["totals"]["params"], data["totals"]["macs"], data["output"]) == (16, 576, [6, 6, 8])
    written = cli("import", str(path))
    assert written.code == 0, written.err
    parallel = yaml.safe_load(written.out)["layers"][0]["parallel"]
    assert parallel["split"] == [4, 4] and parallel["branches"][0] == []


@pytest.mark.parametrize(("first", "second", "order"), [
    ((0, 4), (4, None), "ba"),  # concatenated in the other order: no split says that
    ((0, 3), (4, None), "ab"),  # channel 3 is dropped
])
def test_a_channel_split_that_is_no_partition_in_order_is_not_guessed(cli, onnx, tmp_path, first, second, order):
    result = cli("show", str(_save(onnx, tmp_path, _channel_split(onnx, first, second, order))), "--format", "json")
    assert result.code == 1 and "unsupported-op" in result.out, result.out


# A tied head as PyTorch's default (dynamo) exporter writes it: not the table's Transpose but
# a (dim, vocab) initializer of its own holding the (vocab, dim) table's values transposed.
# Table (10, 8) with value v·8 + d at [v, d], all distinct, so a copy that is not the
# transpose (the same values in the table's own order) differs.
TABLE = [float(v * 8 + d) for v in range(10) for d in range(8)]
TRANSPOSED = [TABLE[v * 8 + d] for d in range(8) for v in range(10)]


def _tied_copy_model(onnx, head_values, head_external=None):
    """ids (1, 4) -> Gather in the table -> MatMul by a (8, 10) ``head`` initializer. With
    ``head_external`` (location, offset, length) the head's values are external data."""
    import struct

    from onnx import TensorProto, helper

    nodes = [helper.make_node("Gather", ["table", "ids"], ["e"], name="wte", axis=0),
             helper.make_node("MatMul", ["e", "head"], ["logits"], name="lm_head")]
    table = helper.make_tensor("table", TensorProto.FLOAT, [10, 8], struct.pack("<80f", *TABLE), raw=True)
    if head_external is None:
        head = helper.make_tensor("head", TensorProto.FLOAT, [8, 10], struct.pack("<80f", *head_values), raw=True)
    else:
        head = TensorProto(name="head", data_type=TensorProto.FLOAT, dims=[8, 10],
                           data_location=TensorProto.EXTERNAL)
        for key, value in zip(("location", "offset", "length"), head_external):
            if value is not None:
                entry = head.external_data.add()
                entry.key, entry.value = key, str(value)
    graph = helper.make_graph(nodes, "tied", [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 4])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)], [table, head])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


# table 10·8 = 80 parameters; a head of its own another 8·10 = 80; MACs 4·8·10 = 320 either way
TIED, UNTIED = ([("embedding", [4, 8]), ("lmhead", [4, 10])], 80), ([("embedding", [4, 8]), ("dense", [4, 10])], 160)


@pytest.mark.parametrize("values, expected", [(TRANSPOSED, TIED), (TABLE, UNTIED)], ids=["transposed", "same-order"])
def test_a_head_that_is_a_transposed_copy_of_the_table_is_tied(cli, onnx, tmp_path, values, expected):
    path = _save(onnx, tmp_path, _tied_copy_model(onnx, values))
    data, layers = _show(cli, path)
    assert (layers, data["totals"]["params"], data["totals"]["macs"]) == (*expected, 320)
    if expected is TIED:
        written = cli("import", str(path))
        assert written.code == 0, written.err
        assert yaml.safe_load(written.out)["layers"][1] == {"lmhead": {"name": "lm_head", "vocab": 10, "tied": "wte"}}


def _external(tmp_path, where, offset=0, length=320, pad=b""):
    import struct

    (tmp_path / where).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / where).write_bytes(pad + struct.pack("<80f", *TRANSPOSED))
    return offset, length


def test_a_tied_heads_copy_in_external_data_beside_the_model_is_compared(cli, onnx, tmp_path):
    # 16 bytes before the values: offset 16, length 80·4 = 320; in a subfolder too
    offset, length = _external(tmp_path, "weights/m.data", 16, 320, pad=b"\0" * 16)
    path = _save(onnx, tmp_path, _tied_copy_model(onnx, None, ("weights/m.data", offset, length)))
    data, layers = _show(cli, path)
    assert (layers, data["totals"]["params"]) == TIED


@pytest.mark.parametrize("case", ["outside-the-folder", "absolute", "fifo", "past-the-end", "missing", "directory"])
def test_external_data_a_reader_must_not_follow_is_not_read(cli, onnx, tmp_path, case):
    """Values that would make the head tied, where archcalc must not read them: the head is
    then counted as the file's own weight (a dense layer), promptly, with no error."""
    import os

    inside = tmp_path / "model"
    inside.mkdir()
    location, offset, length = "m.data", 0, 320
    if case == "outside-the-folder":
        _external(tmp_path, "outside.data")
        location = "../outside.data"
    elif case == "absolute":
        _external(tmp_path, "outside.data")
        location = str(tmp_path / "outside.data")
    elif case == "fifo":
        os.mkfifo(inside / "m.data")  # opening it would block: never opened
    elif case == "past-the-end":
        _external(inside, "m.data")
        offset = 8
    elif case == "directory":
        (inside / "m.data").mkdir()
    path = _save(onnx, inside, _tied_copy_model(onnx, None, (location, offset, length)))
    data, layers = _show(cli, path)
    assert (layers, data["totals"]["params"]) == UNTIED
