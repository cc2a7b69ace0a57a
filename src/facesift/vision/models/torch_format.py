"""PyTorch state dicts (`torch.save` files) read into NumPy arrays without PyTorch.

Both of torch.save's layouts are read: the legacy one (five pickles, then each storage's bytes
after an 8-byte element count), which facenet-pytorch's MTCNN weights use, and the zip archive
of newer releases (`*/data.pkl` plus one file per storage). Only the classes a state dict of
float tensors needs are unpickled; anything else in the file is refused, so a weights file
cannot run code.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facesift.errors import ModelError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


@dataclass(frozen=True)
class _StorageType:
    dtype: type


@dataclass(frozen=True)
class _TensorRef:
    """A tensor as the pickle describes it; its storage's bytes come later in the file."""

    key: str
    dtype: type
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: tuple[str, type], offset: int, size: Any, stride: Any, *_: Any):
    key, dtype = storage
    return _TensorRef(key, dtype, int(offset), tuple(size), tuple(stride))


def _rebuild_parameter(tensor: _TensorRef, *_: Any) -> _TensorRef:
    return tensor


ALLOWED: dict[tuple[str, str], Callable[..., Any] | type] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, handle: io.BufferedIOBase, path: Path) -> None:
        super().__init__(handle, encoding="utf-8")
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        if (module, name) in ALLOWED:
            return ALLOWED[(module, name)]
        raise ModelError(f"{self.path}: refusing to unpickle {module}.{name} in a weights file")

    def persistent_load(self, pid: Any) -> tuple[str, type]:
        # ('storage', storage type, key, location, element count[, view metadata])
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise ModelError(f"{self.path}: unexpected persistent id {pid!r}")
        kind = pid[1]
        if not isinstance(kind, _StorageType):
            raise ModelError(f"{self.path}: unsupported storage {kind!r}")
        return str(pid[2]), kind.dtype


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of the state dict saved at `path`, by name, as a NumPy array (a copy)."""
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            return _read_zip(path)
        return _read_legacy(path)
    except ModelError:
        raise
    except Exception as exc:  # truncated or foreign files fail in many ways
        raise ModelError(f"{path}: not a readable PyTorch state dict ({exc})") from None


def _read_legacy(path: Path) -> dict[str, np.ndarray]:
    with open(path, "rb") as handle:
        magic = _Unpickler(handle, path).load()
        if magic != LEGACY_MAGIC:
            raise ModelError(f"{path}: not a torch.save file (bad magic number)")
        _Unpickler(handle, path).load()  # protocol version
        sys_info = _Unpickler(handle, path).load()
        if not sys_info.get("little_endian", True):
            raise ModelError(f"{path}: big-endian weights are not supported")
        state = _Unpickler(handle, path).load()
        keys = _Unpickler(handle, path).load()
        refs = _refs(state, path)
        dtypes = {ref.key: ref.dtype for ref in refs.values()}
        storages: dict[str, np.ndarray] = {}
        for key in keys:
            count = int.from_bytes(handle.read(8), "little")
            dtype = np.dtype(dtypes.get(key, np.float32))
            raw = handle.read(count * dtype.itemsize)
            if len(raw) != count * dtype.itemsize:
                raise ModelError(f"{path}: file ends inside a tensor")
            storages[key] = np.frombuffer(raw, dtype=dtype)
    return _materialize(refs, storages, path)


def _read_zip(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickled = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pickled is None:
            raise ModelError(f"{path}: zip file without data.pkl")
        root = pickled[: -len("data.pkl")]
        state = _Unpickler(io.BytesIO(archive.read(pickled)), path).load()
        refs = _refs(state, path)
        storages: dict[str, np.ndarray] = {
            ref.key: np.frombuffer(archive.read(f"{root}data/{ref.key}"), dtype=ref.dtype)
            for ref in refs.values()
        }
    return _materialize(refs, storages, path)


def _refs(state: Any, path: Path) -> dict[str, _TensorRef]:
    if not isinstance(state, dict) or not all(isinstance(v, _TensorRef) for v in state.values()):
        raise ModelError(f"{path}: not a state dict of tensors")
    return dict(state)


def _materialize(
    refs: dict[str, _TensorRef], storages: dict[str, np.ndarray], path: Path
) -> dict[str, np.ndarray]:
    out = {}
    for name, ref in refs.items():
        storage = storages.get(ref.key)
        if storage is None:
            raise ModelError(f"{path}: tensor {name} has no stored data")
        extent = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride, strict=True))
        if ref.size and min(ref.size) > 0 and extent >= len(storage):
            raise ModelError(f"{path}: tensor {name} lies outside its storage")
        item = storage.itemsize
        view = np.lib.stride_tricks.as_strided(
            storage[ref.offset :],
            shape=ref.size,
            strides=tuple(s * item for s in ref.stride),
            writeable=False,
        )
        out[name] = np.array(view)
    return out
