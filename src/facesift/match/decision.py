"""The default decision threshold, and the notes that tell a reader what scores mean.

Scores are evidence for a reviewer: results carry the estimated false-match rate where a
calibration exists (see calibration.py) and this one documented threshold for the 1:1
"likely the same person" call. A model without calibration (a plug-in) says so.
"""

from __future__ import annotations

# Cosine similarity of dlib ResNet embeddings (with the mirror-image vector added) at or above
# which two faces are taken as the same person: the accuracy-maximising threshold on LFW View 1
# pairsDevTrain.txt (99.36%; benchmarks/decisions.py). About 0.65% of different-person pairs
# score this high, so in a search against N people a stranger has roughly a 1 - 0.9935^N
# chance of one candidate above it: above-threshold candidates are leads, not identifications.
DEFAULT_THRESHOLD = 0.914

CALIBRATED_NOTE = (
    "score: cosine similarity (higher = more alike); fmr: estimated share of different-person "
    "pairs that score as high (see calibration); band: strong (fmr <= 1e-3), possible "
    "(<= 1e-2), weak. In a gallery of N people a stranger meets roughly N times the fmr: "
    "every candidate needs human review"
)

# For models without a calibration.
SCORE_NOTE = (
    "scores are cosine similarities (higher = more alike), not calibrated for this model: fit "
    "a calibration with `facesift calibrate` before relying on the threshold; every candidate "
    "needs human review"
)
