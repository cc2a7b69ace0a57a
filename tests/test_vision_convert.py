"""dlib's networks read from their .dat files, converted to ONNX, and faithful to dlib."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from facesift import FaceEngine
from facesift.vision.embed import DlibEmbedder
from facesift.vision.models import CNN_DETECTOR, EMBEDDER, ModelFile, bundled_model, dlib_format
from facesift.vision.models.convert import converted

PARITY = 0.9999  # minimum cosine similarity to dlib's own descriptor, for every face


def test_embedder_file_is_read_completely() -> None:
    model = bundled_model(EMBEDDER)
    net = dlib_format.read_network(model.path)
    assert net.consumed == net.file_size == model.path.stat().st_size
    net = dlib_format.resolve_tags(net, dlib_format.face_resnet_template())
    kinds = [layer.type for layer in net.layers]
    assert (
        kinds.count("con") == 29 and kinds.count("affine") == 29 and kinds.count("add_prev") == 14
    )
    assert net.input.attrs["nr"] == net.input.attrs["nc"] == 150
    assert net.layers[-2].params["weight"].shape == (256, 128)


def test_detector_file_is_read_completely() -> None:
    model = bundled_model(CNN_DETECTOR)
    net = dlib_format.resolve_tags(
        dlib_format.read_network(model.path), dlib_format.mmod_template()
    )
    assert net.consumed == net.file_size
    windows = net.loss.attrs["detector_windows"]
    assert [(w["width"], w["height"]) for w in windows] == [(80, 80)]


def test_truncated_or_foreign_files_are_refused(tmp_path: Path) -> None:
    data = bundled_model(EMBEDDER).path.read_bytes()
    with pytest.raises(dlib_format.DlibFormatError, match="unexpected end of data"):
        dlib_format.read_network(data[: len(data) // 2])
    with pytest.raises(dlib_format.DlibFormatError):
        dlib_format.read_network(b"\x01\x02hello world")


def test_conversion_is_cached_by_source_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACESIFT_CACHE_DIR", str(tmp_path / "cache"))
    source = bundled_model(CNN_DETECTOR)
    first = converted(source, "mmod")
    stamp = first.stat().st_mtime_ns
    assert converted(source, "mmod") == first and first.stat().st_mtime_ns == stamp  # reused
    first.unlink()
    assert converted(source, "mmod").is_file()  # missing: converted again
    # A changed weights file (another hash) gets its own conversion; the stale one is removed.
    changed = tmp_path / f"{CNN_DETECTOR}.dat"
    shutil.copy(source.path, changed)
    data = bytearray(changed.read_bytes())
    data[-5000] ^= 0x01  # flip a bit inside the last layer's weights
    changed.write_bytes(bytes(data))
    other = converted(ModelFile(CNN_DETECTOR, changed), "mmod")
    assert other != first and other.is_file() and not first.exists()


def _chips(engine: FaceEngine, images: list) -> list[np.ndarray]:
    chips = []
    for image in images:
        chips += [f.chip for f in engine.analyze(image, thorough=True)]
    return chips


def _assert_parity(chips: list[np.ndarray]) -> float:
    onnx = DlibEmbedder("onnx").embed(chips)
    native = DlibEmbedder("dlib").embed(chips)
    cosine = (
        np.sum(onnx * native, 1) / np.linalg.norm(onnx, axis=1) / np.linalg.norm(native, axis=1)
    )
    assert cosine.min() >= PARITY, cosine.min()
    return float(cosine.min())


def test_onnx_embedder_matches_dlib_on_sample_faces(
    engine: FaceEngine, hopper_path: Path, collins_path: Path, stranger_path: Path
) -> None:
    chips = _chips(engine, [hopper_path, collins_path, stranger_path])
    rng = np.random.default_rng(0)
    chips += [rng.integers(0, 256, (150, 150, 3)).astype(np.uint8) for _ in range(3)]
    assert len(chips) == 6  # one face per photo, three noise chips
    _assert_parity(chips)


@pytest.mark.datasets
def test_onnx_embedder_matches_dlib_on_real_faces(lfw: Path, datasets: Path) -> None:
    engine = FaceEngine(runtime="dlib")
    photos = sorted((lfw / "images").glob("*/*_0001.jpg"))[:100]
    photos += [
        datasets / "media" / "group_photo.jpg",
        *sorted((datasets / "media" / "stills").iterdir()),
    ]
    chips = _chips(engine, photos)
    assert len(chips) >= 110
    _assert_parity(chips)


def test_engine_results_do_not_depend_on_the_runtime(hopper_path: Path) -> None:
    fast, reference = FaceEngine(runtime="onnx"), FaceEngine(runtime="dlib")
    a, b = fast.analyze(hopper_path)[0], reference.analyze(hopper_path)[0]
    assert a.bbox == b.bbox
    assert fast.model_sha256 == reference.model_sha256 and fast.model_name == reference.model_name
    assert float(fast.similarity(a.embedding[None], b.embedding[None])[0, 0]) >= PARITY
    assert fast.describe()["embedder_runtime"]["runtime"] == "onnxruntime"
    assert reference.describe()["embedder_runtime"]["runtime"] == "dlib"


def test_gpu_sessions_keep_full_float_precision() -> None:
    from facesift.vision.models.runtime import CPU, CUDA, provider_settings

    assert provider_settings([CUDA, CPU]) == [(CUDA, {"use_tf32": "0"}), CPU]
    assert provider_settings([CPU]) == [CPU]


def test_gpu_batches_are_padded_to_few_shapes_without_changing_vectors() -> None:
    from facesift.vision.models.runtime import CPU, CUDA, padded_batch

    class Session:
        def __init__(self, provider: str) -> None:
            self.provider = provider

        def get_providers(self) -> list[str]:
            return [self.provider, CPU]

    batch = np.ones((5, 150, 150, 3), np.uint8)
    padded = padded_batch(Session(CUDA), batch)
    assert padded.shape == (8, 150, 150, 3)
    assert (padded[:5] == 1).all() and (padded[5:] == 0).all()
    assert padded_batch(Session(CUDA), batch[:1]).shape == (1, 150, 150, 3)
    assert padded_batch(Session(CUDA), np.ones((64, 150, 150, 3), np.uint8)).shape[0] == 64
    assert padded_batch(Session(CPU), batch) is batch
    # The padding rows do not change the real rows' vectors: each chip is embedded on its own.
    session = DlibEmbedder()._session
    rng = np.random.default_rng(1)
    chips = rng.integers(0, 256, (3, 150, 150, 3)).astype(np.uint8)
    alone = session.run(None, {"chips": chips})[0]
    with_zeros = np.concatenate([chips, np.zeros((1, 150, 150, 3), np.uint8)])
    assert np.allclose(session.run(None, {"chips": with_zeros})[0][:3], alone, atol=1e-5)


def test_gpu_free_memory_is_read_from_nvidia_smi(tmp_path: Path, monkeypatch) -> None:
    from facesift.vision.models.runtime import gpu_free_memory_mib

    monkeypatch.setenv("PATH", str(tmp_path))
    assert gpu_free_memory_mib() is None  # no NVIDIA driver here
    script = tmp_path / "nvidia-smi"
    script.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\necho 12345\n')
    script.chmod(0o755)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")
    assert gpu_free_memory_mib() == 12345
    assert (tmp_path / "args").read_text().split()[-2:] == ["-i", "1"]
    script.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed'\nexit 9\n")
    assert gpu_free_memory_mib() is None
