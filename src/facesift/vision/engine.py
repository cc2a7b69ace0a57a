"""FaceEngine: detection, landmarks, alignment, quality and embedding in one object."""

from __future__ import annotations

import functools
import math
from dataclasses import replace
from typing import Any

import dlib
import numpy as np

from facesift.errors import ModelError
from facesift.media.image import ImageSource, load_image
from facesift.vision.align import five_points_from_68
from facesift.vision.detect import (
    CnnDetector,
    Detection,
    Detector,
    HogDetector,
    clip_box,
    detect_downscaled,
    detect_focused,
    to_rectangle,
    upsample_for,
)
from facesift.vision.embed import DlibEmbedder, Embedder, OnnxEmbedder
from facesift.vision.face import Box, Face, choose_primary
from facesift.vision.lowres import TEMPLATE_FACE_PX, context_crop, degrade
from facesift.vision.mmod import MmodOnnxDetector
from facesift.vision.models import LANDMARKS_5, LANDMARKS_68, ModelFile, bundled_model
from facesift.vision.models.mtcnn import mtcnn_available
from facesift.vision.models.runtime import (
    CUDA,
    available_providers,
    gpu_free_memory_mib,
    gpu_status,
)
from facesift.vision.mtcnn import MtcnnDetector
from facesift.vision.quality import assess_quality
from facesift.vision.similarity import cosine_similarity, l2_normalize

# Detection's pixel budget (the upsampled image's size) by default: on a CPU, what a 1080p
# frame upsampled once needs (HOG: ~1 s on one core); on a GPU, a 1080p frame upsampled twice,
# which MMOD needs to see faces of 30 px (0.11 s on an H200; benchmarks/gpu_runtime.py), where
# the GPU's free memory holds it.
CPU_DETECT_PIXELS = 9_000_000
GPU_DETECT_PIXELS = 36_000_000

# GPU memory one engine's process holds, by pixel budget: CUDA context, the ResNet and MMOD
# sessions, their shared arena (sized by the largest pyramid) and the cached pyramid graphs'
# sessions (~150 MiB each). Fitted on an H200: 4650 and 16530 MiB after a 1080p frame with
# budgets of 9 and 36 MP, 1.3 GiB more after 9 more image sizes (benchmarks/gpu_runtime.py).
GPU_ENGINE_BASE_MIB = 3100.0
GPU_ENGINE_MIB_PER_MEGAPIXEL = 440.0

# The thorough pass (used when a face is expected but none was found) runs the CNN detector on
# a copy of at most this many pixels: slow on a CPU, so only on a small copy.
THOROUGH_CNN_PIXELS = 400_000


class FaceEngine:
    """Finds faces in an image and turns each into a comparable embedding.

    Args:
        detector: "auto" (cnn where ONNX Runtime has a GPU, else mtcnn where its weights are
            installed, else hog), "mtcnn" (a learned cascade: the fastest on a CPU, with
            HOG's recall or better; facesift.vision.mtcnn), "hog" (dlib HOG: frontal faces),
            "cnn" (dlib's MMOD network: turned faces too; on an H200 8–30× HOG's speed on a
            CPU: benchmarks/gpu_runtime.py, measured 2026-11-28, not re-measured), or the path
            of an SCRFD or YuNet ONNX file.
        embedder: "dlib" (dlib's ResNet, bundled) or the path of an ArcFace or SFace ONNX file.
        flip: add the vector of each face's mirror image (dlib embedder; it helps 1:N search
            of degraded probes, rank-1 69.8% → 75.3%, not tuned 1:1 accuracy:
            benchmarks/results/lfw_identification.json, decisions.json).
        runtime: "onnx" runs the bundled dlib networks (ResNet embedder, MMOD detector) as
            converted ONNX graphs on ONNX Runtime, on a GPU when present; "dlib" runs them on
            dlib itself. The test suite holds the two to embeddings within cosine similarity
            0.9999 and MMOD boxes within 1 px, scores within 1e-3 of each other.
        min_face_px: smallest face width to look for; the image is upsampled as needed.
        max_detect_pixels: cap on the upsampled image size, which bounds time and memory on
            large photos; by default CPU_DETECT_PIXELS (a 1080p frame is upsampled once, a
            12 MP photo not at all), or where the detector runs on a GPU up to
            GPU_DETECT_PIXELS, as the GPU's free memory allows (gpu_detect_pixels).
    """

    def __init__(
        self,
        *,
        detector: str = "auto",
        embedder: str = "dlib",
        runtime: str = "onnx",
        flip: bool = True,
        min_face_px: float = 30.0,
        max_detect_pixels: float | None = None,
    ) -> None:
        self.detector_name = default_detector(runtime) if detector == "auto" else detector
        self.embedder_name = embedder
        self.runtime = runtime
        self.flip = flip
        self.min_face_px = float(min_face_px)
        if max_detect_pixels is None:
            max_detect_pixels = (
                gpu_detect_pixels(gpu_free_memory_mib())
                if self.detects_on_gpu
                else CPU_DETECT_PIXELS
            )
        self.max_detect_pixels = float(max_detect_pixels)
        self.detector: Detector = _open_detector(self.detector_name, runtime, self.min_face_px)
        self.embedder: Embedder = _open_embedder(embedder, runtime, flip)

    @property
    def detects_on_gpu(self) -> bool:
        return detects_on_gpu(self.detector_name, self.runtime)

    # dlib models load lazily: the CLI's listing commands should not pay for them.
    @functools.cached_property
    def _cnn(self) -> Detector:
        if self.detector_name == "cnn":
            return self.detector
        return MmodOnnxDetector() if self.runtime == "onnx" else CnnDetector()

    @functools.cached_property
    def landmarks_model(self) -> ModelFile:
        if self.embedder.landmarks == "dlib5":
            return bundled_model(LANDMARKS_5)
        return bundled_model(LANDMARKS_68)

    @functools.cached_property
    def _shape_predictor(self) -> Any:
        return dlib.shape_predictor(str(self.landmarks_model.path))

    @property
    def model_name(self) -> str:
        return self.embedder.name

    @property
    def model_sha256(self) -> str:
        return self.embedder.sha256

    def settings(self) -> dict[str, Any]:
        """The constructor arguments that reproduce this engine (e.g. in a worker process)."""
        return {
            "detector": self.detector_name,
            "embedder": self.embedder_name,
            "runtime": self.runtime,
            "flip": self.flip,
            "min_face_px": self.min_face_px,
            "max_detect_pixels": self.max_detect_pixels,
        }

    def describe(self) -> dict[str, Any]:
        """The models and settings in force: recorded with results as provenance. `gpu` says
        whether a GPU was asked for and answered, whether this engine uses it, and why not
        where it was asked for (facesift.vision.models.runtime.GpuStatus)."""
        detector_sha = getattr(self.detector, "sha256", None) or getattr(
            getattr(self.detector, "model", None), "sha256", None
        )
        runtime = self.embedder.runtime()
        used = (
            self.detects_on_gpu or CUDA in runtime.get("providers", []) or bool(runtime.get("cuda"))
        )
        return {
            "embedder": self.embedder.name,
            "embedder_sha256": self.embedder.sha256,
            "embedder_runtime": runtime,
            "landmarks": self.landmarks_model.name,
            "landmarks_sha256": self.landmarks_model.sha256,
            "detector": self.detector.name,
            "detector_sha256": detector_sha,
            "min_face_px": self.min_face_px,
            "max_detect_pixels": self.max_detect_pixels,
            "gpu": {**gpu_status().to_dict(), "used": used},
        }

    def analyze(self, image: ImageSource, *, thorough: bool = False) -> list[Face]:
        """All faces in `image` (path, bytes, PIL image or H×W×3 uint8 RGB), largest first.

        With `thorough`, an image where no face is found is searched again at a finer scale
        and with the CNN detector: for photos that are known to show a face (enrolment,
        verification), not for bulk scans.
        """
        return self.analyze_pixels(load_image(image).pixels, thorough=thorough)

    def analyze_pixels(
        self,
        rgb: np.ndarray,
        *,
        thorough: bool = False,
        focus: list[Box] | None = None,
        low_res_templates: bool = False,
    ) -> list[Face]:
        """As `analyze`, on pixels. `low_res_templates` adds each face's low-resolution
        template (for gallery faces; see facesift.vision.lowres)."""
        faces = self.describe_faces(rgb, self.detect(rgb, thorough=thorough, focus=focus))
        if low_res_templates:
            faces = [
                replace(f, low_res_embedding=self.low_resolution_template(rgb, f)) for f in faces
            ]
        return faces

    def low_resolution_template(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        """Unit mean of the face's embedding and of those of degraded copies of it."""
        vectors = [face.embedding, *self.degraded_embeddings(rgb, face, TEMPLATE_FACE_PX)]
        return l2_normalize(l2_normalize(np.stack(vectors)).mean(axis=0))[0]

    def detect(
        self, rgb: np.ndarray, *, thorough: bool = False, focus: list[Box] | None = None
    ) -> list[Detection]:
        """Faces down to `min_face_px` wide. With `focus`, faces smaller than twice that are
        looked for only inside those regions (see detect_focused): how video frames between
        full scans are searched."""

        def upsample(min_face_px: float) -> int:
            return upsample_for(
                rgb.shape, min_face_px, self.max_detect_pixels, self.detector.smallest_face_px
            )

        wanted = upsample(self.min_face_px)
        if focus is not None:
            coarse = upsample(2 * self.min_face_px)
            if coarse < wanted:
                return detect_focused(self.detector, rgb, coarse, wanted, focus)
        detections = self.detector(rgb, wanted)
        if detections or not thorough:
            return detections
        finer = upsample(self.min_face_px / 2)
        if finer > wanted:
            detections = self.detector(rgb, finer)
        if not detections and self.detector_name in ("hog", "mtcnn"):
            small = rgb.shape[0] * rgb.shape[1] <= THOROUGH_CNN_PIXELS / 4
            detections = detect_downscaled(self._cnn, rgb, THOROUGH_CNN_PIXELS, int(small))
        return detections

    def landmarks(self, rgb: np.ndarray, detection: Detection) -> np.ndarray:
        """The points the embedder aligns on: dlib's 5 points, or eyes, nose and mouth."""
        keypoints = detection.keypoints
        if (
            self.embedder.landmarks == "five_point"
            and keypoints is not None
            and np.isfinite(keypoints).all()
        ):
            return np.asarray(keypoints, np.float32)
        shape = self._shape_predictor(rgb, to_rectangle(detection.box))
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
        if self.embedder.landmarks == "five_point":
            return five_points_from_68(points).astype(np.float32)
        return points

    def degraded_embeddings(
        self, rgb: np.ndarray, face: Face, widths: tuple[float, ...]
    ) -> list[np.ndarray]:
        """Embeddings of copies of `face` shrunk to each width (blurred, JPEG-compressed:
        facesift.vision.lowres.degrade), each analysed as a probe would be; widths at or above
        the face's own, and copies where no face is found, are skipped."""
        crop = context_crop(rgb, face.bbox)
        vectors = []
        for width in widths:
            scale = width / max(face.width, 1.0)
            if scale >= 1.0:
                continue
            small = degrade(crop, scale)
            found, _ = choose_primary(
                self.analyze_pixels(small, thorough=True), small.shape, "central"
            )
            if found is not None:
                vectors.append(found.embedding)
        return vectors

    def describe_faces(self, rgb: np.ndarray, detections: list[Detection]) -> list[Face]:
        """Landmarks, aligned chip, quality and embedding for each detection (one batch)."""
        if not detections:
            return []
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        points = [self.landmarks(rgb, d) for d in detections]
        boxes = [to_rectangle(d.box) for d in detections]
        chips = self.embedder.align(rgb, boxes, points)
        vectors = self.embedder.embed(chips)
        faces = [
            Face(
                bbox=clip_box(detection.box, rgb.shape),
                landmarks=pts,
                det_score=detection.score,
                detector=detection.detector,
                quality=assess_quality(chip, detection.box[2] - detection.box[0]),
                embedding=vector,
                chip=chip,
            )
            for detection, pts, chip, vector in zip(detections, points, chips, vectors, strict=True)
        ]
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces

    def embed_chips(self, chips: list[np.ndarray]) -> np.ndarray:
        """Embeddings (n×d float32) of chips aligned for this engine's embedder, in one batch."""
        return self.embedder.embed(chips)

    @staticmethod
    def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Scores between embeddings a (n×d) and b (m×d): n×m, higher is more similar."""
        return cosine_similarity(a, b)


def default_detector(runtime: str) -> str:
    """What "auto" means here: on a GPU the MMOD network, its pyramid and network both on the
    device, 8–30× faster than HOG on a CPU and finding more faces (H200, 2026-11-28:
    benchmarks/gpu_runtime.py, not re-measured); on a CPU MTCNN, the fastest detector there
    whose recall is at least HOG's (benchmarks/results/detection.json), or HOG where MTCNN's
    weights are not installed."""
    if detects_on_gpu("cnn", runtime):
        return "cnn"
    return "mtcnn" if mtcnn_available() else "hog"


def gpu_engine_mib(max_detect_pixels: float) -> float:
    """GPU memory one engine (one scan process) holds with this pixel budget."""
    return GPU_ENGINE_BASE_MIB + GPU_ENGINE_MIB_PER_MEGAPIXEL * max_detect_pixels / 1e6


def gpu_detect_pixels(free_mib: float | None) -> float:
    """The default pixel budget on a GPU with `free_mib` free: GPU_DETECT_PIXELS, or as much as
    one engine can use there (a CPU's budget where the free memory is unknown)."""
    if free_mib is None:
        return float(CPU_DETECT_PIXELS)
    fits = (free_mib - GPU_ENGINE_BASE_MIB) / GPU_ENGINE_MIB_PER_MEGAPIXEL * 1e6
    return float(max(1_000_000, min(GPU_DETECT_PIXELS, math.floor(fits / 1e5) * 1e5)))


def detects_on_gpu(detector: str, runtime: str) -> bool:
    return detector == "cnn" and runtime == "onnx" and CUDA in available_providers()


def _open_detector(name: str, runtime: str, min_face_px: float) -> Detector:
    if name == "hog":
        return HogDetector()
    if name == "mtcnn":
        # Its pyramid starts at the smallest wanted face: no upsampling steps (upsample_for).
        return MtcnnDetector(smallest_face_px=min_face_px)
    if name == "cnn":
        return MmodOnnxDetector() if runtime == "onnx" else CnnDetector()
    if name.endswith(".onnx"):
        from facesift.vision.plugins import open_onnx_model

        model = open_onnx_model(name)
        if isinstance(model, OnnxEmbedder):
            raise ModelError(f"{name}: this is an embedder, not a detector")
        return model
    raise ModelError(
        f"unknown detector {name!r}: choose 'auto', 'hog', 'mtcnn', 'cnn' or an ONNX file"
    )


def _open_embedder(name: str, runtime: str, flip: bool) -> Embedder:
    if name == "dlib":
        return DlibEmbedder(runtime, flip)
    if name.endswith(".onnx"):
        from facesift.vision.plugins import open_onnx_model

        model = open_onnx_model(name)
        if not isinstance(model, OnnxEmbedder):
            raise ModelError(f"{name}: this is a detector, not an embedder")
        return model
    raise ModelError(f"unknown embedder {name!r}: choose 'dlib' or an ONNX file")
