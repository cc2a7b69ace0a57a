"""Open-set identification on LFW View 1, clean and degraded probes: facesift vs
face_recognition's default pipeline, same photos, same run.

Protocol (as `facesift eval identify`): the people of pairsDevTest.txt; the first photo of each
person with two or more is the gallery (clean), their other photos are mated probes, people
with one photo are non-mated probes. Degraded probes: scaled to 0.4× (faces ~40 px wide),
Gaussian blur σ 0.8, JPEG quality 35 — the kind of imagery investigators get.

face_recognition: `face_locations` (HOG, upsample 1) + `face_encodings`, face nearest the
centre; Euclidean distance turned into a score (higher = closer). facesift: its own path, with
low-resolution templates for probes narrower than 56 px (facesift.vision.lowres). A probe or
gallery photo where a pipeline finds no face counts as a miss for that pipeline.

Run: python benchmarks/lfw_identification.py [--people N]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "lfw-view1"


def degrade(photo: Path, out: Path) -> Path:
    image = Image.open(photo).convert("RGB")
    small = image.resize((round(image.width * 0.4), round(image.height * 0.4)), Image.BICUBIC)
    buffer = io.BytesIO()
    small.filter(ImageFilter.GaussianBlur(0.8)).save(buffer, "JPEG", quality=35)
    out.write_bytes(buffer.getvalue())
    return out


def _baseline_worker(paths: list[str]) -> list[np.ndarray | None]:
    import face_recognition

    out: list[np.ndarray | None] = []
    for path in paths:
        image = face_recognition.load_image_file(path)
        boxes = face_recognition.face_locations(image)
        if not boxes:
            out.append(None)
            continue
        cy, cx = image.shape[0] / 2, image.shape[1] / 2
        central = min(
            boxes, key=lambda b: ((b[0] + b[2]) / 2 - cy) ** 2 + ((b[1] + b[3]) / 2 - cx) ** 2
        )
        out.append(face_recognition.face_encodings(image, [central])[0])
    return out


def baseline_vectors(paths: list[Path]) -> np.ndarray:
    chunks = [[str(p) for p in paths[k::2]] for k in range(2)]
    with ProcessPoolExecutor(2) as pool:
        results = list(pool.map(_baseline_worker, chunks))
    vectors = np.full((len(paths), 128), np.nan, np.float32)
    for k, chunk in enumerate(results):
        for j, v in enumerate(chunk):
            if v is not None:
                vectors[k + 2 * j] = v
    return vectors


def facesift_vectors(paths: list[Path], gallery: bool = False) -> Embedded:
    """facesift's path: gallery photos get low-resolution templates, and probes narrower than
    LOW_RES_PROBE_PX are matched against those (as `Workspace` and `eval identify` do)."""
    from facesift import FaceEngine
    from facesift.workflows.evaluate import embed_photos

    embedded = embed_photos(FaceEngine(), paths, prefer="central", templates=gallery)
    return Embedded(embedded.vectors, embedded.low_res, embedded.face_px)


def baseline_embedded(paths: list[Path], gallery: bool = False) -> Embedded:
    return Embedded(baseline_vectors(paths), None, None)


@dataclass
class Embedded:
    vectors: np.ndarray
    low_res: np.ndarray | None  # gallery: low-resolution templates
    face_px: np.ndarray | None  # probes: face widths


def scores_for(gallery: Embedded, probes: Embedded, euclid: bool) -> np.ndarray:
    """Probe × gallery scores, higher = more alike; -inf where a face is missing."""
    from facesift.match.policy import uses_low_res_templates
    from facesift.vision.similarity import l2_normalize

    g, p = gallery.vectors, probes.vectors
    if euclid:
        diff = p[:, None, :] - g[None, :, :]
        scores = -np.sqrt(np.nansum(diff**2, axis=2))
    else:
        scores = l2_normalize(np.nan_to_num(p)) @ l2_normalize(np.nan_to_num(g)).T
        if gallery.low_res is not None and probes.face_px is not None:
            low = l2_normalize(np.nan_to_num(p)) @ l2_normalize(np.nan_to_num(gallery.low_res)).T
            small = np.array([uses_low_res_templates(px) for px in probes.face_px])
            scores = np.where(small[:, None], low, scores)
    scores[np.isnan(p).any(1)] = -np.inf
    scores[:, np.isnan(g).any(1)] = -np.inf
    return scores


def metrics_for(scores: np.ndarray, probes: np.ndarray, mates: np.ndarray) -> dict[str, float]:
    """rank-1 over mated probes (misses count as wrong) and FNIR at FPIR 0.01."""
    from facesift.match.metrics import fnir_at_fpir, mate_ranks

    mated = mates >= 0
    ranks, mate_scores = mate_ranks(scores[mated], mates[mated])
    missing = ~np.isfinite(scores[mated]).any(1) | ~np.isfinite(mate_scores)
    ranks[missing] = scores.shape[1] + 1
    top = np.max(scores[~mated], axis=1)
    fnir, _ = fnir_at_fpir(ranks, mate_scores, top, 0.01)
    return {
        "rank1": float(np.mean(ranks == 1)),
        "fnir@fpir0.01": fnir,
        "no_face": float(np.isnan(probes).any(1).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=DATA / "pairsDevTest.txt")
    args = parser.parse_args()
    from facesift.workflows.evaluate import read_pairs

    photos = sorted(
        {p for pair in read_pairs(args.pairs, DATA / "images") for p in (pair.a, pair.b)}
    )
    by_person: dict[str, list[Path]] = {}
    for photo in photos:
        by_person.setdefault(photo.parent.name, []).append(photo)
    gallery_people = sorted(n for n, ps in by_person.items() if len(ps) >= 2)
    gallery = [by_person[n][0] for n in gallery_people]
    probes = [p for n in sorted(by_person) for p in by_person[n] if p not in set(gallery)]
    index = {n: k for k, n in enumerate(gallery_people)}
    mates = np.array([index.get(p.parent.name, -1) for p in probes])
    mated = int((mates >= 0).sum())
    print(
        f"{len(gallery)} gallery people, {mated} mated and {len(probes) - mated} non-mated probes"
    )
    with tempfile.TemporaryDirectory() as folder:
        degraded = [degrade(p, Path(folder) / f"{k}.jpg") for k, p in enumerate(probes)]
        rows = []
        for name, embed, euclid in (
            ("face_recognition", baseline_embedded, True),
            ("facesift", facesift_vectors, False),
        ):
            start = time.perf_counter()
            g, clean, bad = embed(gallery, True), embed(probes), embed(degraded)
            seconds = time.perf_counter() - start
            rows.append(
                (
                    name,
                    metrics_for(scores_for(g, clean, euclid), clean.vectors, mates),
                    metrics_for(scores_for(g, bad, euclid), bad.vectors, mates),
                    seconds,
                )
            )
    header = ("clean rank-1", "FNIR@1%", "degraded rank-1", "FNIR@1%", "no face", "s")
    widths = (13, 9, 17, 9, 9, 7)
    print(f"{'pipeline':<18}" + "".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
    for name, clean, bad, seconds in rows:
        print(
            f"{name:<18}{clean['rank1']:>13.4f}{clean['fnir@fpir0.01']:>9.3f}{bad['rank1']:>17.4f}"
            f"{bad['fnir@fpir0.01']:>9.3f}{bad['no_face']:>9.3f}{seconds:>7.0f}"
        )
    gain = rows[1][2]["rank1"] - rows[0][2]["rank1"]
    print(f"degraded rank-1, facesift minus face_recognition: {100 * gain:+.1f} points")


if __name__ == "__main__":
    main()
