"""Open-set identification on LFW View 1, clean and degraded probes: facesift vs
face_recognition's default pipeline, same photos, same run.

Protocol (as `facesift eval identify`): the people of pairsDevTest.txt; the first photo of each
person with two or more is the gallery (clean), their other photos are mated probes, people
with one photo are non-mated probes. Degraded probes: scaled to 0.4× (faces ~40 px wide),
Gaussian blur σ 0.8, JPEG quality 35 — the kind of imagery investigators get.

face_recognition: `face_locations` (HOG, upsample 1) + `face_encodings`, face nearest the
centre; Euclidean distance turned into a score (higher = closer). facesift: its own path, with
low-resolution templates for probes narrower than 56 px (facesift.vision.lowres), and the same
vectors without them (`--low-res`: both by default, from one embedding of each photo); with the
mirrored face's vector added to each embedding (its default) and without (`--flip`: both by
default, each a run of its own). A probe or gallery photo where a pipeline finds no face
counts as a miss for that pipeline.

Also: the low-resolution calibration (the one shipped, fitted on DevTrain) judged on these
degraded DevTest probes, against the low-resolution templates of the gallery's other people:
the true FMR at the scores it calls 1e-3 and 1e-2.

Run: python benchmarks/lfw_identification.py [--pairs FILE] [--low-res both|on|off]
     [--flip both|on|off]
Writes benchmarks/results/lfw_identification.json (for other pairs:
lfw_identification_PAIRSFILE.json).
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
from _results import DATASETS, write_result
from PIL import Image, ImageFilter

DATA = DATASETS / "lfw-view1"


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


def facesift_vectors(paths: list[Path], gallery: bool = False, flip: bool = True) -> Embedded:
    """facesift's path: gallery photos get low-resolution templates, and probes narrower than
    LOW_RES_PROBE_PX are matched against those (as `Workspace` and `eval identify` do);
    `without_low_res` drops the templates, for the same vectors without them."""
    from facesift import FaceEngine
    from facesift.workflows.evaluate import embed_photos

    embedded = embed_photos(FaceEngine(flip=flip), paths, prefer="central", templates=gallery)
    return Embedded(embedded.vectors, embedded.low_res, embedded.face_px)


def baseline_embedded(paths: list[Path], gallery: bool = False) -> Embedded:
    return Embedded(baseline_vectors(paths), None, None)


@dataclass
class Embedded:
    vectors: np.ndarray
    low_res: np.ndarray | None  # gallery: low-resolution templates
    face_px: np.ndarray | None  # probes: face widths


def without_low_res(gallery: Embedded) -> Embedded:
    return Embedded(gallery.vectors, None, gallery.face_px)


def low_res_calibration_check(
    gallery: Embedded, gallery_people: list[str], probes: Embedded, probe_people: list[str]
) -> dict[str, float | int]:
    """True FMR of the shipped low-resolution calibration at its 1e-3 and 1e-2 scores: probes
    matched against the templates (narrower than LOW_RES_PROBE_PX) against the low-resolution
    templates of the gallery's other people."""
    from facesift import FaceEngine
    from facesift.match.calibration import bundled_calibration, cross_impostor_scores
    from facesift.match.policy import uses_low_res_templates

    engine = FaceEngine()
    calibration = bundled_calibration(engine.model_name, engine.model_sha256, low_res=True)
    assert calibration is not None and gallery.low_res is not None
    assert probes.face_px is not None
    g_ok = ~np.isnan(gallery.low_res).any(axis=1)
    p_ok = ~np.isnan(probes.vectors).any(axis=1) & np.array(
        [uses_low_res_templates(px) for px in probes.face_px]
    )
    scores = cross_impostor_scores(
        probes.vectors[p_ok],
        [n for n, ok in zip(probe_people, p_ok, strict=True) if ok],
        gallery.low_res[g_ok],
        [n for n, ok in zip(gallery_people, g_ok, strict=True) if ok],
    )
    out: dict[str, float | int] = {"probes": int(p_ok.sum()), "impostor_pairs": len(scores)}
    for target in (1e-3, 1e-2):
        out[f"fmr_at_{target:g}"] = float(np.mean(scores >= calibration.threshold_for(target)))
    return out


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
    parser.add_argument(
        "--low-res",
        choices=("both", "on", "off"),
        default="both",
        help="facesift with low-resolution templates (on), without (off), or both",
    )
    parser.add_argument(
        "--flip",
        choices=("both", "on", "off"),
        default="both",
        help="facesift with the mirrored face's vector added (on, its default), without, or both",
    )
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
    variants = {"on": ("facesift", lambda g: g), "off": ("facesift_no_low_res", without_low_res)}
    chosen = ["on", "off"] if args.low_res == "both" else [args.low_res]
    flips = [True, False] if args.flip == "both" else [args.flip == "on"]
    rows: list[tuple[str, dict[str, float], dict[str, float], float]] = []
    with tempfile.TemporaryDirectory() as folder:
        degraded = [degrade(p, Path(folder) / f"{k}.jpg") for k, p in enumerate(probes)]
        start = time.perf_counter()
        g, clean, bad = (
            baseline_embedded(gallery, True),
            baseline_embedded(probes),
            baseline_embedded(degraded),
        )
        rows.append(
            (
                "face_recognition",
                metrics_for(scores_for(g, clean, True), clean.vectors, mates),
                metrics_for(scores_for(g, bad, True), bad.vectors, mates),
                time.perf_counter() - start,
            )
        )
        check, median_px = None, None
        for flip in flips:
            start = time.perf_counter()
            g, clean, bad = (
                facesift_vectors(gallery, True, flip),
                facesift_vectors(probes, flip=flip),
                facesift_vectors(degraded, flip=flip),
            )
            seconds = time.perf_counter() - start
            for variant in chosen:
                name, gallery_for = variants[variant]
                rows.append(
                    (
                        name + ("" if flip else "_no_flip"),
                        metrics_for(scores_for(gallery_for(g), clean, False), clean.vectors, mates),
                        metrics_for(scores_for(gallery_for(g), bad, False), bad.vectors, mates),
                        seconds,
                    )
                )
            if flip:  # facesift's default embedding, the one the calibration is for
                assert bad.face_px is not None
                median_px = float(np.nanmedian(bad.face_px))
                if "on" in chosen:
                    check = low_res_calibration_check(
                        g, gallery_people, bad, [p.parent.name for p in probes]
                    )
    header = ("clean rank-1", "FNIR@1%", "degraded rank-1", "FNIR@1%", "no face", "s")
    widths = (13, 9, 17, 9, 9, 7)
    print(f"{'pipeline':<30}" + "".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
    for name, clean_m, bad_m, secs in rows:
        print(
            f"{name:<30}{clean_m['rank1']:>13.4f}{clean_m['fnir@fpir0.01']:>9.3f}"
            f"{bad_m['rank1']:>17.4f}{bad_m['fnir@fpir0.01']:>9.3f}{bad_m['no_face']:>9.3f}"
            f"{secs:>7.0f}"
        )
    if check is not None:
        print(f"shipped low-resolution calibration on the degraded probes: {check}")
    figures: dict[str, object] = {
        name: {"clean": clean_m, "degraded": bad_m, "seconds": secs}
        for name, clean_m, bad_m, secs in rows
    }
    figures["low_res_calibration_on_degraded_probes"] = check
    figures["degraded_probes_median_face_px"] = median_px
    default = args.pairs == DATA / "pairsDevTest.txt"
    write_result(
        "lfw_identification" if default else f"lfw_identification_{args.pairs.stem}",
        figures,
        {
            "dataset": "lfw-view1",
            "pairs_file": args.pairs.name,
            "gallery_people": len(gallery),
            "mated_probes": mated,
            "non_mated_probes": len(probes) - mated,
            "degraded": "scaled 0.4x (bicubic), Gaussian blur sigma 0.8, JPEG quality 35",
            "low_res": args.low_res,
            "flip": args.flip,
        },
    )


if __name__ == "__main__":
    main()
