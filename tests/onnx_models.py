"""Tiny ONNX models with the signatures of real face models, built in code for the tests.

Weights are chosen, not trained: the detectors fire on white 8×8 cells of a black image and
place fixed-size boxes, the embedders average the chip's channels through a known matrix, so
the tests can predict every output exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def save_model(nodes, inputs, outputs, inits, path: Path) -> Path:
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def _const(inits: list, name: str, value: np.ndarray) -> str:
    inits.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
    return name


def _head(nodes, inits, source, name, channels, weight, bias, per_row, sigmoid=False, batch=False):
    """1×1 conv of the pooled input -> [cells*anchors, per_row] (or [1, cells, per_row])."""
    w = _const(inits, f"{name}_w", np.full((channels, 3, 1, 1), weight))
    b = _const(inits, f"{name}_b", np.full(channels, bias) if np.isscalar(bias) else bias)
    nodes.append(helper.make_node("Conv", [source, w, b], [f"{name}_conv"]))
    last = f"{name}_conv"
    if sigmoid:
        nodes.append(helper.make_node("Sigmoid", [last], [f"{name}_sig"]))
        last = f"{name}_sig"
    nodes.append(helper.make_node("Transpose", [last], [f"{name}_t"], perm=[0, 2, 3, 1]))
    shape = [1, -1, per_row] if batch else [-1, per_row]
    inits.append(numpy_helper.from_array(np.array(shape, np.int64), f"{name}_shape"))
    nodes.append(helper.make_node("Reshape", [f"{name}_t", f"{name}_shape"], [name]))


def scrfd_like(path: Path) -> Path:
    """SCRFD signature: input.1 [1,3,H,W] -> 3 scores, 3 box distances, 3 keypoint sets."""
    nodes, inits = [], []
    image = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "H", "W"])
    outputs = {"score": [], "bbox": [], "kps": []}
    for stride in (8, 16, 32):
        pooled = f"pool{stride}"
        nodes.append(
            helper.make_node(
                "AveragePool",
                ["input.1"],
                [pooled],
                kernel_shape=[stride, stride],
                strides=[stride, stride],
            )
        )
        # (x - 127.5) / 128 is ~+1 on white and ~-1 on black: only stride 8 fires, on white.
        score_bias = -10.0 if stride == 8 else -100.0
        _head(nodes, inits, pooled, f"score_{stride}", 2, 20.0 / 3, score_bias, 1, sigmoid=True)
        _head(nodes, inits, pooled, f"bbox_{stride}", 8, 0.0, 1.0, 4)  # distance 1 stride each side
        _head(nodes, inits, pooled, f"kps_{stride}", 20, 0.0, 0.0, 10)  # keypoints on the centre
        for kind in outputs:
            outputs[kind].append(f"{kind}_{stride}")
    names = outputs["score"] + outputs["bbox"] + outputs["kps"]
    values = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", "m"]) for n in names]
    return save_model(nodes, [image], values, inits, path)


def yunet_like(path: Path) -> Path:
    """YuNet signature: input [1,3,H,W] (BGR 0–255) -> cls/obj/bbox/kps for strides 8/16/32."""
    nodes, inits = [], []
    image = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "H", "W"])
    names = []
    for stride in (8, 16, 32):
        pooled = f"pool{stride}"
        nodes.append(
            helper.make_node(
                "AveragePool",
                ["input"],
                [pooled],
                kernel_shape=[stride, stride],
                strides=[stride, stride],
            )
        )
        cls_bias = -10.0 if stride == 8 else -100.0
        _head(
            nodes,
            inits,
            pooled,
            f"cls_{stride}",
            1,
            20.0 / (3 * 255),
            cls_bias,
            1,
            sigmoid=True,
            batch=True,
        )
        _head(nodes, inits, pooled, f"obj_{stride}", 1, 0.0, 100.0, 1, sigmoid=True, batch=True)
        box_bias = np.array([0.5, 0.5, np.log(2.0), np.log(2.0)], np.float32)  # centred, 2 strides
        _head(nodes, inits, pooled, f"bbox_{stride}", 4, 0.0, box_bias, 4, batch=True)
        _head(nodes, inits, pooled, f"kps_{stride}", 10, 0.0, 0.5, 10, batch=True)
        names += [f"cls_{stride}", f"obj_{stride}", f"bbox_{stride}", f"kps_{stride}"]
    values = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, "n", "m"]) for n in names]
    return save_model(nodes, [image], values, inits, path)


def embedder_like(path: Path, kind: str, weights: np.ndarray) -> Path:
    """ArcFace ("input.1" [N,3,112,112] -> [N,512]) or SFace ("data" [1,…] -> "fc1" [1,128]):
    the mean of each input channel times `weights` (3×dim)."""
    inits: list = []
    arcface = kind == "arcface"
    name_in, name_out = ("input.1", "683") if arcface else ("data", "fc1")
    batch = "N" if arcface else 1
    image = helper.make_tensor_value_info(name_in, TensorProto.FLOAT, [batch, 3, 112, 112])
    out = helper.make_tensor_value_info(name_out, TensorProto.FLOAT, [batch, weights.shape[1]])
    nodes = [
        helper.make_node("GlobalAveragePool", [name_in], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"]),
        helper.make_node("MatMul", ["flat", _const(inits, "w", weights)], [name_out]),
    ]
    return save_model(nodes, [image], [out], inits, path)
