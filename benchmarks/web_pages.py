"""The web app's pages on large cases: time to first byte of each page of a case of 1,000
and of 10,000 faces, served by `facesift serve` (uvicorn, one process) on 127.0.0.1.

Synthetic case, stored through the store as a scan would: photos of one to three faces from
people drawn at random (a direction each in the embedding space; their faces spread around
it so that two faces of one person score about 0.97 and of two people about 0.0); the first
face of one person in 25 is enrolled as the gallery; the case is clustered before measuring.
The files are not real images, so thumbnails are not measured (they are made once per face
and then read from disk); each page's HTML is, the first time (nothing kept from before) and
the median of the repeats (identify's candidates kept by the server, decisions read again).

Run: python benchmarks/web_pages.py [--sizes 1000 10000] [--repeat 5]
Writes benchmarks/results/web_pages.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from _results import write_result
from _serving import served
from cluster_workflow import CASE, store_photos

PASSWORD = "benchmark password"
PAGES = {
    "cases": "/cases",
    "case_first_page": f"/cases/{CASE}",
    "case_last_page": f"/cases/{CASE}?page={{last}}",
    "review_queue": f"/cases/{CASE}/review",
    "clusters": f"/cases/{CASE}/clusters",
    "gallery": "/people",
}


def synthetic_faces(n: int, seed: int) -> np.ndarray:
    """`n` unit vectors of people with four faces each on average."""
    rng = np.random.default_rng(seed)
    people = rng.normal(size=(max(1, n // 4), 128))
    people /= np.linalg.norm(people, axis=1, keepdims=True)
    who = rng.integers(0, len(people), size=n)
    noise = rng.normal(size=(n, 128))
    noise *= 0.25 / np.linalg.norm(noise, axis=1, keepdims=True)
    faces = people[who] + noise
    return (faces / np.linalg.norm(faces, axis=1, keepdims=True)).astype(np.float32)


def run(n: int, repeat: int) -> dict[str, Any]:
    from facesift import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        photos = folder / "photos"
        photos.mkdir()
        with Workspace(folder / "ws", actor="benchmark") as ws:
            store_photos(ws, photos, synthetic_faces(n, n), 0)
            faces = ws.faces(case=CASE)
            enrolled = faces[::25]

            def enroll(tx: Any) -> None:
                for k, face in enumerate(enrolled):
                    tx.enroll_face(face.id, f"person {k:04d}", None)

            ws.context.store.transaction(enroll)
            clustered = ws.cluster(case=CASE, actor="benchmark")
            ws.add_user("bench", "admin", PASSWORD)
        with served(folder / "ws") as base, httpx.Client(base_url=base, timeout=600) as http:
            http.post("/login", data={"username": "bench", "password": PASSWORD})
            last = (n - 1) // 100
            timings: dict[str, Any] = {}
            for name, path in PAGES.items():
                url = path.format(last=last)
                ttfb = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    with http.stream("GET", url) as response:
                        ttfb.append((time.perf_counter() - started) * 1000)
                        body = response.read()
                        if response.status_code != 200:
                            raise SystemExit(f"{url}: {response.status_code} {body[:300]!r}")
                timings[name] = {
                    "url": url,
                    "ttfb_ms_first": round(ttfb[0], 1),  # nothing kept from before
                    "ttfb_ms_median": round(statistics.median(ttfb), 1),
                    "ttfb_ms_max": round(max(ttfb), 1),
                    "html_kib": round(len(body) / 1024, 1),
                }
    print(n, {k: v["ttfb_ms_median"] for k, v in timings.items()})
    return {
        "faces": n,
        "gallery_people": len(enrolled),
        "clusters": len(clustered.clusters),
        "pages": timings,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    figures = {str(n): run(n, args.repeat) for n in args.sizes}
    write_result(
        "web_pages",
        figures,
        {"sizes": args.sizes, "repeat": args.repeat, "recipe": __doc__.split("\n\n")[1]},
    )


if __name__ == "__main__":
    main()
