"""Decision choices measured on LFW View 1: each is kept only if it helps.

- Horizontal-flip test-time augmentation: embed the chip and its mirror, average.
- Template fusion for people with several gallery photos: best single score (max) vs the
  mean embedding vs the mean score.

Verification: threshold tuned on pairsDevTrain.txt, accuracy on pairsDevTest.txt.
Identification: DevTest people with 3+ photos; all but the last photo form the template,
the last photo is the probe, against every template; rank-1.

Both variants come from one run (`--flip` only chooses which are reported).

Run: python benchmarks/decisions.py [--workers 2] [--flip both|on|off]
Writes benchmarks/results/decisions.json.
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from _results import DATASETS, write_result

DATA = DATASETS / "lfw-view1"


def chips_for(photos: list[Path], workers: int = 1) -> list[np.ndarray | None]:
    """The central face's aligned chip of each photo (None where none), `workers` processes."""
    if workers <= 1:
        return _chips(photos)
    chunks = [photos[k::workers] for k in range(workers)]
    with ProcessPoolExecutor(workers, initializer=_one_thread) as pool:
        done = list(pool.map(_chips, chunks))
    out: list[np.ndarray | None] = [None] * len(photos)
    for k, chips in enumerate(done):
        out[k::workers] = chips
    return out


def _one_thread() -> None:
    os.environ["FACESIFT_THREADS"] = "1"  # one ONNX Runtime thread per process


def _chips(photos: list[Path]) -> list[np.ndarray | None]:
    from facesift import FaceEngine
    from facesift.media import load_image
    from facesift.vision.face import choose_primary

    engine = FaceEngine()
    out: list[np.ndarray | None] = []
    for photo in photos:
        pixels = load_image(photo).pixels
        face, _ = choose_primary(
            engine.analyze_pixels(pixels, thorough=True), pixels.shape, "central"
        )
        out.append(None if face is None else face.chip)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--flip", choices=("both", "on", "off"), default="both", help="which variants to report"
    )
    args = parser.parse_args()
    from facesift.match import metrics
    from facesift.match.decision import DEFAULT_THRESHOLD
    from facesift.vision.embed import DlibEmbedder
    from facesift.vision.similarity import l2_normalize
    from facesift.workflows.evaluate import read_pairs

    train = read_pairs(DATA / "pairsDevTrain.txt", DATA / "images")
    test = read_pairs(DATA / "pairsDevTest.txt", DATA / "images")
    photos = sorted({p for pair in train + test for p in (pair.a, pair.b)})
    chips = chips_for(photos, args.workers)
    ok = [c is not None for c in chips]
    embedder = DlibEmbedder(flip=False)  # the variants below add the mirror themselves
    present = [c for c in chips if c is not None]
    plain = np.full((len(photos), 128), np.nan, np.float32)
    flipped = plain.copy()
    plain[ok] = embedder.embed(present)
    flipped[ok] = embedder.embed([np.ascontiguousarray(c[:, ::-1]) for c in present])
    variants = {
        "plain": l2_normalize(np.nan_to_num(plain)),
        "flip TTA": l2_normalize(np.nan_to_num(plain) + np.nan_to_num(flipped)),
    }
    chosen = {"both": ("plain", "flip TTA"), "on": ("flip TTA",), "off": ("plain",)}[args.flip]
    variants = {name: v for name, v in variants.items() if name in chosen}
    keys = {"plain": "no_flip", "flip TTA": "flip"}
    figures: dict[str, dict[str, object]] = {"verification": {}, "identification": {}}
    where = {p: k for k, p in enumerate(photos)}

    def pair_scores(vectors: np.ndarray, pairs) -> tuple[np.ndarray, np.ndarray]:
        s = np.array([float(vectors[where[p.a]] @ vectors[where[p.b]]) for p in pairs])
        return s, np.array([p.same for p in pairs])

    print("verification (threshold tuned on DevTrain, accuracy on DevTest)")
    for name, vectors in variants.items():
        s_train, y_train = pair_scores(vectors, train)
        s_test, y_test = pair_scores(vectors, test)
        threshold = metrics.best_threshold(s_train, y_train)
        figures["verification"][keys[name]] = {
            "threshold": threshold,
            "devtrain_accuracy": metrics.accuracy(s_train, y_train, threshold),
            "devtest_accuracy": metrics.accuracy(s_test, y_test, threshold),
            # facesift's default decision (for its flipped embedding)
            "at_default_threshold": {
                "threshold": DEFAULT_THRESHOLD,
                "devtrain_accuracy": metrics.accuracy(s_train, y_train, DEFAULT_THRESHOLD),
                "devtest_accuracy": metrics.accuracy(s_test, y_test, DEFAULT_THRESHOLD),
            },
        }
        print(
            f"  {name:<10} DevTrain {metrics.accuracy(s_train, y_train, threshold):.4f}  "
            f"DevTest {metrics.accuracy(s_test, y_test, threshold):.4f}  "
            f"(threshold {threshold:.4f})"
        )

    test_photos = {q for pair in test for q in (pair.a, pair.b)}
    people: dict[str, list[int]] = {}
    for k, p in enumerate(photos):
        if p in test_photos and ok[k]:
            people.setdefault(p.parent.name, []).append(k)
    people = {n: ks for n, ks in people.items() if len(ks) >= 3}
    names = sorted(people)
    print(f"identification with multi-photo templates ({len(names)} people with 3+ photos)")
    for name, vectors in variants.items():
        probes = np.stack([vectors[people[n][-1]] for n in names])
        results = {}
        per_face = [probes @ vectors[people[n][:-1]].T for n in names]
        results["max"] = np.stack([s.max(axis=1) for s in per_face], axis=1)
        results["mean score"] = np.stack([s.mean(axis=1) for s in per_face], axis=1)
        means = l2_normalize(np.stack([vectors[people[n][:-1]].mean(axis=0) for n in names]))
        results["mean embedding"] = probes @ means.T
        cells = []
        for fusion, scores in results.items():
            rank1 = np.mean(np.argmax(scores, axis=1) == np.arange(len(names)))
            cells.append(f"{fusion} rank-1 {rank1:.4f}")
            figures["identification"].setdefault(keys[name], {})[fusion.replace(" ", "_")] = {
                "rank1": float(rank1)
            }
        print(f"  {name:<10} " + "; ".join(cells))
    write_result(
        "decisions",
        figures,
        {
            "dataset": "lfw-view1",
            "tuning_pairs": "pairsDevTrain.txt",
            "test_pairs": "pairsDevTest.txt",
            "photos": len(photos),
            "photos_without_face": len(photos) - len(present),
            "identification_people": len(names),
            "flip": args.flip,
        },
    )


if __name__ == "__main__":
    main()
