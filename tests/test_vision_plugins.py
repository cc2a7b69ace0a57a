"""Plug-in ONNX models: recognised by signature, preprocessed and decoded as their makers do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx_models import embedder_like, save_model, scrfd_like, yunet_like

from facesift import FaceEngine, ModelError, Workspace
from facesift.vision.align import ARCFACE_TEMPLATE_112, align_to_template, similarity_transform
from facesift.vision.detect import nms
from facesift.vision.detect_onnx import ScrfdDetector, YunetDetector
from facesift.vision.embed import OnnxEmbedder
from facesift.vision.plugins import open_onnx_model


def _image_with_white_cell(row: int, col: int, size: int = 640) -> np.ndarray:
    image = np.zeros((size, size, 3), np.uint8)
    image[row * 8 : row * 8 + 8, col * 8 : col * 8 + 8] = 255
    return image


def test_scrfd_signature_preprocessing_and_decoding(tmp_path: Path) -> None:
    detector = open_onnx_model(scrfd_like(tmp_path / "scrfd_tiny.onnx"))
    assert isinstance(detector, ScrfdDetector) and detector.with_keypoints
    detections = detector(_image_with_white_cell(row=5, col=7))
    # One detection (the cell's two anchors merge in NMS), anchored at the cell's corner
    # (56, 40) with a distance of one stride to each side.
    assert len(detections) == 1
    assert np.allclose(detections[0].box, (48, 32, 64, 48), atol=1e-3)
    assert np.allclose(detections[0].keypoints, [[56, 40]] * 5, atol=1e-3)
    # A 320×320 photo is scaled ×2 into the 640×640 input: boxes come back in its pixels.
    small = _image_with_white_cell(row=5, col=7)[::2, ::2]
    small[:] = 0
    small[20:24, 28:32] = 255  # the same place at half scale
    back = detector(small)
    assert len(back) == 1 and np.allclose(back[0].box, (24, 16, 32, 24), atol=1e-3)
    assert detector(np.zeros((100, 100, 3), np.uint8)) == []


def test_yunet_signature_preprocessing_and_decoding(tmp_path: Path) -> None:
    detector = open_onnx_model(yunet_like(tmp_path / "yunet_tiny.onnx"))
    assert isinstance(detector, YunetDetector)
    detections = detector(_image_with_white_cell(row=5, col=7))
    assert len(detections) == 1
    # Centre (7.5, 5.5) strides, size exp(log 2) = 2 strides.
    assert np.allclose(detections[0].box, (52, 36, 68, 52), atol=1e-3)
    assert np.allclose(detections[0].keypoints, [[60, 44]] * 5, atol=1e-3)
    assert detections[0].score == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(("kind", "dim"), [("arcface", 512), ("sface", 128)])
def test_embedders_preprocess_as_their_makers_do(
    tmp_path: Path, kind: str, dim: int, hopper_rgb: np.ndarray
) -> None:
    weights = np.random.default_rng(3).normal(size=(3, dim)).astype(np.float32)
    embedder = open_onnx_model(embedder_like(tmp_path / f"{kind}_tiny.onnx", kind, weights))
    assert isinstance(embedder, OnnxEmbedder) and embedder.kind == kind and embedder.dim == dim
    points = np.array([[230, 215], [310, 215], [272, 260], [238, 300], [305, 300]], np.float32)
    chips = embedder.align(hopper_rgb, [None, None], [points, points + 3])
    assert chips[0].shape == (112, 112, 3)
    vectors = embedder.embed(chips)
    means = np.stack([c.reshape(-1, 3).mean(0) for c in chips])  # RGB order
    scaled = (means - 127.5) / 127.5 if kind == "arcface" else means
    assert vectors.shape == (2, dim)
    assert np.allclose(vectors, scaled @ weights, rtol=1e-4, atol=1e-3)


def test_unknown_models_are_refused_clearly(tmp_path: Path) -> None:
    weights = np.ones((3, 64), np.float32)
    odd = embedder_like(tmp_path / "odd.onnx", "arcface", weights)
    with pytest.raises(ModelError, match="no such model file"):
        open_onnx_model(tmp_path / "missing.onnx")
    (tmp_path / "garbage.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load as an ONNX model"):
        open_onnx_model(tmp_path / "garbage.onnx")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])
    other = save_model(
        [helper.make_node("Relu", ["x"], ["y"])], [x], [y], [], tmp_path / "relu.onnx"
    )
    with pytest.raises(ModelError, match="not a recognised face model"):
        open_onnx_model(other)
    with pytest.raises(ModelError, match="is an embedder, not a detector"):
        FaceEngine(detector=str(odd))


def test_plugin_embedder_end_to_end_never_mixes_models(
    tmp_path: Path, hopper_path: Path, engine: FaceEngine
) -> None:
    weights = np.random.default_rng(5).normal(size=(3, 512)).astype(np.float32)
    model = embedder_like(tmp_path / "arcface_tiny.onnx", "arcface", weights)
    arc = FaceEngine(embedder=str(model))
    faces = arc.analyze(hopper_path)
    assert len(faces) == 1 and faces[0].embedding.shape == (512,)
    assert faces[0].landmarks.shape == (5, 2)  # eyes, nose, mouth from dlib's 68 points
    # Enrolled with dlib's model, the gallery has nothing comparable for the ArcFace engine.
    Workspace(tmp_path / "ws", engine=engine).enroll("Grace Hopper", [hopper_path])
    arc_ws = Workspace(tmp_path / "ws", engine=arc)
    assert arc_ws.search(hopper_path).faces[0].candidates == []
    assert Workspace(tmp_path / "ws", engine=engine).search(hopper_path).faces[0].candidates


def test_alignment_puts_landmarks_on_the_template() -> None:
    rng = np.random.default_rng(0)
    angle, scale, shift = 0.3, 2.5, np.array([40.0, -12.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = (ARCFACE_TEMPLATE_112 - shift) @ np.linalg.inv(scale * rotation).T
    matrix = similarity_transform(src, ARCFACE_TEMPLATE_112)
    mapped = src @ matrix[:, :2].T + matrix[:, 2]
    assert np.allclose(mapped, ARCFACE_TEMPLATE_112, atol=1e-6)
    image = rng.integers(0, 255, (300, 300, 3)).astype(np.uint8)
    assert align_to_template(image, src).shape == (112, 112, 3)


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    scores = np.array([0.8, 0.9, 0.7])
    assert nms(boxes, scores, 0.4).tolist() == [1, 2]
