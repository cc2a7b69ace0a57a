"""Unknown-person clustering at case scale: `Workspace.cluster` end to end (store, gallery
check, k-nearest-neighbour graph, constrained average linkage, writing the clusters) on
13,000 and 100,000 stored faces. Time and memory, not accuracy (benchmarks/clustering.py
measures that on real faces).

Synthetic case, stored through the store like a scan's results: photos with one face (60%),
two (30%) or three (10%). The faces are drawn from benchmarks/clustering.py's model of real
faces (identity directions and within-person spread fitted to facesift's LFW View 1 vectors,
scaled so that same-person pairs score the real mean and different-person pairs the real
99.9th percentile; identity sizes as in View 1), so it needs LFW View 1 (or
benchmarks/.cache/). An empty gallery: every face is unidentified.

Phases, each timed: the first run (all faces at once), an incremental run after 10% more
faces are scanned, a full re-run, and listing the clusters. Memory: how far the process's
resident size rose during each phase above where it began (its peak, VmHWM, reset at the
start of the phase) and the process's peak resident size at the end of each size's run.

Run: python benchmarks/cluster_workflow.py [--sizes 13000 100000]
Writes benchmarks/results/cluster_workflow.json.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _results import write_result
from clustering import _memory_kib, _reset_peak_rss

from facesift.match.metrics import bcubed

CASE = "bench"


def store_photos(ws: Any, folder: Path, vectors: np.ndarray, first: int) -> int:
    """Store the vectors as faces of synthetic photos (1–3 faces each), filed under the case;
    the number of photos."""
    from facesift.vision.face import Face
    from facesift.vision.quality import Quality

    rng = np.random.default_rng(first)
    sizes = rng.choice([1, 2, 3], size=len(vectors), p=[0.6, 0.3, 0.1])
    bounds = np.cumsum(sizes)
    starts = np.concatenate([[0], bounds[bounds < len(vectors)]])
    model = ws.context.model
    photos = []
    for k, start in enumerate(starts.tolist()):
        chunk = vectors[start : start + int(sizes[k])]
        path = folder / f"photo-{first + k:07d}.jpg"
        path.write_bytes(f"synthetic {first + k}".encode())
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        faces = [
            Face(
                (100.0 * j, 0.0, 100.0 * j + 80.0, 80.0),
                np.zeros((5, 2), np.float32),
                1.0,
                "synthetic",
                Quality(80.0, 100.0, 0.8),
                v,
            )
            for j, v in enumerate(chunk)
        ]
        photos.append((path, sha, faces))

    def save(tx: Any, batch: list[tuple[Path, str, list[Face]]]) -> None:
        for path, sha, faces in batch:
            tx.save_image(path, sha, format="JPEG", width=400, height=100, exif={},
                          analysis={}, faces=faces, model=model)  # fmt: skip
            tx.file_under_case(sha, CASE)

    for at in range(0, len(photos), 500):  # 500 photos per transaction
        ws.context.store.transaction(lambda tx, at=at: save(tx, photos[at : at + 500]))
    return len(starts)


def measured(work: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """`work`'s result, wall time, and how far the process's resident memory rose above
    where it stood when the phase began (peak reset first, where Linux allows)."""
    before = _reset_peak_rss()
    start = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - start
    rise = (_memory_kib("VmHWM") - before) / 1024
    return result, {"seconds": round(seconds, 2), "peak_rss_rise_mib": round(rise, 1)}


def run(model: Any, n: int) -> dict[str, Any]:
    from facesift import Workspace

    extra = n // 10
    vectors, labels = model.draw(n + extra, seed=n)
    order = np.random.default_rng(n).permutation(len(labels))  # photos of strangers
    vectors, labels = vectors[order], labels[order]
    with tempfile.TemporaryDirectory() as folder:
        ws = Workspace(Path(folder) / "ws")
        photos = Path(folder) / "photos"
        photos.mkdir()
        start = time.perf_counter()
        stored = store_photos(ws, photos, vectors[:n], 0)
        storing = time.perf_counter() - start
        first, first_m = measured(lambda: ws.cluster(case=CASE, actor="benchmark"))
        store_photos(ws, photos, vectors[n:], stored)
        incremental, inc_m = measured(lambda: ws.cluster(case=CASE, actor="benchmark"))
        full, full_m = measured(lambda: ws.cluster(case=CASE, actor="benchmark", full=True))
        listing, list_m = measured(lambda: ws.clusters(case=CASE))
        ws.close()
    # Faces were stored in order into a new database: face id k is vector k − 1.
    found = np.arange(-1, -len(labels) - 1, -1)
    for c in listing.clusters:
        found[[f.face_id - 1 for f in c.faces]] = c.cluster_id
    quality = bcubed(labels, found)
    out = {
        "faces": n,
        "faces_after_increment": n + extra,
        "people": len(np.unique(labels[:n])),
        "storing_seconds": round(storing, 1),
        "first_run": first_m | {"clusters": len(first.clusters)},
        "incremental_run": inc_m | {"clusters": len(incremental.clusters)},
        "full_rerun": full_m | {"clusters": len(full.clusters)},
        "listing": list_m | {"clusters": len(listing.clusters)},
        "bcubed_after_full_rerun": quality._asdict(),
        "peak_rss_mib": round(_memory_kib("VmHWM") / 1024, 1),
        "people_with_two_or_more_faces": int(
            (np.unique(labels[:n], return_counts=True)[1] >= 2).sum()
        ),
    }
    print(
        f"{n:>7} faces: first {first_m['seconds']} s (+{first_m['peak_rss_rise_mib']} MiB), "
        f"incremental {inc_m['seconds']} s, full {full_m['seconds']} s, "
        f"listing {list_m['seconds']} s; {len(first.clusters)} clusters"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[13000, 100000])
    args = parser.parse_args()
    from clustering import embed_all, fit_face_model, items_for

    model = fit_face_model(items_for(embed_all(True)["facesift"], "lfw"))
    figures = {str(n): run(model, n) for n in args.sizes}
    write_result(
        "cluster_workflow",
        figures,
        {
            "sizes": args.sizes,
            "recipe": "synthetic faces from clustering.py's model of LFW View 1 (docstring)",
        },
    )


if __name__ == "__main__":
    main()
