"""Embedding speed: facesift's ONNX Runtime embedder (batch 1 and batched) vs dlib's own
`compute_face_descriptor` as face_recognition's default pipeline calls it, on the same chips
in one run. Prints faces/s, the ratios, and the largest difference between the vectors.

The runs of the three are interleaved and each one's fastest counts (`--repeat`); the whole
measurement is made in several fresh processes one after another (`--runs`), since on a shared
machine the speed of ONNX Runtime's threads varies from process to process: the result file
keeps every run and the median, least and greatest ratios.

Run: python benchmarks/embedding_speed.py [--faces N] [--repeat 5] [--runs 5]
Writes benchmarks/results/embedding_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

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


def measure(faces: int, repeat: int) -> dict[str, Any]:
    """One run, in this process: faces/s of each embedder, ratios, agreement with dlib."""
    import dlib
    import face_recognition_models

    from facesift.vision.embed import DlibEmbedder

    chips = face_chips(faces)
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
        repeat,
    )
    cosine = np.sum(dlib_vectors * onnx_vectors, 1) / (
        np.linalg.norm(dlib_vectors, axis=1) * np.linalg.norm(onnx_vectors, axis=1)
    )
    times = {"dlib": t_dlib, "onnx_batch_1": t_one, "onnx_batched": t_batch}
    return {
        "faces": len(chips),
        "batch_size": onnx.batch_size,
        "faces_per_second": {k: len(chips) / t for k, t in times.items()},
        "speedup_over_dlib": {k: t_dlib / t for k, t in times.items()},
        "min_cosine": float(cosine.min()),
        "max_abs_difference": float(np.abs(dlib_vectors - onnx_vectors).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each, interleaved")
    parser.add_argument("--runs", type=int, default=5, help="fresh processes, one after another")
    parser.add_argument("--one-run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_run:
        print(json.dumps(measure(args.faces, args.repeat)))
        return

    runs = []
    for _ in range(args.runs):
        out = subprocess.run(
            [sys.executable, __file__, "--one-run", f"--faces={args.faces}",
             f"--repeat={args.repeat}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        runs.append(json.loads(out.strip().splitlines()[-1]))
    print(f"{runs[0]['faces']} LFW face chips (150×150), {os.cpu_count()} cores, {args.runs} runs")
    print(f"{'embedder':<48}{'faces/s':>9}{'speed (median, min-max)':>26}")
    figures: dict[str, Any] = {"faces_per_second": {}, "speedup_over_dlib": {}}
    for key, name in (
        ("dlib", "dlib compute_face_descriptor (face_recognition)"),
        ("onnx_batch_1", "facesift ONNX Runtime, batch 1"),
        ("onnx_batched", f"facesift ONNX Runtime, batch {runs[0]['batch_size']}"),
    ):
        rates = [r["faces_per_second"][key] for r in runs]
        ratios = [r["speedup_over_dlib"][key] for r in runs]
        figures["faces_per_second"][key] = {"median": float(np.median(rates)), "runs": rates}
        figures["speedup_over_dlib"][key] = {
            "median": float(np.median(ratios)),
            "min": min(ratios),
            "max": max(ratios),
            "runs": ratios,
        }
        print(
            f"{name:<48}{np.median(rates):>9.1f}{np.median(ratios):>11.1f}× "
            f"({min(ratios):.1f}-{max(ratios):.1f}×)"
        )
    figures["agreement_with_dlib"] = {
        "min_cosine": min(r["min_cosine"] for r in runs),
        "max_abs_difference": max(r["max_abs_difference"] for r in runs),
    }
    print(
        f"min cosine similarity to dlib: {figures['agreement_with_dlib']['min_cosine']:.9f}; "
        f"max abs difference: {figures['agreement_with_dlib']['max_abs_difference']:.2e}"
    )
    write_result(
        "embedding_speed",
        figures,
        {
            "dataset": "lfw-view1 (faces of the first photo of each person, in name order)",
            "faces": runs[0]["faces"],
            "batch_size": runs[0]["batch_size"],
            "timing": f"best of {args.repeat} runs of each, interleaved, in each of "
            f"{args.runs} processes run one after another",
        },
    )


if __name__ == "__main__":
    main()
