"""Following faces across the sampled frames of a video: one track per continuous appearance.

A face joins the track whose predicted position and appearance it fits best (one face per
track per frame, assigned jointly); it starts a new track when none fits. Appearance decides
more than position: a face may join a track from further away only when its embedding is
clearly the same person's, so two people who pass each other keep their own tracks. A track
survives missed detections and short occlusions for `max_gap` seconds.

Pure logic on boxes, vectors and times: no pixels, no storage.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from facesift.vision.face import Box, Face
from facesift.vision.similarity import cosine_similarity, l2_normalize

# Faces kept per track for its template, and best shots whose chips (crops) are kept.
TEMPLATE_FACES = 5
BEST_SHOTS = 3


@dataclass(frozen=True)
class TrackerSettings:
    """How strict linking is. Scores are cosine similarities of the face embeddings.

    Defaults suit the bundled dlib model: among all different-person pairs of LFW View 1,
    1.0% score ≥ 0.91 and 27% ≥ 0.86 (benchmarks/results/population_calibration.json,
    figures/shipped/lfw_all/share_at_least). The same person in successive frames usually
    scores above 0.93 (an earlier observation: no benchmark measures it).
    """

    max_gap: float = 1.5  # seconds a track waits for its face to reappear
    near_similarity: float = 0.86  # enough when the face is where the track was heading
    far_similarity: float = 0.91  # needed when it is further away (fast motion, a gap)
    near_distance: float = 1.0  # face widths from the predicted centre that count as near
    max_speed: float = 8.0  # face widths per second a face can move (walking across the frame)
    max_scale_rate: float = 2.0  # factor per second a face's size can change

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.__dict__.items()}


@dataclass(eq=False)
class Sighting:
    """One face in one sampled frame; `key` is the caller's handle (e.g. its stored row)."""

    frame_index: int
    timestamp: float
    face: Face
    key: Any = None


@dataclass(eq=False)
class Track:
    """One person's continuous appearance: their sightings in time order.

    Its best faces and template are kept up to date as sightings are added, so that a long
    track costs the same per frame as a short one.
    """

    id: int
    sightings: list[Sighting] = field(default_factory=list)
    _ranked: list[Sighting] = field(init=False, repr=False)  # the best TEMPLATE_FACES
    _template: np.ndarray | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        self._ranked = _by_quality(self.sightings)[:TEMPLATE_FACES]

    @property
    def start(self) -> float:
        return self.sightings[0].timestamp

    @property
    def end(self) -> float:
        return self.sightings[-1].timestamp

    @property
    def last(self) -> Sighting:
        return self.sightings[-1]

    def add(self, sighting: Sighting) -> None:
        """Append a sighting; only the best shots keep their chips (memory stays bounded)."""
        self.sightings.append(sighting)
        scores = [-s.face.quality.score for s in self._ranked]
        place = bisect.bisect_right(scores, -sighting.face.quality.score)
        if place < TEMPLATE_FACES:
            self._ranked.insert(place, sighting)
            del self._ranked[TEMPLATE_FACES:]
            self._template = None
        # Only the new sighting and the one it pushed out of the best shots can lose a chip.
        for other in (sighting, *self._ranked[BEST_SHOTS : BEST_SHOTS + 1]):
            if other not in self._ranked[:BEST_SHOTS] and other.face.chip is not None:
                other.face = replace(other.face, chip=None)

    def best(self, count: int = TEMPLATE_FACES) -> list[Sighting]:
        """The sharpest, largest faces first (the best shots, and the template's faces)."""
        if count <= TEMPLATE_FACES:
            return self._ranked[:count]
        return _by_quality(self.sightings)[:count]

    def template(self, count: int = TEMPLATE_FACES) -> np.ndarray:
        """Unit-length mean of the best faces' unit embeddings: what the track is matched by."""
        if count == TEMPLATE_FACES and self._template is not None:
            return self._template
        vectors = l2_normalize(np.stack([s.face.embedding for s in self.best(count)]))
        template = l2_normalize(vectors.mean(axis=0))[0]
        if count == TEMPLATE_FACES:
            self._template = template
        return template

    def predicted_box(self, timestamp: float) -> Box:
        """Where the face should be at `timestamp`, moving as it did between its last sightings."""
        x1, y1, x2, y2 = self.last.face.bbox
        if len(self.sightings) < 2:
            return (x1, y1, x2, y2)
        before = self.sightings[-2]
        dt = self.last.timestamp - before.timestamp
        if dt <= 0:
            return (x1, y1, x2, y2)
        ahead = min(timestamp - self.last.timestamp, 1.0)  # don't extrapolate far
        (cx, cy), (px, py) = _centre(self.last.face.bbox), _centre(before.face.bbox)
        vx, vy = (cx - px) / dt, (cy - py) / dt
        return (x1 + vx * ahead, y1 + vy * ahead, x2 + vx * ahead, y2 + vy * ahead)


def _by_quality(sightings: list[Sighting]) -> list[Sighting]:
    """Best quality first; equal scores in time order."""
    return sorted(sightings, key=lambda s: s.face.quality.score, reverse=True)


def _centre(box: Box) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


class Tracker:
    """Builds tracks from the faces of successive sampled frames, online."""

    def __init__(self, settings: TrackerSettings | None = None) -> None:
        self.settings = settings or TrackerSettings()
        self.tracks: list[Track] = []
        self._next_id = 1

    def open_tracks(self, timestamp: float) -> list[Track]:
        """Tracks that a face seen at `timestamp` could still join."""
        return [t for t in self.tracks if timestamp - t.end <= self.settings.max_gap]

    def closed_tracks(self, timestamp: float) -> list[Track]:
        """Tracks that no face at or after `timestamp` can join any more: final."""
        return [t for t in self.tracks if timestamp - t.end > self.settings.max_gap]

    def resume(self, tracks: Sequence[Track], next_id: int) -> None:
        """Continue from the open tracks of an interrupted scan; new tracks start at `next_id`."""
        self.tracks.extend(tracks)
        self._next_id = max([next_id, *(t.id + 1 for t in tracks)])

    def forget_closed(self, timestamp: float) -> list[Track]:
        """Remove and return the tracks that are final at `timestamp` (to bound memory)."""
        closed = self.closed_tracks(timestamp)
        self.tracks = self.open_tracks(timestamp)
        return closed

    def update(
        self, frame_index: int, timestamp: float, sightings: Sequence[Sighting]
    ) -> list[int]:
        """Add one frame's faces; returns the track id given to each, in order."""
        from scipy.optimize import linear_sum_assignment  # here: worker processes never need it

        candidates = self.open_tracks(timestamp)
        assigned: list[Track | None] = [None] * len(sightings)
        if candidates and sightings:
            cost = self._costs(candidates, sightings, timestamp)
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols, strict=True):
                if math.isfinite(cost[r, c]) and cost[r, c] < _FORBIDDEN:
                    assigned[c] = candidates[r]
        ids = []
        for sighting, track in zip(sightings, assigned, strict=True):
            if track is None:
                track = Track(self._next_id)
                self._next_id += 1
                self.tracks.append(track)
            track.add(sighting)
            ids.append(track.id)
        return ids

    def _costs(
        self, tracks: Sequence[Track], sightings: Sequence[Sighting], timestamp: float
    ) -> np.ndarray:
        """Tracks × faces: 1 − similarity plus a distance term; _FORBIDDEN where they can't link."""
        s = self.settings
        faces = l2_normalize(np.stack([x.face.embedding for x in sightings]))
        last = l2_normalize(np.stack([t.last.face.embedding for t in tracks]))
        templates = np.stack([t.template() for t in tracks])
        similarity = np.maximum(cosine_similarity(last, faces), cosine_similarity(templates, faces))
        cost = np.full((len(tracks), len(sightings)), _FORBIDDEN)
        for i, track in enumerate(tracks):
            dt = max(timestamp - track.end, 1e-3)
            predicted = track.predicted_box(timestamp)
            width = predicted[2] - predicted[0]
            (px, py) = _centre(predicted)
            for j, sighting in enumerate(sightings):
                box = sighting.face.bbox
                face_width = box[2] - box[0]
                scale = max(face_width, width) / max(min(face_width, width), 1e-6)
                if scale > s.max_scale_rate ** max(dt, 0.5):
                    continue
                cx, cy = _centre(box)
                distance = math.hypot(cx - px, cy - py) / max(width, face_width)
                if distance > s.near_distance + s.max_speed * dt:
                    continue
                needed = s.near_similarity if distance <= s.near_distance else s.far_similarity
                if similarity[i, j] < needed:
                    continue
                cost[i, j] = (1.0 - similarity[i, j]) + 0.02 * distance
        return cost


_FORBIDDEN = 1e6


@dataclass(frozen=True)
class FrameFaces:
    """The faces of one sampled frame, each with the track it joined, and the (index,
    timestamp) of the full scan whose small faces it was searched near (its own when it was
    scanned in full): what a scan resumed after this frame goes on from."""

    index: int
    timestamp: float
    sightings: list[Sighting]
    track_ids: list[int]
    anchor: tuple[int, float]


@dataclass(frozen=True)
class Anchor:
    """A full scan done before a resumed scan (its frame and the faces found there): the
    frames after it are searched near its small faces until the next full scan is due."""

    index: int
    timestamp: float
    faces: list[Face]
