"""FaceEngine: detection, landmarks, alignment, quality and embedding in one object."""

from __future__ import annotations

import functools
from typing import Any

import dlib
import numpy as np

from facesift.match.similarity import cosine_similarity
from facesift.media.image import ImageSource, load_image
from facesift.vision.detect import (
    CnnDetector,
    Detection,
    Detector,
    HogDetector,
    clip_box,
    detect_downscaled,
    to_rectangle,
    upsample_for,
)
from facesift.vision.face import Face
from facesift.vision.models import EMBEDDER, LANDMARKS_5, bundled_model
from facesift.vision.quality import assess_quality

CHIP_SIZE = 150
CHIP_PADDING = 0.25
# The thorough pass (used when a face is expected but none was found) runs the CNN detector on
# a copy of at most this many pixels: slow on a CPU, so only on a small copy.
THOROUGH_CNN_PIXELS = 400_000


class FaceEngine:
    """Finds faces in an image and turns each into a comparable embedding.

    Args:
        detector: "hog" (fast, frontal faces) or "cnn" (dlib's MMOD network: turned faces too,
            about 30× slower on a CPU).
        min_face_px: smallest face width to look for; the image is upsampled as needed.
        max_detect_pixels: cap on the upsampled image size, which bounds time and memory on
            large photos (a 1080p frame is upsampled once; a 12 MP photo is not).
    """

    def __init__(
        self,
        *,
        detector: str = "hog",
        min_face_px: float = 40.0,
        max_detect_pixels: float = 9_000_000,
    ) -> None:
        if detector not in ("hog", "cnn"):
            raise ValueError(f"unknown detector {detector!r}: choose 'hog' or 'cnn'")
        self.detector_name = detector
        self.min_face_px = float(min_face_px)
        self.max_detect_pixels = float(max_detect_pixels)
        self.embedder_model = bundled_model(EMBEDDER)
        self.landmarks_model = bundled_model(LANDMARKS_5)

    # Models load lazily: the CLI's listing commands should not pay for them.
    @functools.cached_property
    def _detector(self) -> Detector:
        return HogDetector() if self.detector_name == "hog" else CnnDetector()

    @functools.cached_property
    def _cnn(self) -> CnnDetector:
        return self._detector if isinstance(self._detector, CnnDetector) else CnnDetector()

    @functools.cached_property
    def _shape_predictor(self) -> Any:
        return dlib.shape_predictor(str(self.landmarks_model.path))

    @functools.cached_property
    def _embedder(self) -> Any:
        return dlib.face_recognition_model_v1(str(self.embedder_model.path))

    @property
    def model_name(self) -> str:
        return self.embedder_model.name

    @property
    def model_sha256(self) -> str:
        return self.embedder_model.sha256

    def settings(self) -> dict[str, Any]:
        """The constructor arguments that reproduce this engine (e.g. in a worker process)."""
        return {
            "detector": self.detector_name,
            "min_face_px": self.min_face_px,
            "max_detect_pixels": self.max_detect_pixels,
        }

    def describe(self) -> dict[str, Any]:
        """The models and settings in force: recorded with results as provenance."""
        return {
            "embedder": self.embedder_model.name,
            "embedder_sha256": self.embedder_model.sha256,
            "landmarks": self.landmarks_model.name,
            "landmarks_sha256": self.landmarks_model.sha256,
            "detector": self.detector_name,
            "min_face_px": self.min_face_px,
            "max_detect_pixels": self.max_detect_pixels,
            "chip": {"size": CHIP_SIZE, "padding": CHIP_PADDING},
        }

    def analyze(self, image: ImageSource, *, thorough: bool = False) -> list[Face]:
        """All faces in `image` (path, bytes, PIL image or H×W×3 uint8 RGB), largest first.

        With `thorough`, an image where no face is found is searched again at a finer scale
        and with the CNN detector: for photos that are known to show a face (enrolment,
        verification), not for bulk scans.
        """
        return self.analyze_pixels(load_image(image).pixels, thorough=thorough)

    def analyze_pixels(self, rgb: np.ndarray, *, thorough: bool = False) -> list[Face]:
        return self.describe_faces(rgb, self.detect(rgb, thorough=thorough))

    def detect(self, rgb: np.ndarray, *, thorough: bool = False) -> list[Detection]:
        upsample = upsample_for(rgb.shape, self.min_face_px, self.max_detect_pixels)
        detections = self._detector(rgb, upsample)
        if detections or not thorough:
            return detections
        finer = upsample_for(rgb.shape, self.min_face_px / 2, self.max_detect_pixels)
        if finer > upsample:
            detections = self._detector(rgb, finer)
        if not detections and self.detector_name == "hog":
            small = rgb.shape[0] * rgb.shape[1] <= THOROUGH_CNN_PIXELS / 4
            detections = detect_downscaled(self._cnn, rgb, THOROUGH_CNN_PIXELS, int(small))
        return detections

    def describe_faces(self, rgb: np.ndarray, detections: list[Detection]) -> list[Face]:
        """Landmarks, aligned chip, quality and embedding for each detection (one batch)."""
        if not detections:
            return []
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        shapes = dlib.full_object_detections()
        for detection in detections:
            shapes.append(self._shape_predictor(rgb, to_rectangle(detection.box)))
        chips = [np.asarray(c) for c in dlib.get_face_chips(rgb, shapes, CHIP_SIZE, CHIP_PADDING)]
        vectors = self.embed_chips(chips)
        faces = []
        for detection, shape, chip, vector in zip(detections, shapes, chips, vectors, strict=True):
            box = clip_box(detection.box, rgb.shape)
            faces.append(
                Face(
                    bbox=box,
                    landmarks=np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32),
                    det_score=detection.score,
                    detector=detection.detector,
                    quality=assess_quality(chip, detection.box[2] - detection.box[0]),
                    embedding=vector,
                    chip=chip,
                )
            )
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces

    def embed_chips(self, chips: list[np.ndarray]) -> np.ndarray:
        """Embeddings (n×128 float32) of aligned 150×150 RGB chips, computed in one batch."""
        if not chips:
            return np.zeros((0, 128), dtype=np.float32)
        descriptors = self._embedder.compute_face_descriptor(chips)
        return np.asarray([np.asarray(d) for d in descriptors], dtype=np.float32)

    @staticmethod
    def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Scores between embeddings a (n×d) and b (m×d): n×m, higher is more similar."""
        return cosine_similarity(a, b)
