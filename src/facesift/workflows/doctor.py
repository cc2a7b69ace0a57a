"""What facesift runs on: models with weights hashes, runtimes, providers and threads."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

from facesift.execution.local import default_workers
from facesift.vision.engine import FaceEngine
from facesift.vision.models import CNN_DETECTOR, EMBEDDER, LANDMARKS_5, LANDMARKS_68, bundled_model
from facesift.vision.models.cache import cache_dir
from facesift.vision.models.mtcnn import mtcnn_available, mtcnn_weights
from facesift.vision.models.runtime import available_providers, default_threads, gpu_status


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def environment_report(engine: FaceEngine) -> dict[str, Any]:
    """Everything needed to reproduce or explain a result on this machine."""
    import dlib

    bundled = [
        {"name": m.name, "path": str(m.path), "sha256": m.sha256}
        for m in (bundled_model(n) for n in (EMBEDDER, CNN_DETECTOR, LANDMARKS_5, LANDMARKS_68))
    ]
    if mtcnn_available():
        weights = mtcnn_weights()
        bundled.append(
            {
                "name": f"mtcnn (facenet-pytorch {_version('facenet-pytorch')})",
                "path": str(weights.paths["pnet"].parent),
                "sha256": weights.sha256,
            }
        )
    return {
        "engine": engine.describe(),
        "bundled_models": bundled,
        "runtimes": {
            "python": platform.python_version(),
            "facesift": _version("facesift"),
            "dlib": dlib.__version__,
            "dlib_cuda": bool(dlib.DLIB_USE_CUDA),
            "onnxruntime": _version("onnxruntime") or _version("onnxruntime-gpu"),
            "onnxruntime_providers": available_providers(),
            "gpu": gpu_status().summary(),
            "faiss": _version("faiss-cpu") or _version("faiss-gpu"),
        },
        "threads": {
            "cores": os.cpu_count(),
            "onnxruntime_intra_op": default_threads(),
            "scan_workers": default_workers(engine),
        },
        "cache_dir": str(cache_dir()),
    }
