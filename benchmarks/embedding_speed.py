"""Embedding speed: facesift's ONNX Runtime embedder (batch 1 and batched) vs dlib's own
`compute_face_descriptor` as face_recognition's default pipeline calls it, on the same chips
in one run. Prints faces/s, the ratios, and the largest difference between the vectors.

The runs of the three are interleaved and each one's fastest counts (`--repeat`).

Run: python benchmarks/embedding_speed.py [--faces N] [--repeat 5]
Writes benchmarks/results/embedding_speed.json.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _results import DATASETS, write_result

DATA = DATASETS


def face_chips(limit: int) -> list[np.ndarray]:
    from facesift import FaceEngine

    engine = FaceEngine()
    chips: list[np.ndarray] = []
    for photo in sorted((DATA / "lfw-view1" / "images").glob("*/*_0001.jpg")):
        chips += [f.chip for f in engine.analyze(photo)]
        if len(chips) >= limit:
            return chips[:limit]
    return chips


def timed_together(functions: list, repeat: int) -> list[tuple[float, object]]:
    """Each function's fastest of `repeat` runs, the runs interleaved (one of each in turn),
    so that a busy moment on a shared machine weighs on all of them alike."""
    best = [float("inf")] * len(functions)
    results: list[object] = [None] * len(functions)
    for _ in range(repeat):
        for k, function in enumerate(functions):
            start = time.perf_counter()
            results[k] = function()
            best[k] = min(best[k], time.perf_counter() - start)
    return list(zip(best, results, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each, interleaved")
    args = parser.parse_args()

    import dlib
    import face_recognition_models

    from facesift.vision.embed import DlibEmbedder

    chips = face_chips(args.faces)
    print(f"{len(chips)} LFW face chips (150×150), {os.cpu_count()} cores")
    reference = dlib.face_recognition_model_v1(
        face_recognition_models.face_recognition_model_location()
    )
    onnx = DlibEmbedder("onnx", flip=False)  # the network itself, as dlib runs it
    onnx.embed(chips[:2])  # load and warm up the session

    # face_recognition calls compute_face_descriptor once per face (num_jitters=1).
    (t_dlib, dlib_vectors), (t_one, _), (t_batch, onnx_vectors) = timed_together(
        [
            lambda: np.array([reference.compute_face_descriptor(c) for c in chips]),
            lambda: np.concatenate([onnx.embed([c]) for c in chips]),
            lambda: onnx.embed(chips),
        ],
        args.repeat,
    )
    cosine = np.sum(dlib_vectors * onnx_vectors, 1) / (
        np.linalg.norm(dlib_vectors, axis=1) * np.linalg.norm(onnx_vectors, axis=1)
    )
    print(f"{'embedder':<44}{'faces/s':>9}{'speed':>8}")
    figures: dict[str, dict[str, float]] = {"faces_per_second": {}, "speedup_over_dlib": {}}
    for key, name, seconds in (
        ("dlib", "dlib compute_face_descriptor (face_recognition)", t_dlib),
        ("onnx_batch_1", "facesift ONNX Runtime, batch 1", t_one),
        ("onnx_batched", f"facesift ONNX Runtime, batch {onnx.batch_size}", t_batch),
    ):
        print(f"{name:<44}{len(chips) / seconds:>9.1f}{t_dlib / seconds:>7.1f}×")
        figures["faces_per_second"][key] = len(chips) / seconds
        figures["speedup_over_dlib"][key] = t_dlib / seconds
    print(
        f"min cosine similarity to dlib: {cosine.min():.9f}; "
        f"max abs difference: {np.abs(dlib_vectors - onnx_vectors).max():.2e}"
    )
    figures["agreement_with_dlib"] = {
        "min_cosine": float(cosine.min()),
        "max_abs_difference": float(np.abs(dlib_vectors - onnx_vectors).max()),
    }
    write_result(
        "embedding_speed",
        figures,
        {
            "dataset": "lfw-view1 (faces of the first photo of each person, in name order)",
            "faces": len(chips),
            "batch_size": onnx.batch_size,
            "timing": f"best of {args.repeat} runs of each, interleaved",
        },
    )


if __name__ == "__main__":
    main()
