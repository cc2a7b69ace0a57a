"""facesift's detector and embedder on a GPU, against dlib's HOG on the same machine's CPU.

Needs onnxruntime-gpu, a GPU, dlib and the MMOD weights (face-recognition-models); the shared
datasets beside the project for the speed and recall tables. In one run:

1. Detection ms per photo (street video frame 50 at 640×480, 1280×720, 1920×1080; 8-bit image
   in, boxes out): dlib's HOG with upsample 1 (face_recognition's default) on this machine's
   CPU against facesift's MMOD, pyramid graph and network on the GPU, upsample 1 and 2.
2. Recall of the same detectors by face size on rescaled LFW photos, on the group photo and on
   the street video's annotated faces (as benchmarks/detection.py measures them on a CPU).
3. On the 1080p frame: boxes compared with the CPU provider's, the GPU memory held, the cost
   of an image size not seen before (its pyramid graph and session, the first detection).
4. The default engine (cnn on a GPU): GPU memory per process by pixel budget, after one image
   size and after ten.
5. The scan's analysis of a folder of photos (decode, detect, landmarks, embed; no database)
   with 1, 2 and 4 GPU processes, against HOG on the CPU's default number of processes.
6. The networks alone, checked against the CPU provider: MMOD on random 1080p-sized
   pyramids, ResNet on batches of chips (when its weights are installed).

Switches (each "A → B" the README states is one command):
- `--tf32 off|on|both`: TF32 matrix maths in section 6, whose sessions are opened here with
  ONNX Runtime's defaults and the CUDA provider's `use_tf32` option as asked (each with its own
  arena). facesift's own sessions always have TF32 off: sections 1–5 cannot switch it without
  a change to facesift.vision.models.runtime.provider_settings.
- `--arena shared|per-session`: facesift registers one GPU arena for all of a process's
  sessions; `per-session` swaps that registration off (the private hook
  facesift.vision.models.runtime._shared_gpu_arena: facesift has no parameter for it), so that
  each session keeps its own arena, as ONNX Runtime does by default. It applies to sections
  1–3 (this process) and 4 (its child processes), not to section 5's worker processes.
  The arena's growth (by what is asked rather than in doubling steps) has no switch.

Run: python benchmarks/gpu_runtime.py [--sections 123456] [--tf32 off] [--arena shared]
Writes benchmarks/results/gpu_runtime.json.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import write_result
from detection import DATA, Boxes, frames, report_recall, report_speed

PYRAMIDS = {"1080p upsample 0": (1, 3, 3937, 1942), "1080p upsample 1": (1, 3, 7814, 3864)}
FIGURES: dict[str, Any] = {}


def use_arena(arena: str) -> None:
    """`per-session`: no shared GPU arena in this process (see the module's docstring)."""
    if arena == "per-session":
        from facesift.vision.models import runtime

        runtime._shared_gpu_arena = lambda: False  # type: ignore[assignment]


def cuda_session(path: Path, tf32: bool) -> Any:
    """A CUDA session of `path` with TF32 on or off, otherwise as ONNX Runtime's defaults."""
    import onnxruntime as ort

    from facesift.vision.models.runtime import CPU, CUDA

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(
        str(path), options, providers=[(CUDA, {"use_tf32": "1" if tf32 else "0"}), CPU]
    )


def best_ms(run: Callable[[], Any], reps: int = 5) -> float:
    """Fastest of `reps` runs after a warm-up run, in milliseconds."""
    run()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def gpu_memory_used_mib() -> int:
    """Memory in use on GPU 0, all processes together (nvidia-smi; -1 without it)."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except OSError:
        return -1
    return int(out.strip())


def detectors() -> dict[str, Callable[[np.ndarray], Boxes]]:
    import dlib

    from facesift.vision.mmod import MmodOnnxDetector
    from facesift.vision.models.runtime import CUDA

    hog = dlib.get_frontal_face_detector()
    cnn = MmodOnnxDetector()
    if cnn._session.get_providers()[0] != CUDA:
        sys.exit("ONNX Runtime could not start its CUDA provider (CUDA or cuDNN libraries?)")

    def baseline(rgb: np.ndarray) -> Boxes:
        return [(r.left(), r.top(), r.right(), r.bottom()) for r in hog(rgb, 1)]

    return {
        "dlib HOG up 1, CPU (face_recognition's)": baseline,
        "facesift MMOD up 1, GPU": lambda rgb: [d.box for d in cnn(rgb, 1)],
        "facesift MMOD up 2, GPU (its default)": lambda rgb: [d.box for d in cnn(rgb, 2)],
    }


def parity_memory_and_new_sizes(frame: np.ndarray) -> None:
    import os

    from facesift.vision.mmod import MmodOnnxDetector

    before = gpu_memory_used_mib()
    gpu = MmodOnnxDetector()
    gpu_found = gpu(frame, 1)
    held = gpu_memory_used_mib() - before
    os.environ["FACESIFT_DEVICE"] = "cpu"
    try:
        cpu = MmodOnnxDetector()
        cpu_found, cpu_ms = cpu(frame, 1), best_ms(lambda: cpu(frame, 1), reps=1)
    finally:
        del os.environ["FACESIFT_DEVICE"]
    same = len(cpu_found) == len(gpu_found) and all(
        np.abs(np.subtract(a.box, b.box)).max() <= 1 and abs(a.score - b.score) <= 1e-3
        for a, b in zip(cpu_found, gpu_found, strict=True)
    )
    FIGURES["parity_1080p"] = {
        "gpu_faces": len(gpu_found),
        "cpu_faces": len(cpu_found),
        "cpu_ms": cpu_ms,
        "boxes_within_1px_scores_within_1e-3": same,
        "gpu_mib_one_detector": held,
    }
    print(
        f"\n3. 1080p frame, upsample 1: {len(gpu_found)} faces on the GPU, {len(cpu_found)} on "
        f"the CPU provider ({cpu_ms:.0f} ms there); boxes within 1 px and scores within 1e-3: "
        f"{same}\n   GPU memory taken by one detector after this frame: {held} MiB"
    )
    from facesift.vision.pyramid import pyramid_model

    detector = MmodOnnxDetector()
    detector(np.ascontiguousarray(frame[:360, :640]), 1)  # the network's session
    cells = []
    for width in (1920, 1917, 1280, 800):
        resized = np.ascontiguousarray(frame[: width * 9 // 16, :width])
        layout = detector.pyramid.layout(*resized.shape[:2], 1)
        start = time.perf_counter()
        pyramid_model(layout, detector.pyramid.means).SerializeToString()
        build = 1000 * (time.perf_counter() - start)
        start = time.perf_counter()
        detector.pyramid.session(layout)
        session = 1000 * (time.perf_counter() - start)
        start = time.perf_counter()
        detector(resized, 1)
        first = 1000 * (time.perf_counter() - start)
        again = best_ms(lambda d=detector, image=resized: d(image, 1), reps=3)
        cells.append(f"{width} px: {build:.0f} + {session:.0f}, {first:.0f}, then {again:.1f}")
        FIGURES.setdefault("new_image_size_ms", {})[str(width)] = {
            "graph_built": build,
            "session_made": session,
            "first_detection": first,
            "then_best": again,
        }
    print(
        "   a new image size (ms): graph built + session made (build included), first "
        "detection, then best: " + "; ".join(cells)
    )
    in_use = FIGURES["gpu_mib_two_detectors_six_sizes"] = gpu_memory_used_mib()
    print(f"   GPU memory in use now (two detectors, 6 image sizes): {in_use} MiB")


def _engine_memory(pixels: float, frame_file: str, out: Any, arena: str) -> None:
    """In a process of its own: the GPU memory a default engine holds after a 1080p frame,
    then after 9 more image sizes."""
    from facesift import FaceEngine

    use_arena(arena)
    before = gpu_memory_used_mib()
    engine = FaceEngine(max_detect_pixels=pixels)
    frame = np.load(frame_file)
    faces = engine.analyze_pixels(frame)
    ms = best_ms(lambda: engine.analyze_pixels(frame), reps=3)
    one_size = gpu_memory_used_mib() - before
    for width in range(1900, 1000, -100):  # nine more image sizes
        engine.analyze_pixels(np.ascontiguousarray(frame[: width * 9 // 16, :width]))
    out.put((len(faces), ms, one_size, gpu_memory_used_mib() - before))


def memory_by_budget(frame: np.ndarray, arena: str) -> None:
    from facesift.vision.engine import gpu_engine_mib

    context = multiprocessing.get_context("spawn")
    print("\n4. one process's GPU memory with the default engine (GPU: cnn) after a 1080p frame")
    with tempfile.TemporaryDirectory() as folder:
        frame_file = str(Path(folder) / "frame.npy")
        np.save(frame_file, frame)
        for pixels in (9e6, 36e6):
            out = context.Queue()
            child = context.Process(target=_engine_memory, args=(pixels, frame_file, out, arena))
            child.start()
            faces, ms, used, after_sizes = out.get()
            child.join()
            FIGURES.setdefault("engine_memory_by_budget", {})[f"{pixels / 1e6:.0f}MP"] = {
                "faces": faces,
                "ms_per_frame": ms,
                "mib_after_one_size": used,
                "mib_after_ten_sizes": after_sizes,
                "estimate_mib": gpu_engine_mib(pixels),
            }
            print(
                f"   budget {pixels / 1e6:.0f} MP: {faces} faces, {ms:.0f} ms per frame analysed, "
                f"{used} MiB, {after_sizes} MiB after 9 more image sizes (the worker count's "
                f"estimate: {gpu_engine_mib(pixels):.0f} MiB)"
            )


def scan_on_gpu() -> None:
    """The scan's analysis (decode, detect, landmarks, embed; no database) of photos."""
    from PIL import Image

    from facesift import FaceEngine
    from facesift.execution.local import LocalProcesses, default_workers
    from facesift.media.video import read_frames
    from facesift.vision.models.runtime import gpu_free_memory_mib

    with tempfile.TemporaryDirectory() as folder:
        photos = sorted((DATA / "lfw-view1" / "images").glob("*/*_0001.jpg"))[:60]
        photos.append(DATA / "media" / "group_photo.jpg")
        for k, video_frame in enumerate(read_frames(DATA / "media" / "street_1080p.mp4", fps=None)):
            if k % 5 == 0:
                path = Path(folder) / f"street_{k:04d}.jpg"
                Image.fromarray(video_frame.pixels).save(path, quality=95)
                photos.append(path)
            if k >= 5 * 47:
                break
        print(
            f"\n5. the scan's analysis of {len(photos)} photos (60 LFW, the group photo, "
            f"{len(photos) - 61} street video frames as 1080p JPEGs): photos/s, faces"
        )
        gpu_engine = FaceEngine()
        cpu_engine = FaceEngine(detector="hog")
        print(
            f"   default workers: {default_workers(gpu_engine)} on the GPU "
            f"({gpu_free_memory_mib()} MiB free), {default_workers(cpu_engine)} with HOG"
        )
        runs = [("HOG on the CPU", cpu_engine, default_workers(cpu_engine))]
        runs += [("MMOD on the GPU", gpu_engine, n) for n in (1, 2, 4)]
        base = None
        for label, engine, workers in runs:
            with LocalProcesses(engine, workers) as pool:
                list(pool.imap(iter([(0, photos[0])])))  # workers started and warmed
                start = time.perf_counter()
                results = [r for _, r in pool.imap((k, p) for k, p in enumerate(photos))]
                seconds = time.perf_counter() - start
            faces = sum(len(r.faces) for r in results if not isinstance(r, str))
            rate = len(photos) / seconds
            base = base or rate
            key = "hog_cpu" if engine is cpu_engine else "mmod_gpu"
            FIGURES.setdefault("scan_analysis", {})[f"{key}_{workers}_workers"] = {
                "photos_per_second": rate,
                "faces": faces,
                "photos": len(photos),
            }
            print(
                f"   {label}, {workers} worker(s): {rate:6.1f} photos/s ({rate / base:.1f}×), "
                f"{faces} faces"
            )


def networks_alone(tf32: bool) -> None:
    import onnxruntime as ort

    from facesift.vision.models import CNN_DETECTOR, EMBEDDER, bundled_model
    from facesift.vision.models.convert import converted

    out = FIGURES.setdefault("networks", {}).setdefault("tf32_on" if tf32 else "tf32_off", {})
    rng = np.random.default_rng(0)
    mmod_path = converted(bundled_model(CNN_DETECTOR), "mmod")
    mmod = cuda_session(mmod_path, tf32)
    cpu = ort.InferenceSession(str(mmod_path), providers=["CPUExecutionProvider"])
    small = rng.uniform(0, 255, (1, 3, 400, 640)).astype(np.float32)
    gap = np.abs(mmod.run(None, {"pyramid": small})[0] - cpu.run(None, {"pyramid": small})[0]).max()
    out["mmod_max_score_difference_to_cpu"] = float(gap)
    print(
        f"\n6. TF32 {'on' if tf32 else 'off'}. MMOD network: scores differ from the CPU "
        f"provider's by at most {gap:.2g}"
    )
    for label, shape in PYRAMIDS.items():
        pyramid = rng.uniform(0, 255, shape).astype(np.float32)
        binding = mmod.io_binding()
        binding.bind_ortvalue_input("pyramid", ort.OrtValue.ortvalue_from_numpy(pyramid, "cuda", 0))
        binding.bind_output("scores", "cuda")
        host = best_ms(lambda p=pyramid: mmod.run(None, {"pyramid": p}))
        device = best_ms(lambda b=binding: mmod.run_with_iobinding(b))
        out.setdefault("mmod_ms", {})[label] = {"from_host": host, "on_gpu": device}
        print(
            f"   {label}, pyramid {shape[2]}×{shape[3]}: {host:.1f} ms from host "
            f"memory, {device:.1f} ms on the GPU"
        )
    try:
        resnet_path = converted(bundled_model(EMBEDDER), "resnet")
    except Exception as exc:  # weights not installed on this machine
        print(f"   ResNet skipped: {exc}")
        return
    resnet = cuda_session(resnet_path, tf32)
    cpu = ort.InferenceSession(str(resnet_path), providers=["CPUExecutionProvider"])
    chips = rng.integers(0, 256, (16, 150, 150, 3)).astype(np.uint8)
    a, b = resnet.run(None, {"chips": chips})[0], cpu.run(None, {"chips": chips})[0]
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    print(f"   ResNet: lowest cosine similarity to the CPU provider's {cosine.min():.7f}")
    out["resnet_min_cosine_to_cpu"] = float(cosine.min())
    for batch in (1, 64, 256):
        chips = rng.integers(0, 256, (batch, 150, 150, 3)).astype(np.uint8)
        ms = best_ms(lambda c=chips: resnet.run(None, {"chips": c}), reps=10)
        print(f"   ResNet batch {batch}: {ms:.2f} ms, {batch / ms * 1000:.0f} faces/s")
        out.setdefault("resnet_faces_per_second", {})[f"batch_{batch}"] = batch / ms * 1000


def main() -> None:
    import argparse

    import onnxruntime as ort

    from facesift.vision.models.runtime import CUDA, available_providers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=int, default=60, help="LFW photos per face size")
    parser.add_argument("--sections", default="123456", help="which sections to run")
    parser.add_argument("--tf32", choices=("off", "on", "both"), default="off")
    parser.add_argument("--arena", choices=("shared", "per-session"), default="shared")
    args = parser.parse_args()
    use_arena(args.arena)
    print(f"onnxruntime {ort.__version__}; facesift's providers: {available_providers()}")
    if CUDA not in available_providers():
        sys.exit("no CUDA provider: install onnxruntime-gpu on a machine with an NVIDIA GPU")
    if not DATA.is_dir():
        sys.exit(f"{DATA}: the shared datasets are needed beside the project")
    frame = frames()["1920×1080"]
    found = detectors() if "1" in args.sections or "2" in args.sections else {}
    if "1" in args.sections:
        print("\n1. Detection")
        FIGURES["ms_per_photo"] = report_speed(found, 5)
    if "2" in args.sections:
        print("\n2. Recall")
        FIGURES["recall"] = report_recall(found, args.lfw)
    if "3" in args.sections:
        parity_memory_and_new_sizes(frame)
    if "4" in args.sections:
        memory_by_budget(frame, args.arena)
    if "5" in args.sections:
        scan_on_gpu()
    if "6" in args.sections:
        for tf32 in {"off": (False,), "on": (True,), "both": (False, True)}[args.tf32]:
            networks_alone(tf32)
    write_result(
        f"gpu_runtime{'' if args.arena == 'shared' else '_' + args.arena.replace('-', '_')}",
        FIGURES,
        {
            "sections": args.sections,
            "lfw_photos_per_face_size": args.lfw,
            "tf32_in_section_6": args.tf32,
            "arena": args.arena,
            "onnxruntime_providers": available_providers(),
        },
    )


if __name__ == "__main__":
    main()
