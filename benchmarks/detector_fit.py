"""Fit where dlib's HOG detector would frame a face that MTCNN found, from MTCNN's keypoints.

dlib's 5-point shape predictor (and so the embedder's alignment) was trained on HOG's boxes, and
facesift's face sizes (`min_face_px`, quality, calibration bins) are HOG-box widths. MTCNN's
own boxes are framed differently, so facesift.vision.mtcnn places a box from the five keypoints:
a square whose centre and side are fixed in the frame that maps the keypoints onto the ArcFace
template (rotation, scale and shift removed). This fits that centre and side as the medians
over the faces of LFW View 1 DevTrain photos that both detectors find, and reports on
DevTest photos (not used in the fit) how close the placed boxes are to HOG's and how far the
shape predictor's five points move, in inter-ocular distances.

Run: python benchmarks/detector_fit.py
Writes benchmarks/results/detector_fit.json; facesift.vision.mtcnn.DLIB_BOX_IN_TEMPLATE holds
the fitted values.
"""

from __future__ import annotations

import numpy as np
from _results import DATASETS, write_result
from PIL import Image

LFW = DATASETS / "lfw-view1"


def photos(pairs_file: str) -> list:
    from facesift.workflows.evaluate import read_pairs

    pairs = read_pairs(LFW / pairs_file, LFW / "images")
    return sorted({p for pair in pairs for p in (pair.a, pair.b)})


def matched_faces(paths: list) -> list[tuple[np.ndarray, tuple, np.ndarray]]:
    """(pixels, HOG box, MTCNN keypoints) of the faces both detectors find, one per photo."""
    from facesift.vision.detect import HogDetector
    from facesift.vision.mtcnn import MtcnnDetector

    hog, mtcnn = HogDetector(), MtcnnDetector(30.0)
    found = []
    for path in paths:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        centre = np.array(rgb.shape[1::-1]) / 2
        hogs = hog(rgb, 1)
        if not hogs:
            continue
        best = min(hogs, key=lambda d: np.linalg.norm(_centre(d.box) - centre))
        for d in mtcnn(rgb, 0):
            assert d.keypoints is not None
            inside = (d.keypoints >= best.box[:2]) & (d.keypoints <= best.box[2:])
            if inside.all():
                found.append((rgb, best.box, d.keypoints))
                break
    return found


def _centre(box: tuple) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def in_template(box: tuple, keypoints: np.ndarray) -> tuple[float, float, float]:
    from facesift.vision.align import ARCFACE_TEMPLATE_112, similarity_transform

    matrix = similarity_transform(keypoints, ARCFACE_TEMPLATE_112)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    cx, cy = matrix[:, :2] @ _centre(box) + matrix[:, 2]
    side = (box[2] - box[0] + box[3] - box[1]) / 2 * scale
    return float(cx), float(cy), float(side)


def iou(a: tuple, b: tuple) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union


def check(faces: list, fitted: tuple[float, float, float]) -> dict[str, float]:
    import dlib

    from facesift.vision.detect import to_rectangle
    from facesift.vision.models import LANDMARKS_5, bundled_model
    from facesift.vision.mtcnn import dlib_box

    predictor = dlib.shape_predictor(str(bundled_model(LANDMARKS_5).path))
    overlaps, shifts = [], []
    for rgb, box, keypoints in faces:
        placed = dlib_box(keypoints, fitted)
        overlaps.append(iou(placed, box))
        a = predictor(rgb, to_rectangle(box))
        b = predictor(rgb, to_rectangle(placed))
        pa = np.array([(p.x, p.y) for p in a.parts()], float)
        pb = np.array([(p.x, p.y) for p in b.parts()], float)
        eyes = np.linalg.norm(keypoints[0] - keypoints[1])
        shifts.append(float(np.linalg.norm(pa - pb, axis=1).mean() / eyes))
    return {
        "faces": len(faces),
        "iou_with_hog_median": float(np.median(overlaps)),
        "iou_with_hog_p05": float(np.percentile(overlaps, 5)),
        "landmark_shift_median_interocular": float(np.median(shifts)),
        "landmark_shift_p95_interocular": float(np.percentile(shifts, 95)),
    }


def main() -> None:
    train = matched_faces(photos("pairsDevTrain.txt"))
    frames = np.array([in_template(box, kp) for _, box, kp in train])
    fitted = tuple(float(v) for v in np.median(frames, axis=0))
    test = matched_faces(photos("pairsDevTest.txt"))
    figures = {
        "box_in_template": {"centre_x": fitted[0], "centre_y": fitted[1], "side": fitted[2]},
        "spread_in_template_iqr": [
            float(v) for v in np.subtract(*np.percentile(frames, [75, 25], axis=0))
        ],
        "devtrain": check(train, fitted),
        "devtest": check(test, fitted),
    }
    print(figures)
    write_result(
        "detector_fit",
        figures,
        {
            "fit": "LFW View 1 pairsDevTrain.txt photos where HOG (upsample 1) and MTCNN (from "
            "30 px) find the central face; checked on pairsDevTest.txt photos",
            "template": "ArcFace 112×112 five-point template",
        },
    )


if __name__ == "__main__":
    main()
