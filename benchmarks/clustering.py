"""Unknown-person discovery: clustering faces that match nobody, facesift vs common baselines.

Datasets (labels = LFW folder names):
- `lfw`: LFW View 1, all 4,992 images (3,095 people; 1,930 of them with one photo, the others
  2–8). A photo where a pipeline finds no face is left out for that pipeline and counted.
- `case_mix`: what a case looks like: a few people seen several times, many bystanders seen
  once, and some poor faces (forwarded thumbnails, CCTV stills). LFW View 1 plus degraded
  copies (`degrade` of lfw_identification.py: 0.4× scale, Gaussian blur σ 0.8, JPEG 35; faces
  about 40 px wide) of the first photo of every person with two or more photos, and of the
  photo of every fifth person with one (in name order). A degraded copy belongs with its
  person; a recompressed, shrunken copy of a photo beside its original is itself common.

Algorithms, all in one run:
- `chinese_whispers`: dlib's Chinese whispers at distance 0.5 on dlib descriptors computed
  face_recognition's way (`face_locations`, HOG upsample 1, + `face_encodings`; the face
  nearest the centre), as lfw_identification.py's baseline.
- `dbscan`, `hdbscan` (scikit-learn, cosine) on facesift vectors: DBSCAN with eps at the
  calibration's FMR 1e-3 threshold (eps = 1 − threshold) and min_samples 1 (every face is in
  a cluster, no noise); HDBSCAN min_cluster_size 2, min_samples 1, its noise points as
  singletons.
- `average_linkage_fmr1e-3`: plain average linkage (scipy `linkage(method="average",
  metric="cosine")` + `fcluster` at distance 1 − threshold) at the calibration's FMR 1e-3
  threshold; `average_linkage_best`: the same at the threshold of a sweep that maximises its
  BCubed F subject to BCubed precision ≥ 0.97, on the same data (an oracle: an upper bound
  for a single-threshold average linkage, not something a case could tune).
- `facesift`: facesift.match.clustering.agglomerate, its default: cohort-normalised scores,
  faces weighted by width (`face_weights`), at `threshold_for_faces` (one expected false merge
  per face: pair FMR 1 / (faces − 1), about 2e-4 here); `facesift_fmr*`: the same at fixed
  pair FMRs 1e-4 … 1e-2, for the record.
- Variants, to show what each part does: `facesift_unweighted` (no weights),
  `facesift_raw` (no weights, no normalisation, the default threshold), `facesift_raw_fmr1e-3`
  (neither, at FMR 1e-3: the first version's default), `average_linkage_default_threshold`
  (plain average linkage at the default's threshold).
Thresholds come from the bundled calibration (`threshold_for`, the upper 95% bound), fitted on
the different-person pairs of pairsDevTrain's photos (about two thirds of View 1's images).
The default's parameters were chosen on pairsDevTrain's people, not on these figures: one false
merge per face (the best BCubed F with precision ≥ 0.97 on LFW among 0.3, 0.5, 1, 2, 3), full
weight from 100 px (of 60 and 100 px: the better on case_mix; LFW's faces are 90 px and up).

Metrics (facesift.match.metrics): BCubed precision/recall/F (Amigó et al. 2009) and pairwise
precision/recall/F over the faces each pipeline found; clusters; seconds of clustering alone.

Scale: `agglomerate`'s time and peak memory (tracemalloc, in a second run; and the peak RSS
of a fresh process, VmHWM, reset once the faces are drawn, and its growth over the RSS then)
on synthetic faces around real identities, unweighted (they have no width), at its default
threshold for that many faces. A synthetic identity is drawn from a Gaussian fitted to the
real identity directions (unit means of the LFW people with 2+ facesift vectors), its spread
scaled; a face is its identity plus Gaussian noise with the covariance of real faces around
their person's mean. The two scales are set so that synthetic same-person pairs have the real
mean cosine and different-person pairs the real 99.9th percentile. Identity sizes are drawn
from View 1's (62% one photo). BCubed on them says whether quality holds as the collection
grows, optimistically for precision: beyond that percentile a Gaussian has fewer look-alikes
than real people do.

Embeddings are cached in benchmarks/.cache/ (git-ignored), keyed by the pipeline (model
hashes, settings, library versions), the file list and the degradation recipe.

Run: python benchmarks/clustering.py [--no-cache] [--scale 13000,100000]
Writes benchmarks/results/clustering.json.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from _results import DATASETS, ROOT, write_result
from lfw_identification import baseline_vectors, degrade

DATA = DATASETS / "lfw-view1"
CACHE = ROOT / "benchmarks" / ".cache"
DEGRADE_RECIPE = "scale 0.4 bicubic, Gaussian blur 0.8, JPEG 35 (lfw_identification.degrade)"
SINGLETON_EVERY = 5  # case_mix: a degraded copy of every fifth one-photo person
CW_THRESHOLD = 0.5  # dlib's and face_recognition's distance for "same person"
BAR_PRECISION = 0.97
FMR = 1e-3
FMR_SWEEP = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)


@dataclass
class Embedded:
    """One vector per photo (NaN rows where no face was found) and each face's width."""

    vectors: np.ndarray
    face_px: np.ndarray


def lfw_photos() -> list[Path]:
    return sorted((DATA / "images").glob("*/*.jpg"))


def degraded_sources(photos: list[Path]) -> list[Path]:
    """The photos case_mix adds degraded copies of (see the module's docstring)."""
    by_person: dict[str, list[Path]] = {}
    for photo in photos:
        by_person.setdefault(photo.parent.name, []).append(photo)
    several = [ps[0] for _, ps in sorted(by_person.items()) if len(ps) >= 2]
    single = [ps[0] for _, ps in sorted(by_person.items()) if len(ps) == 1]
    return sorted(several + single[::SINGLETON_EVERY])


def _cache_key(pipeline: dict[str, Any], files: list[str], recipe: str | None) -> str:
    blob = json.dumps({"pipeline": pipeline, "files": files, "recipe": recipe}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _cached(
    name: str,
    pipeline: dict[str, Any],
    sources: list[Path],
    recipe: str | None,
    compute: Callable[[], Embedded],
    use_cache: bool,
) -> Embedded:
    """`compute()`, or its result from an earlier run with the same pipeline and files."""
    files = [str(p.relative_to(DATA)) for p in sources]
    path = CACHE / f"{name}-{_cache_key(pipeline, files, recipe)}.npz"
    if use_cache and path.exists():
        with np.load(path) as saved:
            return Embedded(saved["vectors"], saved["face_px"])
    start = time.perf_counter()
    result = compute()
    print(f"  embedded {len(sources)} photos ({name}) in {time.perf_counter() - start:.0f} s")
    if use_cache:
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npz")
        np.savez(partial, vectors=result.vectors, face_px=result.face_px)
        partial.replace(path)
    return result


def _facesift_pipeline() -> dict[str, Any]:
    from facesift import FaceEngine

    described = FaceEngine().describe()
    return {k: v for k, v in described.items() if k not in ("gpu", "embedder_runtime")}


def _baseline_pipeline() -> dict[str, Any]:
    from importlib import metadata

    versions = {}
    for name in ("face_recognition", "face_recognition_models", "dlib-bin", "dlib"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {"pipeline": "face_recognition HOG upsample 1, central face", **versions}


def _facesift_embed(paths: list[Path]) -> Embedded:
    from facesift import FaceEngine
    from facesift.workflows.evaluate import embed_photos

    embedded = embed_photos(FaceEngine(), paths, prefer="central")
    assert embedded.face_px is not None
    return Embedded(embedded.vectors, embedded.face_px)


def _baseline_embed(paths: list[Path]) -> Embedded:
    vectors = baseline_vectors(paths)
    return Embedded(vectors, np.full(len(paths), np.nan))


def embed_all(use_cache: bool) -> dict[str, dict[str, Embedded]]:
    """{pipeline: {"clean": LFW View 1, "degraded": case_mix's degraded copies}}."""
    photos = lfw_photos()
    copies = degraded_sources(photos)
    out: dict[str, dict[str, Embedded]] = {}
    with tempfile.TemporaryDirectory() as folder:
        made: list[Path] = []

        def degraded() -> list[Path]:
            if not made:
                made.extend(degrade(p, Path(folder) / f"{k}.jpg") for k, p in enumerate(copies))
            return made

        for name, pipeline, embed in (
            ("facesift", _facesift_pipeline(), _facesift_embed),
            ("face_recognition", _baseline_pipeline(), _baseline_embed),
        ):
            out[name] = {
                "clean": _cached(name, pipeline, photos, None, partial(embed, photos), use_cache),
                "degraded": _cached(
                    name,
                    pipeline,
                    copies,
                    DEGRADE_RECIPE,
                    lambda embed=embed: embed(degraded()),
                    use_cache,
                ),
            }
    return out


@dataclass
class Items:
    """The faces one pipeline found in one dataset: vectors, true labels, face widths."""

    vectors: np.ndarray
    truth: np.ndarray
    face_px: np.ndarray
    no_face: int


def items_for(embedded: dict[str, Embedded], dataset: str) -> Items:
    photos = lfw_photos()
    names = [p.parent.name for p in photos]
    vectors, face_px = embedded["clean"].vectors, embedded["clean"].face_px
    if dataset == "case_mix":
        copies = degraded_sources(photos)
        names += [p.parent.name for p in copies]
        vectors = np.concatenate([vectors, embedded["degraded"].vectors])
        face_px = np.concatenate([face_px, embedded["degraded"].face_px])
    found = ~np.isnan(vectors).any(axis=1)
    return Items(vectors[found], np.array(names)[found], face_px[found], int((~found).sum()))


def scores(truth: np.ndarray, labels: np.ndarray, seconds: float) -> dict[str, Any]:
    from facesift.match.metrics import bcubed, pairwise

    b, p = bcubed(truth, labels), pairwise(truth, labels)
    return {
        "clusters": len(np.unique(labels[labels >= 0])) + int((labels < 0).sum()),
        "bcubed": {"precision": b.precision, "recall": b.recall, "f": b.f},
        "pairwise": {"precision": p.precision, "recall": p.recall, "f": p.f},
        "seconds": seconds,
    }


def timed(run: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    labels = run()
    return np.asarray(labels), time.perf_counter() - start


def chinese_whispers(vectors: np.ndarray) -> np.ndarray:
    import dlib

    descriptors = [dlib.vector(v.astype(np.float64).tolist()) for v in vectors]
    return np.array(dlib.chinese_whispers_clustering(descriptors, CW_THRESHOLD))


def dbscan(vectors: np.ndarray, threshold: float) -> np.ndarray:
    from sklearn.cluster import DBSCAN

    return DBSCAN(eps=1 - threshold, min_samples=1, metric="cosine").fit_predict(vectors)


def hdbscan(vectors: np.ndarray) -> np.ndarray:
    from sklearn.cluster import HDBSCAN

    model = HDBSCAN(min_cluster_size=2, min_samples=1, metric="cosine", copy=True)
    return model.fit_predict(vectors.astype(np.float64))


def average_linkage_tree(vectors: np.ndarray) -> np.ndarray:
    from scipy.cluster.hierarchy import linkage

    return linkage(vectors.astype(np.float64), method="average", metric="cosine")


def cut(tree: np.ndarray, threshold: float) -> np.ndarray:
    from scipy.cluster.hierarchy import fcluster

    return fcluster(tree, t=1 - threshold, criterion="distance")


def best_cut(tree: np.ndarray, truth: np.ndarray) -> tuple[float, dict[str, float]]:
    """The cosine threshold (steps of 0.0025) with the best BCubed F at precision ≥ the bar."""
    from facesift.match.metrics import bcubed

    best: tuple[float, float] = (-1.0, float("nan"))
    for threshold in np.arange(0.80, 0.99, 0.0025):
        b = bcubed(truth, cut(tree, float(threshold)))
        if b.precision >= BAR_PRECISION and b.f > best[0]:
            best = (b.f, float(threshold))
    return best[1], {"searched": "cosine 0.80-0.99 step 0.0025", "best_f": best[0]}


@functools.cache
def calibration() -> Any:
    from facesift import FaceEngine
    from facesift.match.calibration import bundled_calibration

    engine = FaceEngine()
    found = bundled_calibration(engine.model_name, engine.model_sha256, pipeline=engine.describe())
    assert found is not None, "facesift ships a calibration for its default model"
    return found


def run_dataset(
    name: str, facesift: Items, baseline: Items, thresholds: dict[float, float]
) -> dict[str, Any]:
    """Every algorithm on one dataset: {algorithm: scores}."""
    from facesift.match.clustering import (
        DEFAULT_FALSE_MERGES_PER_FACE,
        agglomerate,
        face_weights,
        threshold_for_faces,
    )
    from facesift.vision.similarity import l2_normalize

    x = l2_normalize(facesift.vectors).astype(np.float32)
    truth = facesift.truth
    at = thresholds[FMR]
    out: dict[str, Any] = {}
    labels, secs = timed(lambda: chinese_whispers(baseline.vectors))
    out["chinese_whispers"] = scores(baseline.truth, labels, secs)
    labels, secs = timed(lambda: dbscan(x, at))
    out["dbscan"] = scores(truth, labels, secs)
    labels, secs = timed(lambda: hdbscan(x))
    out["hdbscan"] = scores(truth, labels, secs)
    tree, tree_secs = timed(lambda: average_linkage_tree(x))
    labels, secs = timed(lambda: cut(tree, at))
    out["average_linkage_fmr1e-3"] = {**scores(truth, labels, tree_secs + secs), "threshold": at}
    best, how = best_cut(tree, truth)
    labels, secs = timed(lambda: cut(tree, best))
    out["average_linkage_best"] = {
        **scores(truth, labels, tree_secs + secs),
        "threshold": best,
        "threshold_from": f"oracle sweep on this dataset ({how['searched']})",
    }
    default = threshold_for_faces(calibration(), len(x))
    weights = face_weights(facesift.face_px)
    found, secs = timed(lambda: agglomerate(x, default, weights=weights).labels)
    out["facesift"] = {
        **scores(truth, found, secs),
        "threshold": default,
        "fmr": DEFAULT_FALSE_MERGES_PER_FACE / (len(x) - 1),
    }
    for fmr, threshold in thresholds.items():
        found, secs = timed(lambda: agglomerate(x, threshold, weights=weights).labels)  # noqa: B023
        out[f"facesift_fmr{fmr:g}"] = {**scores(truth, found, secs), "threshold": threshold}
    found, secs = timed(lambda: agglomerate(x, default).labels)
    out["facesift_unweighted"] = {**scores(truth, found, secs), "threshold": default}
    found, secs = timed(lambda: agglomerate(x, default, normalise=False).labels)
    out["facesift_raw"] = {**scores(truth, found, secs), "threshold": default}
    found, secs = timed(lambda: agglomerate(x, at, normalise=False).labels)
    out["facesift_raw_fmr1e-3"] = {**scores(truth, found, secs), "threshold": at}
    labels, secs = timed(lambda: cut(tree, default))
    out["average_linkage_default_threshold"] = {
        **scores(truth, labels, tree_secs + secs),
        "threshold": default,
    }
    print(f"\n{name}: {len(truth)} faces (facesift), {len(baseline.truth)} (face_recognition)")
    print(
        f"{'algorithm':<34}{'clusters':>9}{'B-P':>8}{'B-R':>8}{'B-F':>8}{'pw-P':>8}{'pw-R':>8}"
        f"{'pw-F':>8}{'s':>7}"
    )
    for key, row in out.items():
        b, p = row["bcubed"], row["pairwise"]
        print(
            f"{key:<34}{row['clusters']:>9}{b['precision']:>8.4f}{b['recall']:>8.4f}"
            f"{b['f']:>8.4f}{p['precision']:>8.4f}{p['recall']:>8.4f}{p['f']:>8.4f}"
            f"{row['seconds']:>7.2f}"
        )
    return out


@dataclass
class FaceModel:
    """A generative model of faces fitted to real vectors (see the module's docstring)."""

    directions: np.ndarray  # real identity directions (unit means of people with 2+ faces)
    between_cov: np.ndarray  # covariance of identity directions
    within_cov: np.ndarray  # covariance of a face around its identity's mean
    identity_scale: float  # the spread of synthetic identities relative to the real ones
    noise_scale: float  # how far a face is from its identity
    sizes: np.ndarray  # photos per person, to draw identity sizes from
    real_genuine_mean: float
    real_impostor_q999: float

    def draw(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(unit vectors, identity labels) of about n faces."""
        from facesift.vision.similarity import l2_normalize

        rng = np.random.default_rng(seed)
        sizes = rng.choice(self.sizes, size=int(n / self.sizes.mean() * 1.1) + 10)
        sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), n)) + 1]
        dim = len(self.within_cov)
        start = self.directions.mean(axis=0)
        offset = rng.multivariate_normal(np.zeros(dim), self.between_cov, len(sizes))
        people = l2_normalize(start + self.identity_scale * offset)
        labels = np.repeat(np.arange(len(sizes)), sizes)[:n]
        noise = rng.multivariate_normal(np.zeros(dim), self.within_cov, n)
        faces = l2_normalize(people[labels] + self.noise_scale * noise)
        return faces.astype(np.float32), labels

    def pair_statistics(self) -> tuple[float, float]:
        """(mean same-person cosine, 99.9th percentile different-person cosine) of a sample."""
        faces, labels = self.draw(3000, seed=1)
        scores = faces @ faces.T
        upper = np.triu(np.ones(scores.shape, bool), 1)
        same = labels[:, None] == labels[None, :]
        return float(scores[same & upper].mean()), float(np.quantile(scores[~same & upper], 0.999))


def fit_face_model(items: Items) -> FaceModel:
    """Identity directions and within-identity noise of the real faces; the two scales are
    set so that synthetic same-person pairs have the real mean cosine and different-person
    pairs the real 99.9th percentile (look-alikes as common as in LFW)."""
    from facesift.vision.similarity import l2_normalize

    x = l2_normalize(items.vectors).astype(np.float64)
    people, index, counts = np.unique(items.truth, return_inverse=True, return_counts=True)
    several = counts[index] >= 2
    sums = np.zeros((len(people), x.shape[1]))
    np.add.at(sums, index, x)
    means = sums / counts[:, None]
    inflate = np.sqrt(counts[index] / np.maximum(counts[index] - 1, 1))
    residual = ((x - means[index]) * inflate[:, None])[several]
    directions = l2_normalize(means[counts >= 2])
    same = index[:, None] == index[None, :]
    upper = np.triu(np.ones_like(same), 1)
    cosines = x @ x.T
    model = FaceModel(
        directions,
        np.cov(directions, rowvar=False),
        np.cov(residual, rowvar=False),
        1.0,
        1.0,
        counts,
        float(cosines[same & upper].mean()),
        float(np.quantile(cosines[~same & upper], 0.999)),
    )
    for _ in range(2):  # each scale by bisection, the other held; twice over
        low, high = 0.05, 4.0
        for _ in range(12):  # more noise: lower same-person scores
            model.noise_scale = (low + high) / 2
            genuine, _ = model.pair_statistics()
            low, high = (
                (model.noise_scale, high)
                if genuine > model.real_genuine_mean
                else (low, model.noise_scale)
            )
        low, high = 0.05, 4.0
        for _ in range(12):  # identities further apart: lower different-person scores
            model.identity_scale = (low + high) / 2
            _, impostor = model.pair_statistics()
            low, high = (
                (model.identity_scale, high)
                if impostor > model.real_impostor_q999
                else (low, model.identity_scale)
            )
    return model


def _memory_kib(field: str) -> float:
    """VmRSS or VmHWM (peak) of this process from /proc, in KiB (NaN elsewhere). Unlike
    getrusage's maxrss, which a child inherits from its parent, these are the process's own."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


def _reset_peak_rss() -> float:
    """Resets the peak (VmHWM) to the present RSS where Linux allows; returns the present RSS."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return _memory_kib("VmRSS")


def _scale_child(model: FaceModel, n: int, threshold: float, queue: Any) -> None:
    """Times `agglomerate` on n synthetic faces in a fresh process (clean peak memory); past
    the size where its neighbour search turns approximate, also with exact search."""
    from facesift.match import clustering
    from facesift.match.clustering import agglomerate
    from facesift.match.metrics import bcubed, pairwise

    faces, labels = model.draw(n, seed=n)
    rss_before = _reset_peak_rss()
    start = time.perf_counter()
    found = agglomerate(faces, threshold).labels
    seconds = time.perf_counter() - start
    rss_after = _memory_kib("VmHWM")
    tracemalloc.start()
    agglomerate(faces, threshold)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    sample = np.random.default_rng(0).choice(n, min(n, 3000), replace=False)
    s = faces[sample] @ faces[sample].T
    other = labels[sample][:, None] != labels[sample][None, :]
    b, p = bcubed(labels, found), pairwise(labels, found)
    exact: dict[str, Any] | None = None
    if n > clustering.EXACT_SEARCH_UP_TO:  # what the approximate neighbour search changes
        clustering.EXACT_SEARCH_UP_TO = n
        start = time.perf_counter()
        same = agglomerate(faces, threshold).labels
        e = bcubed(labels, same)
        exact = {
            "seconds": time.perf_counter() - start,
            "bcubed": {"precision": e.precision, "recall": e.recall, "f": e.f},
        }
    queue.put(
        {
            "faces": n,
            "threshold": threshold,
            "people": len(np.unique(labels)),
            "clusters": int(found.max()) + 1,
            "seconds": seconds,
            "peak_python_mib": peak / 2**20,
            "peak_rss_mib": rss_after / 1024,
            "peak_rss_growth_mib": (rss_after - rss_before) / 1024,
            "synthetic_impostor_q999": float(np.quantile(s[other], 0.999)),
            "bcubed": {"precision": b.precision, "recall": b.recall, "f": b.f},
            "pairwise": {"precision": p.precision, "recall": p.recall, "f": p.f},
            "exact_neighbour_search": exact,
        }
    )


def run_scale(model: FaceModel, sizes: list[int], found: Any) -> list[dict[str, Any]]:
    """`agglomerate` at its default threshold for each size (threshold_for_faces)."""
    import multiprocessing

    from facesift.match.clustering import threshold_for_faces

    context = multiprocessing.get_context("spawn")
    out = []
    for n in sizes:
        queue = context.Queue()
        threshold = threshold_for_faces(found, n)
        child = context.Process(target=_scale_child, args=(model, n, threshold, queue))
        child.start()
        row = queue.get()
        child.join()
        print(
            f"scale {n}: {row['seconds']:.1f} s, peak {row['peak_python_mib']:.0f} MiB "
            f"(peak RSS {row['peak_rss_mib']:.0f} MiB, +{row['peak_rss_growth_mib']:.0f}), "
            f"BCubed P {row['bcubed']['precision']:.4f} "
            f"R {row['bcubed']['recall']:.4f} F {row['bcubed']['f']:.4f}"
        )
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-cache", action="store_true", help="embed again, write no cache")
    parser.add_argument(
        "--scale",
        type=lambda text: [int(v) for v in text.split(",") if v],
        default=[13_000, 100_000],
        help="synthetic face counts to time agglomerate on (empty: none)",
    )
    parser.add_argument("--embed-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    embedded = embed_all(not args.no_cache)
    if args.embed_only:
        return
    found = calibration()
    thresholds = {fmr: found.threshold_for(fmr) for fmr in FMR_SWEEP}
    figures: dict[str, Any] = {}
    data: dict[str, Any] = {
        "thresholds": {f"{k:g}": v for k, v in thresholds.items()},
        "calibration": {k: found.provenance.get(k) for k in ("pairs_file", "photos", "fitted")},
    }
    for dataset in ("lfw", "case_mix"):
        ours = items_for(embedded["facesift"], dataset)
        theirs = items_for(embedded["face_recognition"], dataset)
        figures[dataset] = run_dataset(dataset, ours, theirs, thresholds)
        data[dataset] = {
            "photos": len(ours.truth) + ours.no_face,
            "people": len(np.unique(np.concatenate([ours.truth, theirs.truth]))),
            "no_face": {"facesift": ours.no_face, "face_recognition": theirs.no_face},
        }
    model = fit_face_model(items_for(embedded["facesift"], "lfw"))
    figures["scale"] = run_scale(model, args.scale, found)
    genuine, impostor = model.pair_statistics()
    data["scale_model"] = {
        "identities_fitted": len(model.directions),
        "identity_scale": model.identity_scale,
        "noise_scale": model.noise_scale,
        "synthetic_genuine_mean_cosine": genuine,
        "synthetic_impostor_q999": impostor,
        "real_genuine_mean_cosine": model.real_genuine_mean,
        "real_impostor_q999": model.real_impostor_q999,
    }
    write_result("clustering", figures, data)


if __name__ == "__main__":
    main()
