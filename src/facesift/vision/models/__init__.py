"""Model files and runtimes: the bundled dlib weights, converted graphs, plug-in ONNX models."""

from facesift.vision.models.bundled import (
    CNN_DETECTOR,
    EMBEDDER,
    LANDMARKS_5,
    LANDMARKS_68,
    ModelFile,
    bundled_model,
)

__all__ = ["CNN_DETECTOR", "EMBEDDER", "LANDMARKS_5", "LANDMARKS_68", "ModelFile", "bundled_model"]
