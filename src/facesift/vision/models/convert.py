"""dlib networks as ONNX graphs, converted once and cached per source file.

The graph is built in code from the weights in dlib's `.dat` files (read by
`facesift.vision.models.dlib_format`), reproducing dlib's semantics exactly:

* con_: cross-correlation with symmetric zero padding; output size
  1 + (in + 2·pad − k) / stride, as ONNX Conv with floor.
* affine_ (and bn_ folded into affine as dlib does at load time) is folded into the preceding
  convolution.
* avg_pool_ averages over the clipped window (ONNX count_include_pad=0); an all-zero window
  means global pooling.
* add_prev_ zero-extends the smaller operand on every axis (in this ResNet the skip path of the
  deepest down-sampling blocks is larger and has half the channels): Pad ops.
* fc_ computes x·W with W stored [inputs, outputs]; loss_metric_ outputs the vector as is.

Converted graphs live in the user cache folder, named after the source file's SHA-256, so a
changed source file is converted again and nothing converted is committed or downloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from facesift.vision.models import dlib_format
from facesift.vision.models.bundled import ModelFile
from facesift.vision.models.cache import cache_dir, write_atomic

OPSET = 17
# Bump when the graph a conversion writes changes, so caches are rebuilt.
CONVERTER_VERSION = 1


class GraphBuilder:
    """Nodes and constants of an ONNX graph being built in code."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def name(self, base: str) -> str:
        self._n += 1
        return f"{base}_{self._n}"

    def const(self, base: str, arr: np.ndarray) -> str:
        n = self.name(base)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), n))
        return n

    def op(self, op_type: str, inputs: list[str], base: str | None = None, **attrs) -> str:
        out = self.name(base or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


def _out_hw(h, w, a):
    """dlib: 1 + (in + 2*pad - k) / stride (integer division)."""
    if h is None:
        return None, None
    return (
        1 + (h + 2 * a["padding_y"] - a["nr"]) // a["stride_y"],
        1 + (w + 2 * a["padding_x"] - a["nc"]) // a["stride_x"],
    )


def build_body(
    g: GraphBuilder, layers: list[dlib_format.Layer], x: str, shape: tuple, fold_affine: bool = True
) -> tuple[str, tuple]:
    """Emit ONNX nodes for `layers` (input -> output, no input/loss layer).

    shape is (C, H, W) with None for unknown (dynamic) spatial dims.  Returns the
    output tensor name and its (C, H, W)."""
    tags: dict[int, tuple[str, tuple]] = {}
    i = 0
    C, H, W = shape
    while i < len(layers):
        lay = layers[i]
        a, p, t = lay.attrs, lay.params, lay.type
        if t == "bn":
            lay = dlib_format.fold_bn_to_affine(lay)
            a, p, t = lay.attrs, lay.params, lay.type
        if t == "con":
            if a.get("use_relu"):
                raise NotImplementedError("con_ with fused relu")
            wgt = p["weight"].astype(np.float32)
            bias = p.get("bias", np.zeros(a["num_filters"], np.float32)).astype(np.float32)
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if nxt is not None and nxt.type == "bn":
                nxt = dlib_format.fold_bn_to_affine(nxt)
            fused = False
            if (
                fold_affine
                and nxt is not None
                and nxt.type == "affine"
                and nxt.attrs["mode"] == 0
                and not nxt.attrs.get("disabled")
            ):
                gm: np.ndarray = nxt.params["gamma"].reshape(-1).astype(np.float32)
                bt: np.ndarray = nxt.params["beta"].reshape(-1).astype(np.float32)
                wgt = wgt * gm[:, None, None, None]
                bias = bias * gm + bt
                fused = True
            x = g.op(
                "Conv",
                [x, g.const("W", wgt), g.const("B", bias)],
                "conv",
                kernel_shape=[a["nr"], a["nc"]],
                strides=[a["stride_y"], a["stride_x"]],
                pads=[a["padding_y"], a["padding_x"], a["padding_y"], a["padding_x"]],
            )
            C = a["num_filters"]
            H, W = _out_hw(H, W, a)
            i += 2 if fused else 1
            continue
        if t == "affine":
            if a.get("disabled"):
                i += 1
                continue
            if a["mode"] == 0:
                gm = p["gamma"].reshape(1, -1, 1, 1)
                bt = p["beta"].reshape(1, -1, 1, 1)
            else:
                gm = p["gamma"].reshape((1, *p["gamma"].shape))
                bt = p["beta"].reshape((1, *p["beta"].shape))
            x = g.op("Mul", [x, g.const("gamma", gm.astype(np.float32))], "affine_mul")
            x = g.op("Add", [x, g.const("beta", bt.astype(np.float32))], "affine_add")
        elif t == "relu":
            x = g.op("Relu", [x], "relu")
        elif t == "max_pool":
            if a["nr"] == 0:
                x = g.op("GlobalMaxPool", [x], "gmaxpool")
                H, W = (1, 1) if H is not None else (None, None)
            else:
                x = g.op(
                    "MaxPool",
                    [x],
                    "maxpool",
                    kernel_shape=[a["nr"], a["nc"]],
                    strides=[a["stride_y"], a["stride_x"]],
                    pads=[a["padding_y"], a["padding_x"], a["padding_y"], a["padding_x"]],
                )
                H, W = _out_hw(H, W, a)
        elif t == "avg_pool":
            if a["nr"] == 0 and a["nc"] == 0:
                assert a["stride_y"] == a["stride_x"] == 1 and a["padding_y"] == a["padding_x"] == 0
                x = g.op("GlobalAveragePool", [x], "gavgpool")
                H, W = (1, 1) if H is not None else (None, None)
            else:
                if a["nr"] == 0 or a["nc"] == 0:
                    raise NotImplementedError("avg_pool with one zero window dim")
                x = g.op(
                    "AveragePool",
                    [x],
                    "avgpool",
                    kernel_shape=[a["nr"], a["nc"]],
                    strides=[a["stride_y"], a["stride_x"]],
                    pads=[a["padding_y"], a["padding_x"], a["padding_y"], a["padding_x"]],
                    count_include_pad=0,
                )
                H, W = _out_hw(H, W, a)
        elif t == "tag":
            tags[a["id"]] = (x, (C, H, W))
        elif t == "skip":
            x, (C, H, W) = tags[a["id"]]
        elif t == "add_prev":
            y, (C2, H2, W2) = tags[a["tag"]]
            if (H is None or H2 is None) and (C, H, W) != (C2, H2, W2):
                raise NotImplementedError("add_prev with unknown shapes")
            tgt = (max(C, C2), max(H, H2), max(W, W2))

            x = g.op(
                "Add",
                [_pad_to(g, x, (C, H, W), tgt), _pad_to(g, y, (C2, H2, W2), tgt)],
                f"add_prev{a['tag']}",
            )
            C, H, W = tgt
        elif t == "fc":
            x = g.op("Flatten", [x], "flatten", axis=1)
            if H is not None and a["num_inputs"] != C * H * W:
                raise ValueError(f"fc expects {a['num_inputs']} inputs, graph has {C * H * W}")
            x = g.op("MatMul", [x, g.const("fcW", p["weight"].astype(np.float32))], "fc")
            if a["has_bias"]:
                x = g.op("Add", [x, g.const("fcB", p["bias"].astype(np.float32))], "fc_bias")
            C, H, W = a["num_outputs"], 1, 1
        elif t == "tag_or_skip":
            raise ValueError("unresolved tag/skip: call dlib_format.resolve_tags first")
        else:
            raise NotImplementedError(t)
        i += 1
    return x, (C, H, W)


def _pad_to(g: GraphBuilder, name: str, shape: tuple, target: tuple) -> str:
    """Zero-extend a C×H×W tensor at the end of each axis, as dlib's add_prev_ does."""
    grow = [target[k] - shape[k] for k in range(3)]
    if not any(grow):
        return name
    pads = np.array([0, 0, 0, 0, 0, *grow], dtype=np.int64)
    return g.op("Pad", [name, g.const("pads", pads)], "pad", mode="constant")


def build_resnet(
    net: dlib_format.Network, input_kind: str = "uint8_nhwc", fold_affine: bool = True
) -> onnx.ModelProto:
    inp = net.input
    assert inp.type == "input_rgb_image_sized"
    nr, nc = inp.attrs["nr"], inp.attrs["nc"]
    g = GraphBuilder()
    avg = np.array(
        [inp.attrs["avg_red"], inp.attrs["avg_green"], inp.attrs["avg_blue"]], dtype=np.float32
    )
    if input_kind == "uint8_nhwc":
        in_vi = helper.make_tensor_value_info("chips", TensorProto.UINT8, ["N", nr, nc, 3])
        x = g.op("Cast", ["chips"], "to_float", to=TensorProto.FLOAT)
        # (pixel - avg) / 256, as input_rgb_image_sized::to_tensor does in float
        x = g.op("Sub", [x, g.const("avg_rgb", avg.reshape(1, 1, 1, 3))], "sub_mean")
        x = g.op("Mul", [x, g.const("inv256", np.array(1.0 / 256.0, dtype=np.float32))], "div256")
        x = g.op("Transpose", [x], "to_nchw", perm=[0, 3, 1, 2])
    elif input_kind == "float_nchw":
        in_vi = helper.make_tensor_value_info("chips", TensorProto.FLOAT, ["N", 3, nr, nc])
        x = "chips"
    else:
        raise ValueError(input_kind)
    x, (C, _H, _W) = build_body(g, net.body(), x, (3, nr, nc), fold_affine=fold_affine)
    # loss_metric_::to_label copies the output tensor as is.
    g.nodes.append(helper.make_node("Identity", [x], ["embeddings"], name="embeddings"))
    out_vi = helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["N", C])
    return finish_model(g, "dlib_face_recognition_resnet_model_v1", in_vi, out_vi)


def build_mmod(net: dlib_format.Network) -> onnx.ModelProto:
    assert net.input.type == "input_rgb_image_pyramid"
    g = GraphBuilder()
    in_vi = helper.make_tensor_value_info("pyramid", TensorProto.FLOAT, ["N", 3, "H", "W"])
    x, (C, _, _) = build_body(g, net.body(), "pyramid", (3, None, None), fold_affine=True)
    g.nodes.append(helper.make_node("Identity", [x], ["scores"], name="scores"))
    out_vi = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", C, "Ho", "Wo"])
    return finish_model(g, "mmod_human_face_detector", in_vi, out_vi)


def finish_model(
    g: GraphBuilder,
    name: str,
    source: onnx.ValueInfoProto,
    result: onnx.ValueInfoProto | list[onnx.ValueInfoProto],
) -> onnx.ModelProto:
    results = result if isinstance(result, list) else [result]
    graph = helper.make_graph(g.nodes, name, [source], results, initializer=g.inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="facesift"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def converted(source: ModelFile, kind: str) -> Path:
    """The ONNX graph of a bundled dlib network ("resnet" or "mmod"), converting if needed."""
    builders = {"resnet": _convert_resnet, "mmod": _convert_mmod}
    folder = cache_dir()
    path = folder / f"{source.name}-{source.sha256[:16]}-c{CONVERTER_VERSION}.onnx"
    if path.is_file():
        return path
    write_atomic(path, builders[kind](source.path).SerializeToString())
    for old in folder.glob(f"{source.name}-*.onnx"):
        if old != path:
            old.unlink(missing_ok=True)
    return path


def _convert_resnet(path: Path) -> onnx.ModelProto:
    net = dlib_format.read_network(path)
    return build_resnet(dlib_format.resolve_tags(net, dlib_format.face_resnet_template()))


def _convert_mmod(path: Path) -> onnx.ModelProto:
    net = dlib_format.read_network(path)
    return build_mmod(dlib_format.resolve_tags(net, dlib_format.mmod_template()))
