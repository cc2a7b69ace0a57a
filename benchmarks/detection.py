"""Detection speed and recall: facesift's detectors vs face_recognition's default
(`face_locations`: dlib HOG, upsample 1), side by side in one run.

Speed: ms per photo at 640×480, 1280×720 and 1920×1080 (frames of the shared street video).
Recall by face size: LFW View 1 photos shrunk so that their face is 30…100 px wide, pasted on a
grey 640×480 canvas (a hit is a box whose centre lies within the true face box), the six
faces of the shared group photo, and the faces annotated by eye in frames of the street video
(tests/data/video_appearances.json; a hit is a box containing the annotated point).

Also, for the speed table only: dlib's HOG with upsample 1 on the luminance (as facesift runs
it) against face_recognition's on colour, and dlib's own MMOD (`runtime="dlib"`) against
facesift's ONNX graph of it (`--no-dlib-cnn` leaves dlib's out: it is slow). HOG on the
luminance is in the recall tables too.

Run: python benchmarks/detection.py [--lfw N] [--no-dlib-cnn]
Writes benchmarks/results/detection.json.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _results import DATASETS, write_result
from PIL import Image

DATA = DATASETS
Boxes = list[tuple[float, float, float, float]]


def detectors() -> dict[str, Callable[[np.ndarray], Boxes]]:
    import dlib
    import face_recognition

    from facesift import FaceEngine
    from facesift.vision.detect import luminance

    def baseline(rgb: np.ndarray) -> Boxes:
        return [
            (left, top, right, bottom)
            for top, right, bottom, left in face_recognition.face_locations(rgb)
        ]

    hog = dlib.get_frontal_face_detector()

    def hog_luminance(rgb: np.ndarray) -> Boxes:
        return [(r.left(), r.top(), r.right(), r.bottom()) for r in hog(luminance(rgb), 1)]

    out: dict[str, Callable[[np.ndarray], Boxes]] = {
        "face_recognition HOG up 1": baseline,
        "dlib HOG up 1 on the luminance": hog_luminance,
    }
    for label, engine in (
        ("facesift mtcnn (the default on a CPU)", FaceEngine(detector="mtcnn")),
        ("facesift hog", FaceEngine(detector="hog")),
        # From 40 px, upsampled once like HOG; from 30 px (the default) it would be twice.
        ("facesift cnn from 40 px (ONNX Runtime)", FaceEngine(detector="cnn", min_face_px=40)),
    ):
        out[label] = lambda rgb, e=engine: [d.box for d in e.detect(rgb)]
    return out


def dlib_cnn() -> dict[str, Callable[[np.ndarray], Boxes]]:
    """dlib's own MMOD, set up as the ONNX row above (from 40 px: upsampled once)."""
    from facesift import FaceEngine

    engine = FaceEngine(detector="cnn", runtime="dlib", min_face_px=40)
    return {"dlib's own cnn from 40 px": lambda rgb: [d.box for d in engine.detect(rgb)]}


def frames() -> dict[str, np.ndarray]:
    import av

    with av.open(str(DATA / "media" / "street_1080p.mp4")) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == 50:
                image = frame.to_image()
                break
    return {
        f"{w}×{h}": np.asarray(image.resize((w, h), Image.BILINEAR))
        for w, h in ((640, 480), (1280, 720), (1920, 1080))
    }


def speed(detect: Callable[[np.ndarray], Boxes], image: np.ndarray, reps: int) -> float:
    """Fastest of `reps` runs after a warm-up run, in milliseconds."""
    detect(image)
    runs = []
    for _ in range(reps):
        start = time.perf_counter()
        detect(image)
        runs.append(time.perf_counter() - start)
    return 1000 * min(runs)


def lfw_canvases(count: int, width: int) -> list[tuple[np.ndarray, tuple[float, ...]]]:
    """LFW photos scaled so the face (~100 px in the original's centre) is `width` px wide."""
    photos = sorted((DATA / "lfw-view1" / "images").glob("*/*_0001.jpg"))[:count]
    scale = width / 100.0
    out = []
    for photo in photos:
        image = Image.open(photo).convert("RGB")
        size = round(250 * scale)
        small = image.resize((size, size), Image.BILINEAR)
        canvas = Image.new("RGB", (640, 480), (128, 128, 128))
        left, top = (640 - size) // 2, (480 - size) // 2
        canvas.paste(small, (left, top))
        half = 50 * scale
        centre_x, centre_y = left + size / 2, top + size / 2
        out.append(
            (
                np.asarray(canvas),
                (centre_x - half, centre_y - half, centre_x + half, centre_y + half),
            )
        )
    return out


def hit(boxes: Boxes, truth: tuple[float, ...]) -> bool:
    return any(
        truth[0] <= (b[0] + b[2]) / 2 <= truth[2] and truth[1] <= (b[1] + b[3]) / 2 <= truth[3]
        for b in boxes
    )


def report_speed(
    found: dict[str, Callable[[np.ndarray], Boxes]], reps: int
) -> dict[str, dict[str, float]]:
    """ms per photo at three sizes, and each detector's ratio to the first one; returns the
    ms by detector and size."""
    images = frames()
    print(f"ms per photo (street video frame 50, best of {reps}; ratio to the first row)")
    print(f"{'detector':<42}" + "".join(f"{k:>16}" for k in images))
    base: dict[str, float] = {}
    out: dict[str, dict[str, float]] = {}
    for name, detect in found.items():
        cells = []
        for size, image in images.items():
            ms = speed(detect, image, reps)
            out.setdefault(name, {})[size.replace("×", "x")] = ms
            base.setdefault(size, ms)
            cells.append(f"{ms:>9.1f} {base[size] / ms:>5.1f}×")
        print(f"{name:<42}" + "".join(f"{c:>16}" for c in cells))
    return out


def report_recall(
    found: dict[str, Callable[[np.ndarray], Boxes]], lfw: int
) -> dict[str, dict[str, object]]:
    """Recall by face size on rescaled LFW, faces found in the group photo and in the street
    video's annotated frames; returns them by detector."""
    widths = (30, 40, 50, 60, 80, 100)
    print(f"\nrecall by face width on rescaled LFW ({lfw} photos per width)")
    print(f"{'detector':<42}" + "".join(f"{w:>7} px" for w in widths))
    sets = {w: lfw_canvases(lfw, w) for w in widths}
    out: dict[str, dict[str, object]] = {name: {} for name in found}
    for name, detect in found.items():
        cells = [np.mean([hit(detect(img), truth) for img, truth in sets[w]]) for w in widths]
        print(f"{name:<42}" + "".join(f"{c:>10.2f}" for c in cells))
        out[name]["lfw_recall_by_face_px"] = {
            str(w): float(c) for w, c in zip(widths, cells, strict=True)
        }

    group = np.asarray(Image.open(DATA / "media" / "group_photo.jpg").convert("RGB"))
    print("\nfaces found in the shared group photo (6 people)")
    for name, detect in found.items():
        out[name]["group_photo_faces"] = len(detect(group))
        print(f"{name:<42}{out[name]['group_photo_faces']:>4}")

    points = street_annotations()
    print(f"\nannotated faces found in 1080p street video frames ({len(points)} faces, 40-130 px)")
    frames_at = {t: frame_at(t) for t in sorted({t for t, _, _ in points})}
    for name, detect in found.items():
        boxes = {t: detect(pixels) for t, pixels in frames_at.items()}
        hits = sum(
            any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in boxes[t]) for t, x, y in points
        )
        print(f"{name:<42}{hits:>4}/{len(points)}")
        out[name]["street_faces_found"] = hits
        out[name]["street_faces_annotated"] = len(points)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=int, default=60, help="LFW photos per face size")
    parser.add_argument(
        "--no-dlib-cnn",
        dest="dlib_cnn",
        action="store_false",
        help="leave dlib's own MMOD out of the speed table",
    )
    args = parser.parse_args()
    found = detectors()
    ms = report_speed(found, 2)
    if args.dlib_cnn:  # slow: one timed run after the warm-up
        ms.update(report_speed(dlib_cnn(), 1))
    recall = report_recall(found, args.lfw)
    figures: dict[str, object] = {"ms_per_photo": ms, "recall": recall}
    ratios: dict[str, dict[str, float]] = {}
    pairs = {
        "face_recognition_hog_over_mtcnn": (
            "face_recognition HOG up 1",
            "facesift mtcnn (the default on a CPU)",
        ),
        "hog_colour_over_luminance": (
            "face_recognition HOG up 1",
            "dlib HOG up 1 on the luminance",
        ),
        "dlib_cnn_over_onnx_cnn": (
            "dlib's own cnn from 40 px",
            "facesift cnn from 40 px (ONNX Runtime)",
        ),
    }
    for key, (slow, fast) in pairs.items():
        if slow in ms and fast in ms:
            ratios[key] = {size: ms[slow][size] / ms[fast][size] for size in ms[fast]}
    figures["speed_ratios"] = ratios
    write_result(
        "detection",
        figures,
        {
            "speed": "street_1080p.mp4 frame 50 resized to 640x480, 1280x720, 1920x1080; "
            "best of 2 runs after a warm-up (dlib's own cnn: 1 run after a warm-up)",
            "lfw_photos_per_face_size": args.lfw,
            "lfw_canvas": "first photo of each LFW View 1 person in name order, on 640x480 grey",
            "street_annotations": "tests/data/video_appearances.json",
            "dlib_cnn": args.dlib_cnn,
        },
    )


def street_annotations() -> list[tuple[float, float, float]]:
    import json

    data = json.loads((Path(__file__).parents[1] / "tests/data/video_appearances.json").read_text())
    return [tuple(p) for marks in data["videos"]["street_1080p.mp4"].values() for p in marks]


def frame_at(seconds: float) -> np.ndarray:
    from facesift.media.video import read_frame_at

    return read_frame_at(DATA / "media" / "street_1080p.mp4", seconds).pixels


if __name__ == "__main__":
    main()
