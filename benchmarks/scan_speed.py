"""Scan speed: facesift's `scan` (1 worker and one per core) vs face_recognition's default
pipeline, on the same photos in one run. Prints photos/s, faces/s and the ratios.

Run: python benchmarks/scan_speed.py [--images N] [FOLDER ...]
Default photos: the first N LFW View 1 images plus the shared group photo and stills.
Writes benchmarks/results/scan_speed.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _results import DATASETS, write_result

DATA = DATASETS


def default_photos(limit: int) -> list[Path]:
    lfw = sorted((DATA / "lfw-view1" / "images").rglob("*.jpg"))[:limit]
    media = sorted((DATA / "media").rglob("*.jpg")) + sorted((DATA / "media").rglob("*.png"))
    return lfw + media


def run_facesift(photos: list[Path], workers: int) -> tuple[float, int]:
    from facesift import Workspace

    with tempfile.TemporaryDirectory() as folder:
        ws = Workspace(folder)
        start = time.perf_counter()
        report = ws.scan(photos, workers=workers)
        elapsed = time.perf_counter() - start
        ws.close()
    assert not report.errors, report.errors
    return elapsed, report.faces


def run_face_recognition(photos: list[Path]) -> tuple[float, int]:
    import face_recognition

    start = time.perf_counter()
    faces = 0
    for photo in photos:
        image = face_recognition.load_image_file(photo)
        locations = face_recognition.face_locations(image)
        faces += len(face_recognition.face_encodings(image, locations))
    return time.perf_counter() - start, faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--images", type=int, default=300)
    args = parser.parse_args()
    if args.folders:
        from facesift.media import iter_media_files

        photos = list(iter_media_files(args.folders))
    else:
        photos = default_photos(args.images)
    cores = os.cpu_count() or 1
    print(f"{len(photos)} photos, {cores} cores")
    rows = [
        (
            "face_recognition",
            "face_recognition (HOG up 1, 1 process)",
            *run_face_recognition(photos),
        )
    ]
    rows.append(("facesift_1_worker", "facesift scan, 1 worker", *run_facesift(photos, 1)))
    if cores > 1:
        rows.append((f"facesift_{cores}_workers", f"facesift scan, {cores} workers",
                     *run_facesift(photos, cores)))  # fmt: skip
    base = rows[0][2]
    print(f"{'pipeline':<42}{'seconds':>9}{'faces':>7}{'photos/s':>10}{'faces/s':>9}{'speed':>7}")
    figures = {}
    for key, name, seconds, faces in rows:
        print(
            f"{name:<42}{seconds:>9.1f}{faces:>7}{len(photos) / seconds:>10.2f}"
            f"{faces / seconds:>9.2f}{base / seconds:>6.2f}×"
        )
        figures[key] = {
            "seconds": seconds,
            "faces": faces,
            "photos_per_second": len(photos) / seconds,
            "faces_per_second": faces / seconds,
            "speedup_over_face_recognition": base / seconds,
        }
    write_result(
        "scan_speed",
        figures,
        {
            "photos": len(photos),
            "source": [str(f) for f in args.folders]
            or f"first {args.images} LFW View 1 images (path order) + media/*.jpg, *.png",
        },
    )


if __name__ == "__main__":
    main()
