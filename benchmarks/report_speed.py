"""How long a case report takes with 500 identified appearances: gathering it (re-reading and
aligning every face from its original file), and typesetting it as HTML and as PDF.

The case: 500 photos made from the demo's two public-domain portraits (each resized to its
own width between 220 and 480 px and cropped at its own offset, so that no two files are the
same), scanned, and every face confirmed by a reviewer as the person it shows.

Run: python benchmarks/report_speed.py [--photos 500]
Writes benchmarks/results/report_speed.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _results import write_result
from PIL import Image


def make_photos(gallery: Path, folder: Path, count: int) -> None:
    portraits = sorted(p for p in gallery.rglob("*") if p.is_file())
    rng = np.random.default_rng(500)
    for k in range(count):
        with Image.open(portraits[k % len(portraits)]) as photo:
            width = int(rng.integers(220, 481))
            height = round(photo.height * width / photo.width)
            small = photo.convert("RGB").resize((width, height))
            left, top = int(rng.integers(0, 12)), int(rng.integers(0, 12))
            small.crop((left, top, width, height)).save(folder / f"photo-{k:04d}.jpg", quality=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=500)
    args = parser.parse_args()
    from facesift import Workspace
    from facesift.reports.case_report import render
    from facesift.samples import build_demo

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        demo = build_demo(folder / "demo")
        photos = folder / "photos"
        photos.mkdir()
        make_photos(demo.gallery, photos, args.photos)
        with Workspace(folder / "ws", actor="benchmark") as ws:
            ws.enroll_folder(demo.gallery)
            ws.scan([photos], case="big")
            faces = ws.identify(case="big").faces
            for face in faces:
                ws.review(face.face_id, face.candidates[0].person, "confirm")
            started = time.perf_counter()
            made = ws.case_report("big")
            gathered = time.perf_counter() - started
            started = time.perf_counter()
            html = render(made, "html")
            as_html = time.perf_counter() - started
            started = time.perf_counter()
            pdf = render(made, "pdf")
            as_pdf = time.perf_counter() - started
    figures = {
        "appearances": made.summary["confirmed_appearances"],
        "people": made.summary["people_identified"],
        "gather_seconds": round(gathered, 1),
        "html_seconds": round(as_html, 1),
        "pdf_seconds": round(as_pdf, 1),
        "html_mib": round(len(html) / 2**20, 1),
        "pdf_mib": round(len(pdf) / 2**20, 1),
    }
    print(figures)
    write_result("report_speed", figures, {"photos": args.photos, "faces": len(faces)})


if __name__ == "__main__":
    main()
