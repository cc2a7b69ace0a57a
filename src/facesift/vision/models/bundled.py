"""Where the bundled model files live, what they are, and their weights hashes.

The dlib networks come from the `face-recognition-models` package. Its module imports
`pkg_resources`, which recent setuptools no longer ships, so the files are located through the
import system without importing it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from facesift.errors import ModelError

MODELS_PACKAGE = "face_recognition_models"


@dataclass(frozen=True)
class ModelFile:
    """A weights file and its identity (name + SHA-256), recorded with every result."""

    name: str
    path: Path

    @property
    def sha256(self) -> str:
        return _file_sha256(self.path, self.path.stat().st_size, self.path.stat().st_mtime_ns)


EMBEDDER = "dlib_face_recognition_resnet_model_v1"
LANDMARKS_5 = "shape_predictor_5_face_landmarks"
LANDMARKS_68 = "shape_predictor_68_face_landmarks"
CNN_DETECTOR = "mmod_human_face_detector"


def bundled_model(name: str) -> ModelFile:
    """The bundled model file `name` (without `.dat`), or a ModelError saying how to get it."""
    spec = importlib.util.find_spec(MODELS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the model package 'face-recognition-models' is not installed; "
            "install it with: pip install face-recognition-models"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / "models" / f"{name}.dat"
        if path.is_file():
            return ModelFile(name=name, path=path)
    raise ModelError(f"model file {name}.dat not found in the 'face-recognition-models' package")


@functools.lru_cache(maxsize=16)
def _file_sha256(path: Path, size: int, mtime_ns: int) -> str:
    """Hash once per file version; size and mtime in the key notice a replaced file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
