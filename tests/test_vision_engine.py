"""FaceEngine on real photos with the bundled dlib models (no mocks on the vision path)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from facesift import FaceEngine
from facesift.vision.detect import HogDetector
from facesift.vision.face import choose_primary
from facesift.vision.quality import SMALL_FACE_PX, assess_quality, laplacian_variance


def _single(engine: FaceEngine, image, thorough: bool = False) -> object:
    faces = engine.analyze(image, thorough=thorough)
    assert len(faces) == 1, f"expected one face, found {len(faces)}"
    return faces[0]


def test_analyze_returns_a_complete_face(engine: FaceEngine, hopper_path: Path) -> None:
    face = _single(engine, hopper_path)
    x1, y1, x2, y2 = face.bbox
    assert 150 < x1 < 220 and 100 < y1 < 180 and 330 < x2 < 400 and 290 < y2 < 360
    assert face.landmarks.shape == (5, 2)
    inside = (face.landmarks[:, 0] > x1) & (face.landmarks[:, 0] < x2)
    inside &= (face.landmarks[:, 1] > y1) & (face.landmarks[:, 1] < y2)
    assert inside.all()
    assert face.embedding.dtype == np.float32 and face.embedding.shape == (128,)
    assert face.det_score > 0
    assert face.quality.face_px == pytest.approx(x2 - x1, abs=1)
    assert face.quality.flags == ()
    assert face.chip is not None and face.chip.shape == (150, 150, 3)


def test_input_kinds_give_the_same_embedding(
    engine: FaceEngine, hopper_path: Path, hopper_rgb: np.ndarray
) -> None:
    reference = _single(engine, hopper_path).embedding
    for source in (str(hopper_path), hopper_path.read_bytes(), Image.open(hopper_path), hopper_rgb):
        assert np.allclose(_single(engine, source).embedding, reference, atol=1e-6)


def test_similarity_is_vectorised_and_separates_people(
    engine: FaceEngine, hopper_path: Path, collins_path: Path, stranger_path: Path
) -> None:
    hopper = _single(engine, hopper_path).embedding
    # The same person, changed: mirrored, greyscale, blurred, recompressed.
    changed = Image.open(hopper_path).convert("L").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    buffer = io.BytesIO()
    changed.filter(ImageFilter.GaussianBlur(1)).save(buffer, "JPEG", quality=40)
    hopper2 = _single(engine, buffer.getvalue()).embedding
    collins = engine.analyze(collins_path)[0].embedding
    stranger = _single(engine, stranger_path, thorough=True).embedding
    scores = engine.similarity(np.stack([hopper, hopper2]), np.stack([hopper, collins, stranger]))
    assert scores.shape == (2, 3)
    assert scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert scores[1, 0] > max(scores[1, 1], scores[1, 2]) + 0.05
    assert engine.similarity(np.zeros((0, 128)), np.stack([hopper])).shape == (0, 1)


def test_small_faces_are_found_by_upsampling(engine: FaceEngine, hopper_path: Path) -> None:
    image = Image.open(hopper_path).convert("RGB")
    # Face ~187 px wide at full size: shrink it to ~45 px inside a larger canvas.
    canvas = _shrunk_onto_canvas(image, 0.24)
    face = _single(engine, canvas)
    assert 35 <= face.width <= 60
    no_upsampling = FaceEngine(min_face_px=80)
    assert no_upsampling.analyze(canvas) == []


def _shrunk_onto_canvas(image: Image.Image, scale: float) -> Image.Image:
    small = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    canvas = Image.new("RGB", (640, 480), (120, 120, 120))
    canvas.paste(small, (300, 200))
    return canvas


def test_small_flag_is_set_exactly_below_the_small_face_width(
    engine: FaceEngine, hopper_path: Path
) -> None:
    """Faces found on both sides of SMALL_FACE_PX (37, 44 and 53 px): flagged "small"
    exactly when narrower. The check this replaces ("small" not in flags or width < 40, on a
    ~53 px face) passed with the flag never set; this one fails then, and also with the
    comparison turned into ≤ (the unit check at exactly SMALL_FACE_PX)."""
    image = Image.open(hopper_path).convert("RGB")
    widths = []
    for scale in (0.17, 0.20, 0.21, 0.24):
        face = _single(engine, _shrunk_onto_canvas(image, scale))
        assert face.quality.face_px == pytest.approx(face.width)
        assert ("small" in face.quality.flags) == (face.width < SMALL_FACE_PX), face.width
        widths.append(face.width)
    assert min(widths) < SMALL_FACE_PX <= max(widths), widths  # both sides were tested
    chip = np.random.default_rng(0).integers(0, 255, (150, 150, 3)).astype(np.uint8)
    assert "small" in assess_quality(chip, SMALL_FACE_PX - 0.1).flags
    assert "small" not in assess_quality(chip, SMALL_FACE_PX).flags


def test_exif_rotated_photo_gives_boxes_in_upright_pixels(
    engine: FaceEngine, hopper_path: Path, tmp_path: Path
) -> None:
    upright = _single(engine, hopper_path)
    exif = Image.Exif()
    exif[0x0112] = 8  # stored rotated: display rotated 90° counter-clockwise
    stored = Image.open(hopper_path).convert("RGB").transpose(Image.Transpose.ROTATE_270)
    path = tmp_path / "rotated.jpg"
    stored.save(path, exif=exif, quality=98)
    rotated = _single(engine, path)
    assert np.allclose(rotated.bbox, upright.bbox, atol=4)
    assert float(engine.similarity(rotated.embedding[None], upright.embedding[None])[0, 0]) > 0.99


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16"])
def test_faces_found_in_every_image_mode(engine: FaceEngine, hopper_path: Path, mode: str) -> None:
    image = Image.open(hopper_path).convert("RGB")
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image.convert("L")).astype(np.uint16) * 257)
    else:
        image = image.convert(mode)
    assert len(engine.analyze(image)) == 1


def test_thorough_pass_finds_a_face_the_fast_pass_misses(
    engine: FaceEngine, stranger_path: Path
) -> None:
    # The cameraman looks down and sideways: the frontal HOG detector misses him, the CNN
    # detector of the thorough pass finds him; MTCNN (the default on a CPU) finds him at once.
    hog = FaceEngine(detector="hog")
    assert hog.analyze(stranger_path) == []
    thorough = hog.analyze(stranger_path, thorough=True)
    assert len(thorough) == 1 and thorough[0].detector == "dlib_mmod_cnn"
    x1, y1, x2, y2 = thorough[0].bbox
    assert 150 < x1 < 220 and 90 < y1 < 150 and 230 < x2 < 290 and 170 < y2 < 230
    if engine.detector_name == "mtcnn":
        (fast,) = engine.analyze(stranger_path)
        assert fast.detector == "mtcnn"
        centre_x, centre_y = (fast.bbox[0] + fast.bbox[2]) / 2, (fast.bbox[1] + fast.bbox[3]) / 2
        assert x1 < centre_x < x2 and y1 < centre_y < y2  # the same face


def test_no_face_in_a_blank_image(engine: FaceEngine) -> None:
    assert engine.analyze(np.full((200, 300, 3), 127, np.uint8), thorough=True) == []


def test_quality_flags_blur_and_small_size() -> None:
    rng = np.random.default_rng(1)
    sharp = rng.integers(0, 255, (150, 150, 3)).astype(np.uint8)
    blurred = np.asarray(Image.fromarray(sharp).filter(ImageFilter.GaussianBlur(4)))
    assert laplacian_variance(sharp[:, :, 0]) > 10 * laplacian_variance(blurred[:, :, 0])
    good = assess_quality(sharp, 120)
    poor = assess_quality(blurred, 30)
    assert good.flags == () and good.score > 0.9
    assert set(poor.flags) == {"small", "blurry"} and poor.score < 0.1


class _Box:
    def __init__(self, bbox, det_score=1.0):
        self.bbox, self.det_score = bbox, det_score


def test_primary_face_choice_is_explicit() -> None:
    big, small = _Box((0, 0, 100, 100)), _Box((200, 0, 250, 50))
    face, why = choose_primary([small, big], (300, 300))
    assert face is big and "largest" in why
    twin = _Box((150, 150, 248, 248))
    face, why = choose_primary([big, twin], (300, 300))
    assert face is None and "ambiguous" in why
    faint_twin = _Box((150, 150, 248, 248), det_score=0.1)
    face, why = choose_primary([faint_twin, big], (300, 300))
    assert face is big and "clearest" in why
    face, why = choose_primary([], (300, 300))
    assert face is None and why == "no face found"
    central = _Box((120, 120, 180, 180))
    face, _ = choose_primary([big, central], (300, 300), prefer="central")
    assert face is central


def test_hog_detector_is_read_from_its_cached_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hopper_rgb: np.ndarray
) -> None:
    monkeypatch.setenv("FACESIFT_CACHE_DIR", str(tmp_path))
    built = HogDetector()  # builds dlib's detector and saves a copy
    (saved,) = tmp_path.glob("dlib_frontal_face_detector-*.svm")
    loaded = HogDetector()  # reads the copy
    expected = [(d.box, d.score) for d in built(hopper_rgb, 1)]
    assert expected and [(d.box, d.score) for d in loaded(hopper_rgb, 1)] == expected
    saved.write_bytes(b"damaged")
    repaired = HogDetector()
    assert [(d.box, d.score) for d in repaired(hopper_rgb, 1)] == expected
    assert saved.stat().st_size > 1000


def test_auto_detector_is_the_cnn_on_a_gpu_else_mtcnn_else_hog(monkeypatch) -> None:
    import facesift.vision.engine as engine_module
    from facesift.vision.models.runtime import CPU, CUDA, available_providers

    on_cpu = "mtcnn" if engine_module.mtcnn_available() else "hog"
    assert FaceEngine(detector="auto").detector_name == (
        "cnn" if CUDA in available_providers() else on_cpu
    )
    monkeypatch.setattr(engine_module, "available_providers", lambda: [CUDA, CPU])
    assert FaceEngine(detector="auto").detector_name == "cnn"
    assert FaceEngine(detector="auto", runtime="dlib").detector_name == on_cpu
    assert FaceEngine(detector="hog").detector_name == "hog"
    monkeypatch.setattr(engine_module, "available_providers", lambda: [CPU])
    assert FaceEngine(detector="auto").detector_name == on_cpu
    monkeypatch.setattr(engine_module, "mtcnn_available", lambda: False)
    assert FaceEngine(detector="auto").detector_name == "hog"


def test_onnx_runtime_stays_off_the_gpu_with_facesift_device_cpu_or_no_gpu(monkeypatch) -> None:
    import onnxruntime

    from facesift.vision.models import runtime
    from facesift.vision.models.runtime import CPU, CUDA, available_providers

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(runtime, "gpu_present", lambda: True)
    assert available_providers() == [CUDA, CPU]
    monkeypatch.setenv("FACESIFT_DEVICE", "cpu")
    assert available_providers() == [CPU]
    monkeypatch.delenv("FACESIFT_DEVICE")
    monkeypatch.setattr(runtime, "gpu_present", lambda: False)  # onnxruntime-gpu, no GPU
    assert available_providers() == [CPU]


@pytest.fixture
def gpu_asked_for(monkeypatch: pytest.MonkeyPatch) -> object:
    """onnxruntime-gpu "installed" (CUDA listed), the GPU probe run afresh, warnings anew."""
    import onnxruntime

    from facesift.vision.models import runtime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [runtime.CUDA, runtime.CPU])
    monkeypatch.delenv("FACESIFT_DEVICE", raising=False)
    monkeypatch.setattr(runtime, "_warned", set())
    monkeypatch.setattr(runtime, "_session_fallbacks", [])
    runtime.gpu_probe.cache_clear()
    yield runtime
    runtime.gpu_probe.cache_clear()


def test_a_failed_gpu_probe_falls_back_to_the_cpu_visibly(
    gpu_asked_for: object, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The probe raising (a broken driver): the CPU runs the work, and the engine's
    description (kept with every result), `facesift doctor` and the log all say why."""
    from facesift.vision.models import runtime
    from facesift.workflows.doctor import environment_report

    def broken() -> bool:
        raise RuntimeError("NVML: driver/library version mismatch")

    monkeypatch.setattr(runtime, "gpu_present", broken)
    with caplog.at_level("WARNING", logger=runtime.__name__):
        assert runtime.available_providers() == [runtime.CPU]
        engine = FaceEngine(detector="hog")
        gpu = engine.describe()["gpu"]
        report = environment_report(engine)
    assert gpu["requested"] and not gpu["available"] and not gpu["used"]
    assert gpu["fell_back_to_cpu"]
    (problem,) = gpu["problems"]
    assert "GPU probe failed" in problem and "driver/library version mismatch" in problem
    assert report["engine"]["gpu"] == gpu
    assert "running on the CPU instead" in report["runtimes"]["gpu"]
    assert "version mismatch" in report["runtimes"]["gpu"]
    warned = [r for r in caplog.records if "version mismatch" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelname == "WARNING"  # once, not at every call


def test_a_gpu_that_does_not_answer_is_said_with_the_reason(
    gpu_asked_for: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from facesift.vision.models import runtime

    script = tmp_path / "nvidia-smi"
    script.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed: no driver'\nexit 9\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    status = runtime.gpu_status()
    assert status.requested and not status.available and status.fell_back
    assert "exit status 9" in status.problems[0] and "NVIDIA-SMI has failed" in status.problems[0]
    assert runtime.available_providers() == [runtime.CPU]
    monkeypatch.setenv("FACESIFT_DEVICE", "cpu")  # the CPU chosen: nothing to report
    assert runtime.gpu_status() == runtime.GpuStatus(False, False)


def test_onnx_runtime_running_a_model_on_the_cpu_instead_of_cuda_is_said(
    gpu_asked_for: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ONNX Runtime falls back to the CPU by itself where CUDA cannot start for a model."""
    import onnxruntime

    from facesift.vision.models import runtime
    from facesift.vision.models.runtime import onnx_session

    class CpuOnly(onnxruntime.InferenceSession):  # as when CUDA's libraries fail to load
        def __init__(self, source: object, options: object, providers: object) -> None:
            super().__init__(source, options, providers=[runtime.CPU])

    monkeypatch.setattr(runtime, "gpu_present", lambda: True)
    monkeypatch.setattr(runtime, "_shared_gpu_arena", lambda: False)
    monkeypatch.setattr(onnxruntime, "InferenceSession", CpuOnly)
    assert runtime.gpu_status().problems == ()
    session = onnx_session(_identity_model())
    assert session.get_providers() == [runtime.CPU]
    status = runtime.gpu_status()
    assert status.available and status.fell_back
    assert "could not start CUDA" in status.problems[0]


def _identity_model() -> bytes:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def test_focused_regions_are_snapped_to_few_sizes_inside_the_image() -> None:
    from facesift.vision.detect import Detection, detect_focused

    calls: list[tuple[tuple[int, ...], int]] = []

    def detector(rgb: np.ndarray, upsample: int) -> list[Detection]:
        calls.append((rgb.shape[:2], upsample))
        return [] if upsample == 0 else [Detection((0.0, 0.0, 10.0, 10.0), 1.0, "fake")]

    image = np.zeros((720, 1280, 3), np.uint8)
    regions = [
        (100.3, 50.0, 171.9, 130.2),  # 71×80 → 96×96 about its centre
        (1250.0, 700.0, 1300.0, 760.0),  # clipped to 30×20 → 32×32 moved inside
        (0.0, 0.0, 10.0, 10.0),  # under 16 px: skipped
        (600.0, 300.0, 633.0, 340.0),  # 33×40 → 64×64
    ]
    found = detect_focused(detector, image, 0, 1, regions)
    assert calls == [((720, 1280), 0), ((96, 96), 1), ((32, 32), 1), ((64, 64), 1)]
    origins = sorted((d.box[0], d.box[1]) for d in found)
    assert origins == [(87.0, 42.0), (584.0, 288.0), (1248.0, 688.0)]


def test_each_detector_is_upsampled_to_reach_its_smallest_face() -> None:
    from facesift.vision.detect import MMOD_SMALLEST_FACE_PX, upsample_for
    from facesift.vision.engine import CPU_DETECT_PIXELS, GPU_DETECT_PIXELS

    hog, mmod = HogDetector.smallest_face_px, MMOD_SMALLEST_FACE_PX
    vga, full_hd = (480, 640, 3), (1080, 1920, 3)
    # Faces of 30 px (the default): HOG needs one doubling, MMOD two, where the budget allows.
    assert upsample_for(vga, 30, CPU_DETECT_PIXELS, hog) == 1
    assert upsample_for(vga, 30, CPU_DETECT_PIXELS, mmod) == 2
    assert upsample_for(full_hd, 30, CPU_DETECT_PIXELS, hog) == 1
    assert upsample_for(full_hd, 30, CPU_DETECT_PIXELS, mmod) == 1  # 33 MP is over 9 MP
    assert upsample_for(full_hd, 30, GPU_DETECT_PIXELS, mmod) == 2
    assert upsample_for(full_hd, 80, GPU_DETECT_PIXELS, mmod) == 0
    assert upsample_for(full_hd, 30, GPU_DETECT_PIXELS, 0.0) == 0  # plug-ins: never upsampled
    assert upsample_for((4000, 3000, 3), 30, CPU_DETECT_PIXELS, hog) == 0


def test_gpu_pixel_budget_and_scan_workers_follow_free_gpu_memory(monkeypatch) -> None:
    import facesift.execution.local as analysis_module
    import facesift.vision.engine as engine_module
    from facesift.execution.local import GPU_MAX_WORKERS, default_workers
    from facesift.vision.engine import (
        CPU_DETECT_PIXELS,
        GPU_DETECT_PIXELS,
        gpu_detect_pixels,
        gpu_engine_mib,
    )
    from facesift.vision.models.runtime import CPU, CUDA

    assert gpu_detect_pixels(200_000) == GPU_DETECT_PIXELS
    assert gpu_detect_pixels(None) == CPU_DETECT_PIXELS
    budget = gpu_detect_pixels(12_000)  # a 12 GB card: 1080p frames upsampled once only
    assert 8.3e6 < budget < 33.2e6 and gpu_engine_mib(budget) <= 12_000
    assert gpu_detect_pixels(1_000) == 1e6

    free: list[int | None] = [200_000]
    monkeypatch.setattr(engine_module, "gpu_free_memory_mib", lambda: free[0])
    monkeypatch.setattr(analysis_module, "gpu_free_memory_mib", lambda: free[0])
    monkeypatch.setattr(analysis_module.os, "cpu_count", lambda: 16)
    assert default_workers(FaceEngine(detector="hog")) == 8
    monkeypatch.setattr(engine_module, "available_providers", lambda: [CUDA, CPU])
    gpu = FaceEngine()
    assert gpu.detector_name == "cnn" and gpu.max_detect_pixels == GPU_DETECT_PIXELS
    assert default_workers(gpu) == GPU_MAX_WORKERS
    free[0] = 30_000  # room for one engine at the full budget
    assert default_workers(gpu) == 1
    assert default_workers(FaceEngine(max_detect_pixels=9e6)) == 4
    free[0] = None  # unknown: one process, the CPU's budget
    assert default_workers(gpu) == 1
    assert FaceEngine().max_detect_pixels == CPU_DETECT_PIXELS
    assert FaceEngine(detector="hog").max_detect_pixels == CPU_DETECT_PIXELS
