"""MTCNN's three networks (Zhang et al. 2016) as ONNX graphs, from facenet-pytorch's weights.

The `facenet-pytorch` wheel ships the weights as PyTorch state dicts
(`facenet_pytorch/data/{pnet,rnet,onet}.pt`, 2 MB together). They are read without PyTorch
(facesift.vision.models.torch_format) and the graphs are built in code in memory at first use
(a few milliseconds): nothing is downloaded and neither PyTorch nor the package's own code is
imported, so the package can be installed without its PyTorch dependency
(`pip install --no-deps facenet-pytorch`).

The layers follow facenet-pytorch's `PNet`, `RNet` and `ONet`: 3×3 convolutions with PReLU,
max pooling with ceil rounding, and fully connected heads over the last feature map flattened
in (width, height, channel) order (the weights were ported from a column-major framework).
Each graph takes N×3×H×W RGB pixels in 0–255 and normalises them itself.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from facesift.errors import ModelError
from facesift.vision.models.convert import GraphBuilder, finish_model
from facesift.vision.models.torch_format import read_state_dict

WEIGHTS_PACKAGE = "facenet_pytorch"
NETWORKS = ("pnet", "rnet", "onet")
# R-Net's and O-Net's input side (P-Net is fully convolutional).
INPUT_SIDE = {"rnet": 24, "onet": 48}
INSTALL_HINT = "pip install --no-deps 'facenet-pytorch>=2.5,<3'"


@dataclass(frozen=True)
class MtcnnWeights:
    """The three weights files and their joint identity, recorded with every result."""

    paths: dict[str, Path]

    @functools.cached_property
    def sha256(self) -> str:
        """SHA-256 over the three files, in P, R, O order."""
        digest = hashlib.sha256()
        for net in NETWORKS:
            digest.update(self.paths[net].read_bytes())
        return digest.hexdigest()


def mtcnn_available() -> bool:
    """Whether the weights are installed (the `auto` detector needs to know without failing)."""
    try:
        mtcnn_weights()
    except ModelError:
        return False
    return True


def mtcnn_weights() -> MtcnnWeights:
    """The installed weights, or a ModelError saying how to install them."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)  # finds the folder without importing torch
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        paths = {net: Path(location) / "data" / f"{net}.pt" for net in NETWORKS}
        if all(p.is_file() for p in paths.values()):
            return MtcnnWeights(paths)
    raise ModelError(
        "the MTCNN detector's weights come from the 'facenet-pytorch' package, which is not "
        f"installed; install it without PyTorch: {INSTALL_HINT}"
    )


def build_graph(net: str, weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """The ONNX graph of one of the networks ("pnet", "rnet", "onet") with these weights."""
    g = GraphBuilder()
    x = g.op(
        "Mul",
        [
            g.op("Sub", ["image", g.const("mean", np.array(127.5, np.float32))]),
            g.const("scale", np.array(0.0078125, np.float32)),
        ],
    )

    def layer(op: str, x: str, name: str, prelu: str | None, **attrs: int) -> str:
        """A Conv or Gemm layer (PyTorch's weight and bias), then PReLU when named."""
        weight, bias = weights[f"{name}.weight"], weights[f"{name}.bias"]
        y = g.op(op, [x, g.const(f"{name}_w", weight), g.const(f"{name}_b", bias)], name, **attrs)
        if prelu is None:
            return y
        slope = weights[f"{prelu}.weight"]
        if op == "Conv":  # one slope per channel, broadcast over height and width
            slope = slope.reshape(-1, 1, 1)
        return g.op("PRelu", [y, g.const(f"{prelu}_slope", slope)], prelu)

    def conv(x: str, name: str, prelu: str | None) -> str:
        return layer("Conv", x, name, prelu)

    def dense(x: str, name: str, prelu: str | None) -> str:
        return layer("Gemm", x, name, prelu, transB=1)

    def pool(x: str, size: int, stride: int) -> str:
        return g.op(
            "MaxPool", [x], "pool", kernel_shape=[size, size], strides=[stride, stride], ceil_mode=1
        )

    def flatten_whc(x: str) -> str:
        return g.op("Flatten", [g.op("Transpose", [x], perm=[0, 3, 2, 1])], axis=1)

    outputs: dict[str, str] = {}
    if net == "pnet":
        x = conv(x, "conv1", "prelu1")
        x = pool(x, 2, 2)
        x = conv(conv(x, "conv2", "prelu2"), "conv3", "prelu3")
        outputs["prob"] = g.op("Softmax", [conv(x, "conv4_1", None)], axis=1)
        outputs["reg"] = conv(x, "conv4_2", None)
    elif net == "rnet":
        x = pool(conv(x, "conv1", "prelu1"), 3, 2)
        x = pool(conv(x, "conv2", "prelu2"), 3, 2)
        x = dense(flatten_whc(conv(x, "conv3", "prelu3")), "dense4", "prelu4")
        outputs["prob"] = g.op("Softmax", [dense(x, "dense5_1", None)], axis=1)
        outputs["reg"] = dense(x, "dense5_2", None)
    elif net == "onet":
        x = pool(conv(x, "conv1", "prelu1"), 3, 2)
        x = pool(conv(x, "conv2", "prelu2"), 3, 2)
        x = pool(conv(x, "conv3", "prelu3"), 2, 2)
        x = dense(flatten_whc(conv(x, "conv4", "prelu4")), "dense5", "prelu5")
        outputs["prob"] = g.op("Softmax", [dense(x, "dense6_1", None)], axis=1)
        outputs["reg"] = dense(x, "dense6_2", None)
        outputs["points"] = dense(x, "dense6_3", None)
    else:
        raise ValueError(f"unknown MTCNN network {net!r}")
    results = []
    for name, tensor in outputs.items():
        g.nodes.append(helper.make_node("Identity", [tensor], [name], name=name))
        rank = 4 if net == "pnet" else 2
        results.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [None] * rank))
    dims: list[str | int] = (
        ["N", 3, "H", "W"] if net == "pnet" else ["N", 3, *[INPUT_SIDE[net]] * 2]
    )
    source = helper.make_tensor_value_info("image", TensorProto.FLOAT, dims)
    return finish_model(g, f"mtcnn_{net}", source, results)


def mtcnn_graphs(weights: MtcnnWeights) -> dict[str, bytes]:
    """Serialized ONNX graphs of the three networks, by name."""
    return {
        net: build_graph(net, read_state_dict(weights.paths[net])).SerializeToString()
        for net in NETWORKS
    }
