"""facesift's ONNX sessions on a GPU: provider choice, parity with the CPU, timings.

Needs onnxruntime-gpu and a GPU. Runs facesift's own session code on the two converted dlib
networks: the MMOD detector (on random pyramids the size of a 1080p frame's, upsampled 0 and 1
times; from host memory and with the input already on the device) and the ResNet embedder
(batches of 1, 64 and 256 chips), each checked against the CPU provider. Then detection end to
end on a 1080p frame (8-bit frame in, boxes out: pyramid graph and network on the GPU) against
dlib's HOG with upsample 1 (face_recognition's default) on this machine's CPU, same run, with
the boxes compared to the CPU provider's and, where the shared datasets are beside the project,
recall on the street video's annotated faces.

Run: python benchmarks/gpu_runtime.py [MMOD.onnx RESNET.onnx]
(default: the converted models in facesift's cache, made by any first use of the engine)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

DATASETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"
PYRAMIDS = {"1080p upsample 0": (1, 3, 3937, 1942), "1080p upsample 1": (1, 3, 7814, 3864)}


def timed(session: Any, feeds: dict[str, np.ndarray], reps: int) -> float:
    """Milliseconds per run, after one warm-up run."""
    session.run(None, feeds)
    start = time.perf_counter()
    for _ in range(reps):
        session.run(None, feeds)
    return (time.perf_counter() - start) / reps * 1000


def on_device_ms(session: Any, pixels: np.ndarray, reps: int = 10) -> float:
    """Milliseconds per MMOD run with the pyramid already in GPU memory."""
    import onnxruntime as ort

    binding = session.io_binding()
    binding.bind_ortvalue_input("pyramid", ort.OrtValue.ortvalue_from_numpy(pixels, "cuda", 0))
    binding.bind_output("scores", "cuda")
    session.run_with_iobinding(binding)
    start = time.perf_counter()
    for _ in range(reps):
        session.run_with_iobinding(binding)
    return (time.perf_counter() - start) / reps * 1000


def main() -> None:
    import onnxruntime as ort

    from facesift.vision.models.cache import cache_dir
    from facesift.vision.models.runtime import CUDA, available_providers, onnx_session

    if len(sys.argv) == 3:
        mmod_path, resnet_path = sys.argv[1], sys.argv[2]
    else:
        mmod_path = str(next(cache_dir().glob("mmod_human_face_detector-*.onnx")))
        resnet_path = str(next(cache_dir().glob("dlib_face_recognition_resnet_model_v1-*.onnx")))
    print(f"onnxruntime {ort.__version__}; facesift's providers: {available_providers()}")
    if CUDA not in available_providers():
        sys.exit("no CUDA provider: install onnxruntime-gpu on a machine with an NVIDIA GPU")
    rng = np.random.default_rng(0)

    mmod = onnx_session(mmod_path)
    cpu = ort.InferenceSession(mmod_path, providers=["CPUExecutionProvider"])
    small = rng.uniform(0, 255, (1, 3, 400, 640)).astype(np.float32)
    gpu_scores = mmod.run(None, {"pyramid": small})[0]
    cpu_scores = cpu.run(None, {"pyramid": small})[0]
    difference, largest = np.abs(gpu_scores - cpu_scores).max(), np.abs(cpu_scores).max()
    print(
        f"MMOD on {mmod.get_providers()[0]}: scores differ from the CPU's by at most "
        f"{difference:.2g} (largest |score| {largest:.1f})"
    )
    for label, shape in PYRAMIDS.items():
        pyramid = rng.uniform(0, 255, shape).astype(np.float32)
        host = timed(mmod, {"pyramid": pyramid}, 5)
        print(
            f"MMOD {label} pyramid {shape[2]}×{shape[3]}: {host:.1f} ms from host memory, "
            f"{on_device_ms(mmod, pyramid):.1f} ms with the pyramid on the GPU"
        )

    detection_end_to_end()

    resnet = onnx_session(resnet_path)
    cpu = ort.InferenceSession(resnet_path, providers=["CPUExecutionProvider"])
    chips = rng.integers(0, 256, (16, 150, 150, 3)).astype(np.uint8)
    a, b = resnet.run(None, {"chips": chips})[0], cpu.run(None, {"chips": chips})[0]
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    print(f"ResNet: lowest cosine similarity to the CPU's embeddings {cosine.min():.7f}")
    for batch in (1, 64, 256):
        chips = rng.integers(0, 256, (batch, 150, 150, 3)).astype(np.uint8)
        ms = timed(resnet, {"chips": chips}, 10)
        print(f"ResNet batch {batch}: {ms:.2f} ms, {batch / ms * 1000:.0f} faces/s")


def best_ms(run: Any, reps: int = 5) -> float:
    """Fastest of `reps` runs after a warm-up run, in milliseconds."""
    run()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def test_frame() -> tuple[np.ndarray, str]:
    """Frame 50 of the shared street video, else Grace Hopper's portrait at several sizes on a
    1920×1080 canvas."""
    from PIL import Image

    street = DATASETS / "media" / "street_1080p.mp4"
    if street.is_file():
        import av

        with av.open(str(street)) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index == 50:
                    return frame.to_ndarray(format="rgb24"), "street_1080p.mp4 frame 50"
    from facesift.samples import grace_hopper

    portrait = Image.open(grace_hopper()).convert("RGB")
    canvas = Image.new("RGB", (1920, 1080), (90, 100, 110))
    x = 0
    for width in (60, 90, 130, 200, 300, 450):
        copy = portrait.resize((width, round(width * portrait.height / portrait.width)))
        canvas.paste(copy, (x, 1080 - copy.height))
        x += width + 40
    return np.asarray(canvas), "Grace Hopper at 6 sizes on a 1920×1080 canvas"


def gpu_memory_mib() -> str:
    """What nvidia-smi says this process holds on the GPU (memory a scan worker would need)."""
    import os
    import subprocess

    try:
        listing = subprocess.run(
            ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    for line in listing.splitlines():
        pid, _, used = line.partition(",")
        if pid.strip() == str(os.getpid()):
            return used.strip().removesuffix(" MiB")
    return "unknown"


def detection_end_to_end() -> None:
    import os

    import dlib

    from facesift.vision.mmod import MmodOnnxDetector

    frame, label = test_frame()
    gpu = MmodOnnxDetector()
    hog = dlib.get_frontal_face_detector()
    gpu_ms = best_ms(lambda: gpu(frame, 1))
    hog_ms = best_ms(lambda: hog(frame, 1), reps=2)
    print(f"\ndetection, {label}, upsample 1, 8-bit frame in, boxes out (best of runs):")
    print(f"  dlib HOG on the CPU (face_recognition's default): {hog_ms:.0f} ms")
    print(
        f"  facesift MMOD, pyramid and network on the GPU: {gpu_ms:.1f} ms = {hog_ms / gpu_ms:.1f}×"
    )
    # A pyramid graph is made per image size: what a photo of a size not seen before costs.
    for width in (1917, 1280, 800):
        resized = np.ascontiguousarray(frame[: width * 9 // 16, :width])
        start = time.perf_counter()
        gpu(resized, 1)
        first = 1000 * (time.perf_counter() - start)
        again = best_ms(lambda image=resized: gpu(image, 1), reps=2)
        print(f"  a new size, {width} px wide: first call {first:.0f} ms, then {again:.1f} ms")
    os.environ["FACESIFT_DEVICE"] = "cpu"
    try:
        cpu = MmodOnnxDetector()
        cpu_found, cpu_ms = cpu(frame, 1), best_ms(lambda: cpu(frame, 1), reps=1)
    finally:
        del os.environ["FACESIFT_DEVICE"]
    gpu_found = gpu(frame, 1)
    same = len(cpu_found) == len(gpu_found) and all(
        np.abs(np.subtract(a.box, b.box)).max() <= 1 and abs(a.score - b.score) <= 1e-3
        for a, b in zip(cpu_found, gpu_found, strict=True)
    )
    print(
        f"  the same on the CPU provider: {cpu_ms:.0f} ms; {len(gpu_found)} faces on the GPU, "
        f"{len(cpu_found)} on the CPU, boxes within 1 px and scores within 1e-3: {same}"
    )
    print(f"  GPU memory held by this process (MMOD sessions and more): {gpu_memory_mib()} MiB")
    annotations = Path(__file__).resolve().parents[1] / "tests/data/video_appearances.json"
    street = DATASETS / "media" / "street_1080p.mp4"
    if not street.is_file():
        return
    import json

    from facesift.media.video import read_frame_at

    data = json.loads(annotations.read_text())["videos"]["street_1080p.mp4"]
    points = [p for marks in data.values() for p in marks]
    frames = {t: read_frame_at(street, t).pixels for t in sorted({t for t, _, _ in points})}
    for name, detect in (
        (
            "dlib HOG upsample 1",
            lambda rgb: [(r.left(), r.top(), r.right(), r.bottom()) for r in hog(rgb, 1)],
        ),
        ("facesift MMOD upsample 1 (GPU)", lambda rgb: [d.box for d in gpu(rgb, 1)]),
    ):
        boxes = {t: detect(pixels) for t, pixels in frames.items()}
        hits = sum(
            any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in boxes[t]) for t, x, y in points
        )
        print(f"  {name}: {hits}/{len(points)} annotated street faces")


if __name__ == "__main__":
    main()
