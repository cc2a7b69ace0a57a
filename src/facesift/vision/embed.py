"""Embedders: aligned face chips in, float32 vectors out, in batches.

Each embedder says which landmarks its alignment needs: "dlib5" (dlib's 5-point shape
predictor) or "five_point" (eye centres, nose tip, mouth corners, as SCRFD and YuNet return).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any, Protocol

import dlib
import numpy as np

from facesift.vision.align import align_to_template
from facesift.vision.models import EMBEDDER, bundled_model
from facesift.vision.models.runtime import onnx_session, padded_batch, session_info

DLIB_CHIP_SIZE = 150
DLIB_CHIP_PADDING = 0.25


class Embedder(Protocol):
    name: str
    landmarks: str  # "dlib5" or "five_point"
    dim: int

    @property
    def sha256(self) -> str: ...

    def align(
        self, rgb: np.ndarray, boxes: list[dlib.rectangle], points: list[np.ndarray]
    ) -> list[np.ndarray]: ...

    def embed(self, chips: list[np.ndarray]) -> np.ndarray: ...

    def runtime(self) -> dict[str, Any]: ...


class DlibEmbedder:
    """dlib's ResNet: on ONNX Runtime (default) or on dlib itself. 99.38% on LFW is dlib's
    published figure (dlib's examples/dnn_face_recognition_ex.cpp, February 2017), not a
    facesift measurement; facesift's own on LFW View 1 DevTest is below.

    The ONNX graph is converted from the same weights file; its vectors are within cosine
    similarity 0.9999 of dlib's for every face the test suite compares (sample photos, noise
    chips and over 110 LFW and shared-media faces: tests/test_vision_convert.py), so both
    runtimes share one model identity and their embeddings are comparable.

    With `flip` (the default) a face's vector is the sum of the vectors of its chip and of the
    chip's mirror image: on LFW View 1 this raised DevTest accuracy from 98.3% to 98.8% and
    rank-1 on degraded probes by 2–3 points (benchmarks/decisions.py). It is part of the
    embedding's identity (the name ends in "+flip"), so vectors made with and without it are
    never compared.
    """

    landmarks = "dlib5"
    dim = 128
    batch_size = 64

    def __init__(self, runtime: str = "onnx", flip: bool = True) -> None:
        if runtime not in ("onnx", "dlib"):
            raise ValueError(f"unknown runtime {runtime!r}: choose 'onnx' or 'dlib'")
        self.runtime_name = runtime
        self.flip = flip
        self.model = bundled_model(EMBEDDER)
        self.name = self.model.name + ("+flip" if flip else "")

    @property
    def sha256(self) -> str:
        return self.model.sha256

    @functools.cached_property
    def _net(self) -> Any:
        return dlib.face_recognition_model_v1(str(self.model.path))

    @functools.cached_property
    def _session(self) -> Any:
        from facesift.vision.models.convert import converted

        return onnx_session(converted(self.model, "resnet"))

    def align(
        self, rgb: np.ndarray, boxes: list[dlib.rectangle], points: list[np.ndarray]
    ) -> list[np.ndarray]:
        """dlib's own chips: 150×150, padding 0.25, from the 5-point landmarks."""
        shapes = dlib.full_object_detections()
        for box, pts in zip(boxes, points, strict=True):
            parts = [dlib.point(round(x), round(y)) for x, y in pts]
            shapes.append(dlib.full_object_detection(box, parts))
        chips = dlib.get_face_chips(rgb, shapes, DLIB_CHIP_SIZE, DLIB_CHIP_PADDING)
        return [np.asarray(c) for c in chips]

    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        if not self.flip:
            return self.embed_once(chips)
        mirrored = [np.ascontiguousarray(chip[:, ::-1]) for chip in chips]
        both = self.embed_once(list(chips) + mirrored)
        return both[: len(chips)] + both[len(chips) :]

    def embed_once(self, chips: list[np.ndarray]) -> np.ndarray:
        """The network's vectors for the chips as they are (no test-time augmentation)."""
        if not chips:
            return np.zeros((0, self.dim), np.float32)
        if self.runtime_name == "dlib":
            vectors = self._net.compute_face_descriptor(chips)
            return np.asarray([np.asarray(v) for v in vectors], dtype=np.float32)
        batches = []
        for k in range(0, len(chips), self.batch_size):
            batch = np.stack(chips[k : k + self.batch_size])
            padded = padded_batch(self._session, batch)
            batches.append(self._session.run(None, {"chips": padded})[0][: len(batch)])
        return np.concatenate(batches).astype(np.float32)

    def runtime(self) -> dict[str, Any]:
        if self.runtime_name == "dlib":
            return {"runtime": "dlib", "cuda": bool(dlib.DLIB_USE_CUDA)}
        info = session_info(self._session)
        return {"runtime": "onnxruntime", "providers": info.providers, "threads": info.threads}


class OnnxEmbedder:
    """A plug-in ArcFace-family model (InsightFace ArcFace, OpenCV SFace) on ONNX Runtime.

    Both take 112×112 RGB chips aligned on the ArcFace landmark template; ArcFace scales pixels
    to [-1, 1] (unless its graph does it itself), SFace takes them as they are.
    """

    landmarks = "five_point"

    def __init__(self, path: str | Path, session: Any, kind: str, mean: float, std: float) -> None:
        self.path = Path(path)
        self.kind = kind
        self.name = f"{kind}:{self.path.stem}"
        self._session = session
        self._input = session.get_inputs()[0].name
        self.dim = int(session.get_outputs()[0].shape[-1])
        self.mean, self.std = mean, std
        batch = session.get_inputs()[0].shape[0]
        self._fixed_batch = batch if isinstance(batch, int) and batch > 0 else None

    @functools.cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def align(
        self, rgb: np.ndarray, boxes: list[dlib.rectangle], points: list[np.ndarray]
    ) -> list[np.ndarray]:
        return [align_to_template(rgb, pts) for pts in points]

    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        if not chips:
            return np.zeros((0, self.dim), np.float32)
        batch = np.stack(chips).astype(np.float32).transpose(0, 3, 1, 2)
        batch = (batch - self.mean) / self.std
        if self._fixed_batch == 1:
            outputs = [
                self._session.run(None, {self._input: batch[k : k + 1]})[0]
                for k in range(len(batch))
            ]
            return np.concatenate(outputs).astype(np.float32)
        return self._session.run(None, {self._input: batch})[0].astype(np.float32)

    def runtime(self) -> dict[str, Any]:
        info = session_info(self._session)
        return {"runtime": "onnxruntime", "providers": info.providers, "threads": info.threads}


def open_onnx_embedder(path: str | Path) -> OnnxEmbedder:
    """Open an ArcFace-family ONNX file; see facesift.vision.models.plugins for recognition."""
    session = onnx_session(path)
    outputs = session.get_outputs()
    dim = outputs[0].shape[-1]
    if dim == 128 and outputs[0].name == "fc1":
        return OnnxEmbedder(path, session, "sface", mean=0.0, std=1.0)
    mean, std = (0.0, 1.0) if _normalises_itself(path) else (127.5, 127.5)
    return OnnxEmbedder(path, session, "arcface", mean=mean, std=std)


def _normalises_itself(path: str | Path) -> bool:
    """InsightFace's rule: a graph that starts with Sub/Mul scales its own input."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return any(node.op_type in ("Sub", "Mul") for node in graph.node[:8])
