"""Does a false-match rate hold for the people of a case? Measured on East Asian faces.

1. The shipped calibration (fitted on LFW DevTrain) on three populations: the true FMR among
   their different-person pairs at the score it calls FMR 1e-3, and at the default threshold.
2. A workspace's own calibration (facesift.workflows.calibration: the gallery's different
   people, fitted with the interval over people; decisions at its upper end) on people held
   apart: the gallery is half of the people of a population (split at random within each
   source, many times), the true FMR is measured on all different-person pairs of the other
   half at the score the calibration calls 1e-3 (and 1e-2). Also with the point estimate, to
   show what the interval buys.
3. A reference set of another collection of the same population (eastasian-dev fitted as
   `facesift calibrate FOLDER` would) judged on LFW's East Asian people.
4. Adapting the embedding to the population: centring, and centring + whitening, learned
   on the gallery half, with the own calibration fitted in the new space; TAR and true FMR
   at its "1e-3" on the held-apart half, against the plain vectors. (Whitening raises the TAR,
   but the calibration fitted on the people it was learned from then understates false
   matches on new people many times over; facesift does not adapt the embedding.)

Data: ../shared/datasets/eastasian-dev (48 people), LFW View 1 (all photos; East Asian people
from tests/data/lfw_view1_groups.csv). Embeddings by the default pipeline (main face of each
photo, thorough detection), as `facesift eval` makes them.

Run: python benchmarks/population_calibration.py [--splits 20] [--json]
Writes benchmarks/results/population_calibration.json (benchmarks/_results.py).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
from _results import DATASETS, ROOT, write_result

GROUPS = ROOT / "tests" / "data" / "lfw_view1_groups.csv"


def embed(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors, identity labels and photo paths of every photo with a face."""
    from facesift import FaceEngine
    from facesift.vision.similarity import l2_normalize
    from facesift.workflows.evaluate import embed_photos, identity_folder

    photos, labels = identity_folder(folder)
    embedded = embed_photos(FaceEngine(), photos, prefer="central")
    found = ~np.isnan(embedded.vectors).any(axis=1)
    return (
        l2_normalize(embedded.vectors[found]),
        np.asarray(labels)[found],
        np.asarray([str(p) for p in photos])[found],
    )


def source_of(identity: str) -> str:
    """eastasian-dev's collections (kpop crops, Korea, Japan, target images): splits keep
    their proportions. LFW's people are one collection."""
    if identity.startswith("target"):
        return "target"
    prefix = identity.split("_")[0]
    return prefix if prefix in ("kpop", "Korea", "Japan") else "lfw"


def stratified_halves(
    people: np.ndarray, rng: np.random.Generator | None
) -> tuple[np.ndarray, np.ndarray]:
    """Two halves of `people`, each source split in two (at random, or alternately by name
    when `rng` is None: the split the test suite uses)."""
    first, second = [], []
    sources = np.array([source_of(p) for p in people])
    for source in sorted(set(sources.tolist())):
        members = np.array(sorted(people[sources == source]))
        if rng is not None:
            members = rng.permutation(members)
        first += list(members[0::2])
        second += list(members[1::2])
    return np.array(first), np.array(second)


def held_apart(
    vectors: np.ndarray, labels: np.ndarray, gallery: np.ndarray, apart: np.ndarray
) -> dict[str, Any]:
    """Fit on the gallery people's pairs as a workspace does; measure on the others."""
    from facesift.match.calibration import fit_calibration, labelled_impostor_pairs

    mine = np.isin(labels, gallery)
    pairs = labelled_impostor_pairs(vectors[mine], labels[mine], "gallery")
    fit = fit_calibration(pairs.scores, "m", "-", units=pairs.units)
    theirs = labelled_impostor_pairs(vectors[~mine & np.isin(labels, apart)], labels[
        ~mine & np.isin(labels, apart)], "apart")  # fmt: skip
    out: dict[str, Any] = {"gallery_pairs": len(pairs.scores), "apart_pairs": len(theirs.scores)}
    for target in (1e-2, 1e-3):
        for estimate in ("upper", "point"):
            if fit.resolves(target):
                score = fit.threshold_for(target, estimate)  # type: ignore[arg-type]
                out[f"{estimate}_{target:g}"] = float(np.mean(theirs.scores >= score))
            else:
                out[f"{estimate}_{target:g}"] = None
    return out


def summarise(runs: list[dict[str, Any]], key: str, target: float) -> dict[str, Any]:
    values = np.array([r[key] for r in runs if r[key] is not None])
    ratio = values / target
    return {
        "splits": len(values),
        "median_ratio": float(np.median(ratio)),
        "min_ratio": float(ratio.min()),
        "max_ratio": float(ratio.max()),
        "share_at_most_3x": float(np.mean(ratio <= 3.0)),
        "share_within_3x_both_ways": float(np.mean((ratio <= 3.0) & (ratio >= 1 / 3))),
    }


def adaptation(
    vectors: np.ndarray, labels: np.ndarray, gallery: np.ndarray, apart: np.ndarray
) -> dict[str, dict[str, float]]:
    """Adapting the embedding to the population, end to end: a transform learned on the
    gallery's vectors (centring; centring and whitening with the covariance shrunk halfway to
    a multiple of the identity), the workspace's own calibration fitted on the gallery's pairs
    in the new space, and on the held-apart people the true FMR (as a ratio to 1e-3) and the
    TAR (same-person pairs) at its "1e-3" score."""
    from facesift.match.calibration import (
        fit_calibration,
        genuine_scores,
        impostor_scores,
        labelled_impostor_pairs,
    )
    from facesift.vision.similarity import l2_normalize

    mine, theirs = np.isin(labels, gallery), np.isin(labels, apart)
    mean = vectors[mine].mean(axis=0)
    centred = vectors[mine] - mean
    cov = centred.T @ centred / len(centred)
    cov = 0.5 * cov + 0.5 * np.eye(len(cov)) * np.trace(cov) / len(cov)
    values, basis = np.linalg.eigh(cov)
    whiten = basis @ np.diag(values**-0.5) @ basis.T
    variants = {
        "plain": lambda x: x,
        "centred": lambda x: l2_normalize(x - mean),
        "whitened": lambda x: l2_normalize((x - mean) @ whiten),
    }
    out: dict[str, dict[str, float]] = {}
    names = list(labels[theirs])
    for name, transform in variants.items():
        pairs = labelled_impostor_pairs(transform(vectors[mine]), labels[mine], "gallery")
        fit = fit_calibration(pairs.scores, "m", "-", units=pairs.units)
        score = fit.threshold_for(max(1e-3, fit.floor))
        held = transform(vectors[theirs])
        out[name] = {
            "fmr_ratio": float(np.mean(impostor_scores(held, names) >= score)) / 1e-3,
            "tar": float(np.mean(genuine_scores(held, names) >= score)),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from facesift import FaceEngine
    from facesift.match.calibration import (
        bundled_calibration,
        fit_calibration,
        impostor_scores,
        labelled_impostor_pairs,
    )
    from facesift.match.decision import DEFAULT_DECISION_FMR

    engine = FaceEngine()
    shipped = bundled_calibration(
        engine.model_name, engine.model_sha256, pipeline=engine.describe()
    )
    assert shipped is not None
    east_asian = {r["identity"] for r in csv.DictReader(GROUPS.open())}
    ea_vectors, ea_labels, _ = embed(DATASETS / "eastasian-dev" / "images")
    lfw_vectors, lfw_labels, _ = embed(DATASETS / "lfw-view1" / "images")
    lfw_ea = np.isin(lfw_labels, list(east_asian))
    results: dict[str, Any] = {"shipped": {}}

    # 1. The shipped calibration on three populations.
    at_1e3 = shipped.threshold_for(1e-3)
    decision = shipped.threshold_for(DEFAULT_DECISION_FMR)
    for name, vectors, labels in (
        ("lfw_all", lfw_vectors, lfw_labels),
        ("lfw_east_asian", lfw_vectors[lfw_ea], lfw_labels[lfw_ea]),
        ("eastasian_dev", ea_vectors, ea_labels),
    ):
        scores = impostor_scores(vectors, list(labels))
        results["shipped"][name] = {
            "people": len(set(labels.tolist())),
            "photos": len(labels),
            "impostor_pairs": len(scores),
            "median_impostor_score": float(np.median(scores)),
            "fmr_at_shipped_1e-3": float(np.mean(scores >= at_1e3)),
            "fmr_at_default_threshold": float(np.mean(scores >= decision)),
            # how often different people reach the tracker's similarities (match/tracking.py)
            "share_at_least": {f"{s:g}": float(np.mean(scores >= s)) for s in (0.86, 0.91)},
        }
    results["shipped"]["scores"] = {"fmr_1e-3": at_1e3, "default_threshold": decision}

    # 2. The workspace's own calibration, judged on people held apart.
    rng = np.random.default_rng(2026)
    for name, vectors, labels in (
        ("eastasian_dev", ea_vectors, ea_labels),
        ("lfw_east_asian", lfw_vectors[lfw_ea], lfw_labels[lfw_ea]),
    ):
        people = np.unique(labels)
        runs, adapted = [], []
        for _ in range(args.splits):
            first, second = stratified_halves(people, rng)
            for gallery, apart in ((first, second), (second, first)):
                runs.append(held_apart(vectors, labels, gallery, apart))
                adapted.append(adaptation(vectors, labels, gallery, apart))
        fixed = stratified_halves(people, None)
        results[f"own_{name}"] = {
            "splits": len(runs),
            "fixed_split": held_apart(vectors, labels, *fixed),
            **{
                f"{estimate}_{target:g}": summarise(runs, f"{estimate}_{target:g}", target)
                for estimate in ("upper", "point")
                for target in (1e-2, 1e-3)
            },
            "adaptation_at_own_1e-3": {
                variant: {
                    "mean_tar": float(np.mean([a[variant]["tar"] for a in adapted])),
                    "median_fmr_ratio": float(
                        np.median([a[variant]["fmr_ratio"] for a in adapted])
                    ),
                    "max_fmr_ratio": float(np.max([a[variant]["fmr_ratio"] for a in adapted])),
                    "share_at_most_3x": float(
                        np.mean([a[variant]["fmr_ratio"] <= 3 for a in adapted])
                    ),
                }
                for variant in adapted[0]
            },
        }

    # 3. A reference set of the population from another collection.
    reference = labelled_impostor_pairs(ea_vectors, ea_labels, "reference")
    fit = fit_calibration(reference.scores, "m", "-", units=reference.units)
    lfw_ea_scores = impostor_scores(lfw_vectors[lfw_ea], list(lfw_labels[lfw_ea]))
    results["reference_eastasian_dev_on_lfw_east_asian"] = {
        f"fmr_at_{t:g}": float(np.mean(lfw_ea_scores >= fit.threshold_for(t))) for t in (1e-2, 1e-3)
    }

    write_result(
        "population_calibration",
        results,
        {
            "datasets": ["eastasian-dev/images", "lfw-view1/images (all photos)"],
            "east_asian_people_of_lfw": str(GROUPS.relative_to(ROOT)),
            "splits": args.splits,
            "photos_with_a_face": {"eastasian_dev": len(ea_labels), "lfw": len(lfw_labels)},
            "shipped_calibration_impostor_pairs": shipped.impostor_pairs,
        },
    )
    print(json.dumps(results, indent=1) if args.json else _text(results))


def _text(results: dict[str, Any]) -> str:
    lines = ["shipped calibration (LFW DevTrain): true FMR at its 1e-3 score / default threshold"]
    for name, row in results["shipped"].items():
        if name != "scores":
            lines.append(
                f"  {name}: {row['people']} people, {row['impostor_pairs']:,} pairs, median "
                f"{row['median_impostor_score']:.3f}; {row['fmr_at_shipped_1e-3']:.2e} / "
                f"{row['fmr_at_default_threshold']:.2e}"
            )
    for name in ("own_eastasian_dev", "own_lfw_east_asian"):
        row = results[name]
        lines.append(f"{name}: {row['splits']} gallery/held-apart splits; fixed split "
                     f"{row['fixed_split']}")  # fmt: skip
        for key in ("upper_0.001", "point_0.001", "upper_0.01", "point_0.01"):
            s = row[key]
            lines.append(
                f"  {key}: true/target median {s['median_ratio']:.2f} "
                f"[{s['min_ratio']:.2f}, {s['max_ratio']:.2f}], <= 3x in "
                f"{s['share_at_most_3x']:.0%}, within 3x both ways "
                f"{s['share_within_3x_both_ways']:.0%}"
            )
        for variant, a in row["adaptation_at_own_1e-3"].items():
            lines.append(
                f"  {variant}: at its own '1e-3' TAR {a['mean_tar']:.3f}, true/target median "
                f"{a['median_fmr_ratio']:.2f} max {a['max_fmr_ratio']:.2f}, <= 3x in "
                f"{a['share_at_most_3x']:.0%}"
            )
    lines.append(
        "reference eastasian-dev judged on LFW East Asian: "
        f"{results['reference_eastasian_dev_on_lfw_east_asian']}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
