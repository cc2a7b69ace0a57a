"""Plug-in ONNX models, recognised by their inputs and outputs rather than by name.

- InsightFace SCRFD detector: one image input, 6/9/10/15 outputs (scores, boxes, keypoints
  per stride).
- OpenCV YuNet detector: outputs named cls_8, obj_8, bbox_8, kps_8, … for strides 8/16/32.
- ArcFace embedder (InsightFace): N×3×112×112 input, one N×512 output.
- SFace embedder (OpenCV): 1×3×112×112 input "data", one 128-d output "fc1".
"""

from __future__ import annotations

from pathlib import Path

from facesift.errors import ModelError
from facesift.vision.detect_onnx import ScrfdDetector, YunetDetector
from facesift.vision.embed import OnnxEmbedder, open_onnx_embedder
from facesift.vision.models.runtime import onnx_session

YUNET_OUTPUTS = {
    f"{kind}_{stride}" for kind in ("cls", "obj", "bbox", "kps") for stride in (8, 16, 32)
}


def open_onnx_model(path: str | Path) -> ScrfdDetector | YunetDetector | OnnxEmbedder:
    """The detector or embedder that the ONNX file at `path` is, or a ModelError saying why not."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    session = onnx_session(path)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    names = {o.name for o in outputs}
    shape = inputs[0].shape if len(inputs) == 1 else []
    if len(inputs) == 1 and len(shape) == 4 and shape[1] == 3:
        if names >= YUNET_OUTPUTS:
            return YunetDetector(path, session)
        if len(outputs) in (6, 9, 10, 15):
            return ScrfdDetector(path, session)
        if len(outputs) == 1 and shape[2] == 112 and shape[3] == 112:
            return open_onnx_embedder(path)
    signature = (
        ", ".join(f"{i.name}{i.shape}" for i in inputs)
        + " -> "
        + ", ".join(f"{o.name}{o.shape}" for o in outputs)
    )
    raise ModelError(
        f"{path}: not a recognised face model ({signature}); supported: SCRFD or YuNet "
        "detectors, ArcFace or SFace embedders"
    )
