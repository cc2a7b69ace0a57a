"""Decision thresholds on similarity scores.

Until a calibration maps scores to false-match rates, one documented default threshold
separates "likely the same person" from "likely different"; results say it is uncalibrated.
"""

from __future__ import annotations

# Cosine similarity of dlib ResNet embeddings above which two faces are taken as the same
# person: the accuracy-maximising threshold on LFW View 1 pairsDevTrain.txt.
DEFAULT_THRESHOLD = 0.907

SCORE_NOTE = (
    "scores are cosine similarities (higher = more alike) and are uncalibrated: "
    "they do not state a false-match rate"
)
