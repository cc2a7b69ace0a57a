"""Verification accuracy on an LFW pair file: facesift's default pipeline (and with HOG, the
previous default detector) vs face_recognition's.

Run: python benchmarks/lfw_verification.py [--pairs FILE] [--root DIR] [--tune PAIRS_FILE]
Writes benchmarks/results/lfw_verification.json (lfw_verification_PAIRSFILE.json for other pairs).

Both pipelines see the same images in one run. face_recognition's default pipeline is
`face_locations` (HOG, one upsampling) + `face_encodings` (5-point chips), first face of each
image, "same person" when the Euclidean distance is at most 0.6; a pair where it finds no face
counts as "different". facesift uses its engine with the thorough pass, the face nearest the
image centre (LFW photos are centred on their subject), cosine similarity and the default
decision threshold; with --tune it also reports the threshold that maximises accuracy on the
tuning pairs.

For facesift's two pipelines (MTCNN, the default, and HOG, the previous default) it also counts
over every pair of the pair file's photos, and over every pair of all View 1 photos (DevTrain
and DevTest): same-person pairs accepted at the default threshold and at each pipeline's own
thresholds for FMR 1e-4, 1e-3 and 1e-2 — a difference of a pair or two in the pair file can be
told from noise there.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from _results import DATASETS, write_result

DATA = DATASETS / "lfw-view1"
VIEW1_PAIR_FILES = ("pairsDevTrain.txt", "pairsDevTest.txt")


def read_pairs(path: Path) -> list[tuple[str, str, bool]]:
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    pairs = []
    for parts in lines[1:]:
        if len(parts) == 3:
            name, i, j = parts
            pairs.append(
                (f"{name}/{name}_{int(i):04d}.jpg", f"{name}/{name}_{int(j):04d}.jpg", True)
            )
        elif len(parts) == 4:
            a, i, b, j = parts
            pairs.append((f"{a}/{a}_{int(i):04d}.jpg", f"{b}/{b}_{int(j):04d}.jpg", False))
    return pairs


def facesift_table(
    paths: list[str], workers: int, detector: str = "auto"
) -> tuple[dict[str, np.ndarray | None], float]:
    """facesift's own evaluation path: thorough detection, the centred face, embedded."""
    from facesift import FaceEngine
    from facesift.workflows.evaluate import embed_photos

    start = time.perf_counter()
    embedded = embed_photos(
        FaceEngine(detector=detector), [Path(p) for p in paths], prefer="central", workers=workers
    )
    seconds = time.perf_counter() - start
    table = {
        str(path): None if np.isnan(vector).any() else vector
        for path, vector in zip(embedded.paths, embedded.vectors, strict=True)
    }
    return table, seconds


def _baseline_worker(paths: list[str]) -> list[np.ndarray | None]:
    import face_recognition

    out: list[np.ndarray | None] = []
    for path in paths:
        encodings = face_recognition.face_encodings(face_recognition.load_image_file(path))
        out.append(encodings[0] if encodings else None)
    return out


def embed_all(worker, paths: list[str], workers: int) -> tuple[dict[str, np.ndarray | None], float]:
    chunks = [paths[i::workers] for i in range(workers)]
    start = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        results = list(pool.map(worker, chunks))
    elapsed = time.perf_counter() - start
    table: dict[str, np.ndarray | None] = {}
    for chunk, vectors in zip(chunks, results, strict=True):
        table.update(zip(chunk, vectors, strict=True))
    return table, elapsed


def scores_for(pairs, table, score) -> np.ndarray:
    """Score per pair; NaN where a face is missing."""
    out = np.full(len(pairs), np.nan)
    for k, (a, b, _) in enumerate(pairs):
        ea, eb = table[a], table[b]
        if ea is not None and eb is not None:
            out[k] = score(ea, eb)
    return out


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Threshold (score ≥ t means same) that maximises accuracy; NaN scores count as different."""
    s = np.nan_to_num(scores, nan=-np.inf)
    candidates = np.unique(s[np.isfinite(s)])
    mids = (candidates[:-1] + candidates[1:]) / 2
    accs = [np.mean((s >= t) == labels) for t in mids]
    k = int(np.argmax(accs))
    return float(mids[k]), float(accs[k])


def all_pairs(table: dict[str, np.ndarray | None], threshold: float) -> dict[str, float | int]:
    """Every pair of the photos, not only the pair file's: same-person pairs accepted (TAR) and
    different-person pairs accepted (FMR) at `threshold`, cosine, and TAR where the threshold
    accepts a given share of the different-person pairs; a photo without a face is never
    accepted. Many more pairs than the file's 1,000, so a difference of a pair or two there
    can be told from noise here."""
    paths = sorted(table)
    who = np.array([Path(p).parent.name for p in paths])
    found = np.array([table[p] is not None for p in paths])
    vectors = np.stack([table[p] if table[p] is not None else np.zeros(128) for p in paths])
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    upper = np.triu(np.ones((len(paths), len(paths)), bool), 1)
    similarity = vectors @ vectors.T
    both_found = found[:, None] & found[None, :]
    accepted = (similarity >= threshold) & both_found
    same = who[:, None] == who[None, :]
    genuine, impostor = upper & same, upper & ~same
    impostor_scores = np.sort(similarity[impostor & both_found])
    genuine_scores = np.where(both_found, similarity, -np.inf)[genuine]
    tar_at_fmr = {}
    for fmr in (1e-4, 1e-3, 1e-2):  # each pipeline's own threshold for that FMR
        at = impostor_scores[min(len(impostor_scores) - 1, int(len(impostor_scores) * (1 - fmr)))]
        tar_at_fmr[f"{fmr:.0e}"] = float(np.mean(genuine_scores > at))
    return {
        "photos": len(paths),
        "tar_at_fmr": tar_at_fmr,
        "same_person_pairs": int(genuine.sum()),
        "different_person_pairs": int(impostor.sum()),
        "same_person_accepted": int((accepted & genuine).sum()),
        "different_person_accepted": int((accepted & impostor).sum()),
        "tar": float((accepted & genuine).sum() / genuine.sum()),
        "fmr": float((accepted & impostor).sum() / impostor.sum()),
    }


def mcnemar(right_a: np.ndarray, right_b: np.ndarray) -> dict[str, float | int]:
    """Exact McNemar test of two pipelines on the same pairs: the pairs only one gets right,
    and the two-sided p-value of a split that uneven if both were equally accurate."""
    from math import comb

    only_a, only_b = int(np.sum(right_a & ~right_b)), int(np.sum(right_b & ~right_a))
    n, k = only_a + only_b, min(only_a, only_b)
    p = min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0
    return {"only_first_right": only_a, "only_second_right": only_b, "p_value": p}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=DATA / "pairsDevTest.txt")
    parser.add_argument("--root", type=Path, default=DATA / "images")
    parser.add_argument("--tune", type=Path, default=None, help="pair file to tune a threshold on")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from facesift.match.decision import DEFAULT_THRESHOLD
    from facesift.vision.similarity import cosine_similarity

    pairs = [
        (str(args.root / a), str(args.root / b), same) for a, b, same in read_pairs(args.pairs)
    ]
    tune_pairs = (
        [(str(args.root / a), str(args.root / b), same) for a, b, same in read_pairs(args.tune)]
        if args.tune
        else []
    )
    paths = sorted({p for a, b, _ in pairs + tune_pairs for p in (a, b)})
    # facesift's pipelines also embed every other View 1 photo: every pair of them is a much
    # larger test of the two than the pair file (face_recognition's slower pipeline is not).
    view1 = paths
    if args.root == DATA / "images":
        view1 = sorted(
            {str(args.root / p) for f in VIEW1_PAIR_FILES for a, b, _ in read_pairs(DATA / f)
             for p in (a, b)} | set(paths)
        )  # fmt: skip
    print(f"{len(pairs)} test pairs, {len(tune_pairs)} tuning pairs, {len(paths)} images")

    fs_table, fs_time = facesift_table(view1, args.workers)
    hog_table, hog_time = facesift_table(view1, args.workers, "hog")
    fr_table, fr_time = embed_all(_baseline_worker, paths, args.workers)

    def cos(a, b):
        return float(cosine_similarity(a[None], b[None])[0, 0])

    def neg_dist(a, b):
        return -float(np.linalg.norm(a - b))

    labels = np.array([same for _, _, same in pairs])
    fs_label = f"facesift (cosine >= {DEFAULT_THRESHOLD:.3f})"
    rows = [
        (fs_label, scores_for(pairs, fs_table, cos), DEFAULT_THRESHOLD, fs_table, fs_time),
        ("facesift --detector hog (the previous default)", scores_for(pairs, hog_table, cos),
         DEFAULT_THRESHOLD, hog_table, hog_time),
        ("face_recognition (distance <= 0.6)", scores_for(pairs, fr_table, neg_dist), -0.6,
         fr_table, fr_time),
    ]  # fmt: skip
    print(f"\n{'pipeline':<48}{'accuracy':>9}{'pairs ok':>10}{'no face':>9}{'img/s':>8}")
    accuracies = []
    right: list[np.ndarray] = []
    figures: dict[str, dict[str, object]] = {}
    for key, (name, scores, threshold, table, seconds) in zip(
        ("facesift", "facesift_hog", "face_recognition"), rows, strict=True
    ):
        decided = np.nan_to_num(scores, nan=-np.inf) >= threshold
        accuracy = float(np.mean(decided == labels))
        accuracies.append(accuracy)
        right.append(decided == labels)
        missing = sum(table[p] is None for p in paths)
        figures[key] = {
            "threshold": threshold,
            "accuracy": accuracy,
            "pairs_correct": int(np.sum(decided == labels)),
            "photos_without_face": missing,
            "photos_per_second": len(table) / seconds,
            "all_photo_pairs": None,
            "every_view1_photo_pair": None,
        }
        if key != "face_recognition":
            figures[key]["all_photo_pairs"] = all_pairs({p: table[p] for p in paths}, threshold)
            figures[key]["every_view1_photo_pair"] = all_pairs(table, threshold)
        print(
            f"{name:<48}{accuracy:>9.4f}{int(np.sum(decided == labels)):>10}"
            f"{missing:>9}{len(table) / seconds:>8.1f}"
        )
    print(f"accuracy ratio facesift / face_recognition: {accuracies[0] / accuracies[2]:.4f}")
    print("(a pair whose image shows no detected face counts as 'different')")
    figures["facesift_vs_hog"] = mcnemar(right[0], right[1])
    print(f"pairs only facesift / only HOG gets right: {figures['facesift_vs_hog']}")
    for key in ("facesift", "facesift_hog"):
        print(f"{key}, every pair of the photos: {figures[key]['all_photo_pairs']}")
        print(f"{key}, every pair of View 1's photos: {figures[key]['every_view1_photo_pair']}")
    figures["accuracy_ratio"] = {"facesift_over_face_recognition": accuracies[0] / accuracies[2]}

    if tune_pairs:
        tl = np.array([same for _, _, same in tune_pairs])
        for name, table, score in (
            ("facesift cosine", fs_table, cos),
            ("facesift euclidean", fs_table, neg_dist),
            ("facesift hog cosine", hog_table, cos),
            ("face_recognition euclidean", fr_table, neg_dist),
        ):
            t, acc_tune = best_threshold(scores_for(tune_pairs, table, score), tl)
            test = scores_for(pairs, table, score)
            acc_test = float(np.mean((np.nan_to_num(test, nan=-np.inf) >= t) == labels))
            print(
                f"tuned {name:<28} threshold {t:+.4f}: "
                f"tuning accuracy {acc_tune:.4f}, test accuracy {acc_test:.4f}"
            )
            figures.setdefault("tuned", {})[name.replace(" ", "_")] = {
                "threshold": t,
                "tuning_accuracy": acc_tune,
                "test_accuracy": acc_test,
            }
    default = args.pairs == DATA / "pairsDevTest.txt"
    write_result(
        "lfw_verification" if default else f"lfw_verification_{args.pairs.stem}",
        figures,
        {
            "dataset": "lfw-view1" if args.root == DATA / "images" else str(args.root),
            "pairs_file": args.pairs.name,
            "pairs": len(pairs),
            "same_person_pairs": int(labels.sum()),
            "tuning_pairs_file": args.tune.name if args.tune else None,
            "photos": len(paths),
            "workers": args.workers,
        },
    )


if __name__ == "__main__":
    main()
