"""Similarity between embeddings: cosine of L2-normalised vectors, in [-1, 1].

The embedders' metric (dlib's ResNet, ArcFace and SFace are all compared by cosine), so it
lives with them; match/ compares vectors with it.
"""

from __future__ import annotations

import numpy as np


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); zero rows stay zero."""
    v = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norms == 0, 1.0, norms)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """n×m matrix of cosine similarities between the rows of a (n×d) and b (m×d)."""
    a2, b2 = l2_normalize(a), l2_normalize(b)
    if a2.shape[1] != b2.shape[1]:
        raise ValueError(f"embedding sizes differ: {a2.shape[1]} vs {b2.shape[1]}")
    return a2 @ b2.T
