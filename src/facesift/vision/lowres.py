"""Low-resolution templates: an enrolled face as it would look in poor imagery.

A face 40 px wide, blurred and compressed, is matched more reliably against gallery photos
degraded the same way than against the sharp originals: both embeddings then lose the same
detail. An enrolled face therefore also gets a low-resolution template, the mean direction of
its own embedding and of the embeddings of copies shrunk so that the face is 32, 48 and 70 px
wide, slightly blurred and JPEG-compressed, each analysed as a probe would be. Probes narrower
than LOW_RES_PROBE_PX are matched against these templates; wider ones against the originals.

Chosen on LFW View 1 DevTrain (804 gallery people, degraded probes: rank-1 64.2% → 68.0%;
`python benchmarks/lfw_identification.py --pairs …/pairsDevTrain.txt` reproduces it, not
re-measured since) and measured on DevTest (361 people: 70.6% → 75.3%; FNIR at FPIR 1%
0.689 → 0.650; benchmarks/results/lfw_identification.json, figures/facesift_no_low_res and
figures/facesift, from `python benchmarks/lfw_identification.py`). Probes of 55–65 px scored
the same either way, wider probes better against the originals (an earlier experiment, not
re-measured by a benchmark). Different people score higher against these templates, so such
matches have their own calibration (facesift.match.calibration, LOW_RES).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

from facesift.vision.face import Box

# Probes whose face is narrower than this (detector box, pixels) use low-resolution templates.
LOW_RES_PROBE_PX = 56.0
# Face widths of the degraded copies, and how they are degraded.
TEMPLATE_FACE_PX = (32.0, 48.0, 70.0)
BLUR_SIGMA = 0.6
JPEG_QUALITY = 50
# The copy keeps this many face widths of context around the face (as a portrait photo does).
CONTEXT = 2.3


def context_crop(rgb: np.ndarray, box: Box, context: float = CONTEXT) -> np.ndarray:
    """The square region `context` face widths wide around a face, clipped to the image."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = context * (box[2] - box[0]) / 2
    height, width = rgb.shape[:2]
    x1, y1 = max(0, round(cx - half)), max(0, round(cy - half))
    x2, y2 = min(width, round(cx + half)), min(height, round(cy + half))
    return np.ascontiguousarray(rgb[y1:y2, x1:x2])


def degrade(rgb: np.ndarray, scale: float) -> np.ndarray:
    """`rgb` shrunk by `scale` (bicubic), blurred (σ BLUR_SIGMA) and JPEG-compressed."""
    image = Image.fromarray(rgb)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    small = image.resize(size, Image.Resampling.BICUBIC).filter(
        ImageFilter.GaussianBlur(BLUR_SIGMA)
    )
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=JPEG_QUALITY)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))
