"""Scan speed: facesift's `scan` (1 worker and one per core; its default CPU detector MTCNN,
and HOG, the previous default) vs face_recognition's default pipeline (HOG upsample 1 +
encodings), on the same photos in one run. Prints photos/s, faces/s, the ratios, and how many
of the labelled faces each found (LFW photos: the person the photo is filed under, centred in
it; a face counts when its box contains the photo's centre).

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


Boxes = list[tuple[float, float, float, float]]


def labelled_found(photos: list[Path], boxes: dict[str, Boxes]) -> int:
    """LFW photos (250×250) where a found box contains the centre, where the labelled person is."""
    return sum(
        any(b[0] <= 125 <= b[2] and b[1] <= 125 <= b[3] for b in boxes.get(str(p), []))
        for p in photos
        if "lfw" in str(p)
    )


def run_facesift(photos: list[Path], workers: int, detector: str) -> tuple[float, int, int]:
    from facesift import FaceEngine, Workspace

    with tempfile.TemporaryDirectory() as folder:
        ws = Workspace(folder, engine=FaceEngine(detector=detector))
        start = time.perf_counter()
        report = ws.scan(photos, workers=workers)
        elapsed = time.perf_counter() - start
        boxes: dict[str, Boxes] = {}
        for face in ws.faces():
            boxes.setdefault(face.path, []).append(face.bbox)
        ws.close()
    assert not report.errors, report.errors
    return elapsed, report.faces, labelled_found(photos, boxes)


def run_face_recognition(photos: list[Path]) -> tuple[float, int, int]:
    import face_recognition

    start = time.perf_counter()
    faces = 0
    boxes: dict[str, Boxes] = {}
    for photo in photos:
        image = face_recognition.load_image_file(photo)
        locations = face_recognition.face_locations(image)
        faces += len(face_recognition.face_encodings(image, locations))
        boxes[str(photo)] = [(left, top, right, bottom) for top, right, bottom, left in locations]
    return time.perf_counter() - start, faces, labelled_found(photos, boxes)


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
    for detector in ("mtcnn", "hog"):
        for workers in sorted({1, cores}):
            rows.append(
                (
                    f"facesift_{detector}_{workers}_worker{'s' * (workers > 1)}",
                    f"facesift scan --detector {detector}, {workers} worker(s)",
                    *run_facesift(photos, workers, detector),
                )
            )
    base = rows[0][2]
    lfw = sum("lfw" in str(p) for p in photos)
    print(
        f"{'pipeline':<46}{'seconds':>9}{'faces':>7}{'labelled':>9}{'photos/s':>10}"
        f"{'faces/s':>9}{'speed':>7}"
    )
    figures = {}
    for key, name, seconds, faces, labelled in rows:
        print(
            f"{name:<46}{seconds:>9.1f}{faces:>7}{labelled:>5}/{lfw:<3}"
            f"{len(photos) / seconds:>10.2f}{faces / seconds:>9.2f}{base / seconds:>6.2f}×"
        )
        figures[key] = {
            "seconds": seconds,
            "faces": faces,
            "labelled_faces_found": labelled,
            "labelled_faces": lfw,
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
