"""Random galleries with the shape of a real one: people with 1 to 5 faces around their own
centre, and probes of some of those people, for comparing vector indexes."""

from __future__ import annotations

import numpy as np


def clustered_gallery(
    seed: int, people: int, probes: int, first_face_id: int = 0, dim: int = 64
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(face ids, person ids, face vectors, probe vectors): probes are new faces of the first
    `probes` people."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 6, people)
    person_ids = np.repeat(np.arange(people), counts)
    centres = rng.normal(size=(people, dim))
    vectors = centres[person_ids] + 0.7 * rng.normal(size=(len(person_ids), dim))
    face_ids = np.arange(first_face_id, first_face_id + len(person_ids))
    queries = centres[:probes] + 0.7 * rng.normal(size=(probes, dim))
    return face_ids, person_ids, vectors.astype(np.float32), queries.astype(np.float32)
