"""The default decision, and the notes that tell a reader what scores mean.

Scores are evidence for a reviewer: results carry the estimated false-match rate where a
calibration exists (see calibration.py, policy.py) and one documented decision for the 1:1
"likely the same person" call. A model without calibration (a plug-in) says so.
"""

from __future__ import annotations

# Cosine similarity of dlib ResNet embeddings (with the mirror-image vector added) at or above
# which two faces are taken as the same person: the accuracy-maximising threshold on LFW View 1
# pairsDevTrain.txt (99.36%; benchmarks/decisions.py). About 0.65% of different-person pairs
# score this high, so in a search against N people a stranger has roughly a 1 - 0.9935^N
# chance of one candidate above it: above-threshold candidates are leads, not identifications.
DEFAULT_THRESHOLD = 0.914

# The decision is made at an estimated FMR, turned into a score by the calibration in force
# (facesift.match.policy): this one is where the first shipped LFW calibration put
# DEFAULT_THRESHOLD, so on LFW-like faces the decision is about the same (0.915 with the current
# calibration: benchmarks/results/population_calibration.json); on a population that scores
# higher the score rises with it. DEFAULT_THRESHOLD remains the threshold of models without
# any calibration.
DEFAULT_DECISION_FMR = 6.5e-3

CALIBRATED_NOTE = (
    "score: cosine similarity (higher = more alike); fmr: estimated share of different-person "
    "pairs that score as high (upper end of its 95% interval; `facesift calibration` shows "
    "where it comes from); band: strong (fmr <= 1e-3), possible "
    "(<= 1e-2), weak. In a gallery of N people a stranger meets roughly N times the fmr: "
    "every candidate needs human review"
)

# For models without a calibration.
SCORE_NOTE = (
    "scores are cosine similarities (higher = more alike), not calibrated for this model: fit "
    "a calibration with `facesift calibrate` before relying on the threshold; every candidate "
    "needs human review"
)
