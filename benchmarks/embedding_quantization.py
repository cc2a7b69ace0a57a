"""CPU embedding options for the default embedder (dlib's ResNet as a converted ONNX graph):
ONNX Runtime INT8 quantization and session/graph options, each against the FP32 session
facesift ships, on the same LFW View 1 face chips.

Three stages, in one run:

1. Chips: the main face of every photo of pairsDevTrain.txt and pairsDevTest.txt, as
   facesift's evaluation finds it (thorough detection, the face nearest the centre), 150×150
   dlib chips; cached in benchmarks/.cache/embedding_quantization/ (with the engine's own
   vectors, which the FP32 session must reproduce).
2. Speed: ms per chip of each option, all options timed in turn in each round (interleaved,
   so a busy moment on a shared machine weighs on all alike), in several fresh processes
   (`--runs`); each option's ratio to FP32 is taken within a round, and the median over all
   rounds and processes is reported. Options: static INT8 (QDQ and QOperator, per-channel or
   per-tensor, MinMax calibration on DevTrain chips and their mirror images), dynamic INT8,
   graph optimisation level (all / extended / basic), the ENABLE_ALL graph saved and loaded
   back without optimisation, intra-op spinning off, 1 vs 2 threads, batch 1 / 8 / 32 / 64,
   and flip (two chips per face) on vs off.
3. Agreement and accuracy of each model file: every chip (and its mirror) embedded as
   DlibEmbedder does (flip: the sum of both vectors); cosine similarity to FP32 (min / mean,
   flipped and single-chip vectors); LFW View 1 DevTest accuracy at the threshold that is
   best on DevTrain (facesift.match.metrics.best_threshold) and at the default 0.914, ROC AUC
   and TAR at FAR 1e-3 (facesift.workflows.evaluate.evaluate_verification); and the true FMR,
   over all different-identity pairs among the DevTest photos (and among the DevTrain
   photos, on which the calibration was fitted), at the score the shipped calibration maps
   to FMR 1e-3.

Run: python benchmarks/embedding_quantization.py [--speed-faces 32] [--rounds 4] [--runs 3]
     [--calibration-faces 256] [--focus INT8_VARIANT]
Writes benchmarks/results/embedding_quantization.json. With --only OPTION,... (and --tag TAG)
it times just those options against fp32, longer (e.g. --rounds 8), and writes
benchmarks/results/embedding_quantization_speed_TAG.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _results import DATASETS, ROOT, write_result

LFW = DATASETS / "lfw-view1"
CACHE = ROOT / "benchmarks" / ".cache" / "embedding_quantization"
BATCH = 64  # DlibEmbedder.batch_size
SUBSET_STEP = 9  # every 9th face (555 of 4992): cosine only, for the options not evaluated fully
# Model files evaluated on every face (accuracy, FMR); the QOperator twins of the QDQ files
# and dynamic INT8 get the cosine check on the subset only.
FULL = ("fp32", "int8_qdq_per_channel", "int8_qdq_per_tensor", "int8_qdq_per_channel_reduce_range")
SLOW = ("int8_dynamic",)  # timed in the first round of each process only


# ---------------------------------------------------------------------------------------------
# Chips


def pair_lists() -> tuple[list, list]:
    from facesift.workflows.evaluate import read_pairs

    root = LFW / "images"
    return read_pairs(LFW / "pairsDevTrain.txt", root), read_pairs(LFW / "pairsDevTest.txt", root)


def lfw_chips() -> dict[str, Any]:
    """Main face of every View 1 photo: paths, split, identity, chip, engine vector."""
    train, test = pair_lists()
    train_photos = sorted({p for pair in train for p in (pair.a, pair.b)})
    test_photos = sorted({p for pair in test for p in (pair.a, pair.b)})
    train_set = set(train_photos)
    photos = train_photos + [p for p in test_photos if p not in train_set]
    key = hashlib.sha256("\n".join(map(str, photos)).encode()).hexdigest()[:12]
    path = CACHE / f"chips-{key}.npz"
    if path.is_file():
        data = np.load(path, allow_pickle=False)
        return {k: data[k] for k in data.files}

    from facesift import FaceEngine
    from facesift.media.image import load_image
    from facesift.vision.face import choose_primary

    engine = FaceEngine()
    chips = np.zeros((len(photos), 150, 150, 3), np.uint8)
    vectors = np.full((len(photos), 128), np.nan, np.float32)
    start = time.perf_counter()
    for k, photo in enumerate(photos):
        pixels = load_image(photo).pixels
        face, _ = choose_primary(engine.analyze_pixels(pixels, thorough=True), pixels.shape,
                                 "central")  # fmt: skip
        if face is not None:
            chips[k], vectors[k] = face.chip, face.embedding
        if (k + 1) % 500 == 0:
            print(f"  chips: {k + 1}/{len(photos)} photos, {time.perf_counter() - start:.0f} s",
                  flush=True)  # fmt: skip
    found = ~np.isnan(vectors).any(axis=1)
    test_set = {str(p) for p in test_photos}
    data = {
        "paths": np.array([str(p) for p in photos]),
        "found": found,
        "in_train": np.array([p in train_set for p in photos]),
        "in_test": np.array([str(p) in test_set for p in photos]),
        "identity": np.array([p.parent.name for p in photos]),
        "chips": chips,
        "engine_vectors": vectors,
    }
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, **data)
    return data


# ---------------------------------------------------------------------------------------------
# Model files


def fp32_model() -> Path:
    from facesift.vision.models import EMBEDDER, bundled_model
    from facesift.vision.models.convert import converted

    return converted(bundled_model(EMBEDDER), "resnet")


class ChipReader:
    """quantize_static's calibration data: DevTrain chips and their mirror images, batched."""

    def __init__(self, chips: np.ndarray, batch: int = 32) -> None:
        both = np.concatenate([chips, chips[:, :, ::-1]])
        self.batches = [both[k : k + batch] for k in range(0, len(both), batch)]
        self.k = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.k >= len(self.batches):
            return None
        self.k += 1
        return {"chips": np.ascontiguousarray(self.batches[self.k - 1])}

    def rewind(self) -> None:
        self.k = 0


QUANTIZED = {
    # name: (format, per_channel, reduce_range: 7-bit weights, ORT's advice for CPUs without
    # VNNI, whose u8s8 kernels can saturate)
    "int8_qdq_per_channel": ("QDQ", True, False),
    "int8_qdq_per_tensor": ("QDQ", False, False),
    "int8_qop_per_channel": ("QOperator", True, False),
    "int8_qop_per_tensor": ("QOperator", False, False),
    "int8_qdq_per_channel_reduce_range": ("QDQ", True, True),
    "int8_qop_per_channel_reduce_range": ("QOperator", True, True),
}


def model_files(data: dict[str, Any], calibration_faces: int) -> dict[str, Path]:
    """FP32, its ENABLE_ALL-optimised copy, the static INT8 variants and dynamic INT8."""
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32 = fp32_model()
    tag = hashlib.sha256(fp32.read_bytes()).hexdigest()[:12] + f"-c{calibration_faces}"
    folder = CACHE / tag
    folder.mkdir(parents=True, exist_ok=True)
    files = {"fp32": fp32}

    optimised = folder / "fp32_optimised_all.onnx"
    if not optimised.is_file():
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(optimised)
        ort.InferenceSession(str(fp32), options, providers=["CPUExecutionProvider"])
    files["fp32_optimised_all"] = optimised

    pre = folder / "fp32_preprocessed.onnx"
    if not pre.is_file():
        # symbolic shape inference needs sympy; ONNX shape inference suffices (only N varies)
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)

    rng = np.random.default_rng(0)
    train = np.flatnonzero(data["found"] & data["in_train"])
    calib = data["chips"][np.sort(rng.choice(train, calibration_faces, replace=False))]
    for name, (fmt, per_channel, reduce_range) in QUANTIZED.items():
        out = folder / f"{name}.onnx"
        if not out.is_file():
            start = time.perf_counter()
            quantize_static(
                str(pre),
                str(out),
                ChipReader(calib),
                quant_format=QuantFormat.QDQ if fmt == "QDQ" else QuantFormat.QOperator,
                per_channel=per_channel,
                reduce_range=reduce_range,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )
            print(f"  {name}: quantized in {time.perf_counter() - start:.0f} s", flush=True)
        files[name] = out

    dynamic = folder / "int8_dynamic.onnx"
    if not dynamic.is_file():
        quantize_dynamic(str(pre), str(dynamic), weight_type=QuantType.QInt8)
    files["int8_dynamic"] = dynamic
    return files


# ---------------------------------------------------------------------------------------------
# Sessions and embedding


def session(path: Path, *, level: str = "all", threads: int = 2, spinning: bool = True) -> Any:
    """As facesift.vision.models.runtime.onnx_session on a CPU, with the option changed."""
    import onnxruntime as ort

    levels = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = levels[level]
    options.log_severity_level = 3
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def embed_once(sess: Any, chips: np.ndarray, batch: int = BATCH) -> np.ndarray:
    out = [
        sess.run(None, {"chips": np.ascontiguousarray(chips[k : k + batch])})[0]
        for k in range(0, len(chips), batch)
    ]
    return np.concatenate(out).astype(np.float32)


def embed(sess: Any, chips: np.ndarray, flip: bool = True, batch: int = BATCH) -> np.ndarray:
    """DlibEmbedder.embed: with flip, chips and mirror images in one batch list, summed."""
    if not flip:
        return embed_once(sess, chips, batch)
    both = embed_once(sess, np.concatenate([chips, chips[:, :, ::-1]]), batch)
    return both[: len(chips)] + both[len(chips) :]


# ---------------------------------------------------------------------------------------------
# Speed (in a fresh process per run)


def speed_options(files: dict[str, str], focus: str) -> dict[str, tuple[dict[str, Any], int, bool]]:
    """name: (session arguments, batch, flip). The reference is "fp32" (as shipped: ENABLE_ALL,
    2 threads, spinning on, batch 64, flip)."""
    fp32 = files["fp32"]
    options: dict[str, tuple[dict[str, Any], int, bool]] = {
        "fp32": ({"path": fp32}, BATCH, True),
        "fp32_extended": ({"path": fp32, "level": "extended"}, BATCH, True),
        "fp32_basic": ({"path": fp32, "level": "basic"}, BATCH, True),
        "fp32_saved_optimised": ({"path": files["fp32_optimised_all"], "level": "none"},
                                 BATCH, True),
        "fp32_no_spinning": ({"path": fp32, "spinning": False}, BATCH, True),
        "fp32_1_thread": ({"path": fp32, "threads": 1}, BATCH, True),
        "fp32_batch_1": ({"path": fp32}, 1, True),
        "fp32_batch_8": ({"path": fp32}, 8, True),
        "fp32_batch_32": ({"path": fp32}, 32, True),
        "fp32_no_flip": ({"path": fp32}, BATCH, False),
    }  # fmt: skip
    for name in (*QUANTIZED, "int8_dynamic"):
        options[name] = ({"path": files[name]}, BATCH, True)
    # the INT8 variant looked at more closely (--focus): threads, batch, flip, saved graph
    options[f"{focus}_1_thread"] = ({"path": files[focus], "threads": 1}, BATCH, True)
    options[f"{focus}_batch_1"] = ({"path": files[focus]}, 1, True)
    options[f"{focus}_batch_8"] = ({"path": files[focus]}, 8, True)
    options[f"{focus}_no_flip"] = ({"path": files[focus]}, BATCH, False)
    options[f"{focus}_extended"] = ({"path": files[focus], "level": "extended"}, BATCH, True)
    return options


def measure_speed(
    files: dict[str, str], faces: int, rounds: int, focus: str, only: list[str] | None = None
) -> dict[str, Any]:
    """One process: per round, each option's time for the same faces, in turn."""
    data = lfw_chips()
    chips = data["chips"][np.flatnonzero(data["found"] & data["in_test"])[:faces]]
    options = speed_options(files, focus)
    if only:
        options = {k: v for k, v in options.items() if k == "fp32" or k in only}
    sessions, load_seconds = {}, {}
    for name, (kwargs, _, _) in options.items():
        start = time.perf_counter()
        sessions[name] = session(Path(kwargs["path"]), **{k: v for k, v in kwargs.items()
                                                          if k != "path"})  # fmt: skip
        load_seconds[name] = time.perf_counter() - start
        embed(sessions[name], chips[:4], batch=2)  # warm up
    times: dict[str, list[float]] = {name: [] for name in options}
    for round_ in range(rounds):
        for name, (_, batch, flip) in options.items():
            if round_ and name in SLOW:
                continue
            start = time.perf_counter()
            embed(sessions[name], chips, flip=flip, batch=batch)
            times[name].append(time.perf_counter() - start)
    return {"faces": len(chips), "times": times, "load_seconds": load_seconds}


# ---------------------------------------------------------------------------------------------
# Agreement and accuracy


def vectors_for(name: str, path: Path, chips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(single-chip vectors, mirror-image vectors) of every chip; cached per model file."""
    digest = hashlib.sha256(path.read_bytes() + chips[::97].tobytes()).hexdigest()[:16]
    cached = CACHE / f"vectors-{name}-{digest}.npz"
    if cached.is_file():
        got = np.load(cached)
        return got["plain"], got["mirror"]
    start = time.perf_counter()
    sess = session(path)
    plain = embed_once(sess, chips)
    mirror = embed_once(sess, np.ascontiguousarray(chips[:, :, ::-1]))
    print(f"  {name}: {len(chips)} faces embedded in {time.perf_counter() - start:.0f} s",
          flush=True)  # fmt: skip
    np.savez(cached, plain=plain, mirror=mirror)
    return plain, mirror


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def accuracy_of(vectors: np.ndarray, data: dict[str, Any], calibration: Any) -> dict[str, Any]:
    from facesift.match import metrics
    from facesift.match.calibration import impostor_scores
    from facesift.match.decision import DEFAULT_THRESHOLD
    from facesift.workflows.evaluate import EmbeddedPhotos, evaluate_verification

    table = np.full((len(data["paths"]), 128), np.nan, np.float32)
    table[data["found"]] = vectors
    embedded = EmbeddedPhotos([Path(p) for p in data["paths"]], table)
    train, test = pair_lists()

    def report(pairs, threshold):
        return evaluate_verification(None, pairs, threshold=threshold, calibration=calibration,
                                     embedded=embedded)  # fmt: skip

    train_report = report(train, DEFAULT_THRESHOLD)
    compared = ~np.isnan(train_report.scores)
    fitted = metrics.best_threshold(train_report.scores[compared], train_report.same[compared])
    test_report = report(test, fitted)
    at_1e3 = calibration.threshold_for(1e-3)
    at_1e3_point = calibration.threshold_for(1e-3, "point")
    fmr = {}
    for split in ("in_test", "in_train"):
        rows = data[split][data["found"]]
        scores = impostor_scores(vectors[rows], list(data["identity"][data["found"]][rows]))
        fmr[split.removeprefix("in_")] = {
            "impostor_pairs": len(scores),
            "fmr_at_calibrated_1e-3_upper": float(np.mean(scores >= at_1e3)),
            "fmr_at_calibrated_1e-3_point": float(np.mean(scores >= at_1e3_point)),
        }
    return {
        "devtrain_best_threshold": fitted,
        "devtrain_accuracy_at_it": train_report.threshold_accuracy,
        "devtest_accuracy_at_devtrain_threshold": test_report.threshold_accuracy,
        "devtest_accuracy_at_default_threshold": metrics_accuracy(test_report, DEFAULT_THRESHOLD),
        "devtest_roc_auc": test_report.roc_auc,
        "devtest_tar_at_far": test_report.tar_at_far,
        "devtest_pairs_not_compared": int(test_report.not_compared.sum()),
        "calibrated_threshold_1e-3": {"upper": at_1e3, "point": at_1e3_point},
        "true_fmr_at_calibrated_1e-3": fmr,
    }


def metrics_accuracy(report: Any, threshold: float) -> float:
    from facesift.workflows.evaluate import _accuracy

    return _accuracy(report.scores, report.same, threshold)


def cosine_summary(c: np.ndarray, c1: np.ndarray) -> dict[str, Any]:
    """Cosines to FP32 of each face's vector (with its mirror's) and of the plain chip's."""
    return {
        "faces": len(c),
        "cosine_to_fp32": {"min": float(c.min()), "mean": float(c.mean()),
                           "p01": float(np.quantile(c, 0.01))},
        "cosine_to_fp32_single_chip": {"min": float(c1.min()), "mean": float(c1.mean())},
    }  # fmt: skip


def agreement(files: dict[str, Path], data: dict[str, Any]) -> dict[str, Any]:
    from facesift.match.calibration import bundled_calibration
    from facesift.vision.models import EMBEDDER, bundled_model

    model = bundled_model(EMBEDDER)
    calibration = bundled_calibration(model.name + "+flip", model.sha256)
    chips = data["chips"][data["found"]]
    ref_plain, ref_mirror = vectors_for("fp32", files["fp32"], chips)
    reference = ref_plain + ref_mirror
    engine = data["engine_vectors"][data["found"]]
    out: dict[str, Any] = {
        "fp32_vs_engine_min_cosine": float(cosines(reference, engine).min()),
    }
    for name in ("fp32", "fp32_optimised_all", *QUANTIZED, "int8_dynamic"):
        if name not in FULL:
            sub = slice(None, None, SUBSET_STEP)
            plain, mirror = vectors_for(name, files[name], chips[sub])
            c, c1 = cosines(reference[sub], plain + mirror), cosines(ref_plain[sub], plain)
            out[name] = cosine_summary(c, c1)
            print(f"  {name:<36} cos min {c.min():.5f} mean {c.mean():.6f} ({len(c)} faces)")
            continue
        plain, mirror = vectors_for(name, files[name], chips)
        flipped = plain + mirror
        c, c1 = cosines(reference, flipped), cosines(ref_plain, plain)
        out[name] = {**cosine_summary(c, c1), **accuracy_of(flipped, data, calibration)}
        row = out[name]
        print(
            f"  {name:<36} cos min {c.min():.5f} mean {c.mean():.6f}; DevTest acc "
            f"{row['devtest_accuracy_at_devtrain_threshold']:.4f} "
            f"(thr {row['devtrain_best_threshold']:.4f}); FMR@1e-3 test "
            f"{row['true_fmr_at_calibrated_1e-3']['test']['fmr_at_calibrated_1e-3_upper']:.2e}",
            flush=True,
        )
    return out


# ---------------------------------------------------------------------------------------------


def summarise_speed(runs: list[dict[str, Any]]) -> dict[str, Any]:
    names = list(runs[0]["times"])
    faces = runs[0]["faces"]
    summary = {}
    for name in names:
        ratios = [
            ref / t
            for run in runs
            # a SLOW option has the first round only
            for ref, t in zip(run["times"]["fp32"], run["times"][name], strict=False)
        ]
        best = min(min(run["times"][name]) for run in runs)
        summary[name] = {
            "ms_per_face_best": 1000 * best / faces,
            "speedup_over_fp32_median": float(np.median(ratios)),
            "speedup_over_fp32_min": min(ratios),
            "speedup_over_fp32_max": max(ratios),
            "session_load_seconds_median": float(
                np.median([run["load_seconds"][name] for run in runs])
            ),
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed-faces", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds per process")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes for the speed")
    parser.add_argument("--calibration-faces", type=int, default=256)
    parser.add_argument(
        "--focus",
        default="int8_qdq_per_channel_reduce_range",
        help="INT8 variant whose threads, batch and flip are also timed",
    )
    parser.add_argument(
        "--only",
        help="comma-separated speed options to time (with fp32); implies --skip-accuracy and "
        "writes embedding_quantization_speed_TAG.json",
    )
    parser.add_argument("--tag", default="focused", help="names the --only result file")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--speed-run", help=argparse.SUPPRESS)  # JSON of the model files
    args = parser.parse_args()
    if args.speed_run:
        files = json.loads(args.speed_run)
        only = args.only.split(",") if args.only else None
        print(json.dumps(measure_speed(files, args.speed_faces, args.rounds, args.focus, only)))
        return

    print("1. chips", flush=True)
    data = lfw_chips()
    print(f"  {int(data['found'].sum())} of {len(data['paths'])} photos with a face", flush=True)
    files = model_files(data, args.calibration_faces)

    figures: dict[str, Any] = {}
    runs = []
    paths = json.dumps({n: str(p) for n, p in files.items()})
    for k in range(0 if args.skip_speed else args.runs):
        if k == 0:
            print("2. speed", flush=True)
        out = subprocess.run(
            [sys.executable, __file__, f"--speed-faces={args.speed_faces}",
             f"--rounds={args.rounds}", f"--focus={args.focus}", f"--only={args.only or ''}",
             "--speed-run", paths],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        runs.append(json.loads(out.strip().splitlines()[-1]))
        print(f"  process {k + 1}/{args.runs} done", flush=True)
    if runs:
        figures["speed"] = speed = summarise_speed(runs)
        print(f"  {'option':<44}{'ms/face':>9}{'× FP32 (median, min-max)':>28}")
        for name, row in speed.items():
            print(
                f"  {name:<44}{row['ms_per_face_best']:>9.2f}"
                f"{row['speedup_over_fp32_median']:>12.2f}× ({row['speedup_over_fp32_min']:.2f}"
                f"-{row['speedup_over_fp32_max']:.2f}×)"
            )
    if not (args.skip_accuracy or args.only):
        print("3. agreement and accuracy", flush=True)
        figures["agreement_and_accuracy"] = agreement(files, data)

    import onnxruntime as ort

    write_result(
        f"embedding_quantization_speed_{args.tag}" if args.only else "embedding_quantization",
        figures,
        {
            "dataset": "lfw-view1: main face (thorough, nearest the centre) of every photo of "
            "pairsDevTrain.txt and pairsDevTest.txt",
            "photos": len(data["paths"]),
            "faces": int(data["found"].sum()),
            "speed_faces": runs[0]["faces"] if runs else None,
            "timing": f"{args.rounds} interleaved rounds in each of {args.runs} processes; ms "
            "per face is the best round (flip: two chips per face unless the option says "
            "no_flip); speedups are per-round ratios to fp32, median over all rounds",
            "reference": "fp32: the shipped session (ORT_ENABLE_ALL, 2 intra-op threads, "
            "spinning on, batch 64, flip)",
            "quantization": f"onnxruntime {ort.__version__} quantize_static after "
            "quant_pre_process; activations QUInt8, weights QInt8, MinMax calibration on "
            f"{args.calibration_faces} DevTrain chips and their mirror images (seed 0); "
            "quantize_dynamic with QInt8 weights",
            "cpu_flags": _cpu_flags(),
        },
    )


def _cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "f16c")
                return [f for f in line.split(":", 1)[1].split() if f in wanted]
    except OSError:
        pass
    return []


if __name__ == "__main__":
    os.environ.setdefault("FACESIFT_DEVICE", "cpu")
    main()
