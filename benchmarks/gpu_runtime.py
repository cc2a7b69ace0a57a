"""facesift's ONNX sessions on a GPU: provider choice, parity with the CPU, timings.

Needs onnxruntime-gpu and a GPU. Runs facesift's own session code on the two converted dlib
networks: the MMOD detector (on random pyramids the size of a 1080p frame's, upsampled 0 and 1
times; from host memory and with the input already on the device) and the ResNet embedder
(batches of 1, 64 and 256 chips), each checked against the CPU provider.

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


if __name__ == "__main__":
    main()
