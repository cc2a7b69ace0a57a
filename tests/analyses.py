"""Photo analyses shared between tests of the evaluation workflows.

Several tests evaluate on the same LFW photos (DevTest's, the first people by name, the
East Asian group): each analysis of a photo (faces, boxes, embeddings, templates) is the same
whichever test asks for it. `shared_analyses` makes `embed_photos` (and so `eval verify`,
`eval identify`, `calibrate`) take a photo's analysis from memory where a test of this session
has already made it with the same engine settings and the same flags, and analyse the others
as usual, on the worker processes. What each test then computes and checks from the analyses
is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

import facesift.workflows.evaluate
from facesift.execution import LocalProcesses
from facesift.execution.analysis import AnalyzedImage

T = TypeVar("T")

# (engine settings, resolved path, size, mtime, thorough, templates) -> the photo's analysis
_ANALYSES: dict[tuple[Any, ...], AnalyzedImage] = {}


class SharedAnalyses(LocalProcesses):
    """LocalProcesses whose photos already analysed in this session come from memory; only the
    others go to the worker processes (started when the first of them does)."""

    def __enter__(self) -> SharedAnalyses:
        return self

    def _key(self, path: Path) -> tuple[Any, ...] | None:
        try:
            stat = path.stat()
        except OSError:
            return None  # not cached: the analysis reports why
        settings = tuple(sorted(self.engine.settings().items()))
        return (settings, str(path.resolve()), stat.st_size, stat.st_mtime_ns, self.thorough,
                self.templates)  # fmt: skip

    def imap(self, items: Iterator[tuple[T, Path]]) -> Iterator[tuple[T, AnalyzedImage | str]]:
        todo = list(items)
        keys = [self._key(path) for _, path in todo]
        missing = [
            (position, path)
            for position, ((_, path), key) in enumerate(zip(todo, keys, strict=True))
            if key is None or key not in _ANALYSES
        ]
        if missing and self.workers > 1 and self._executor is None:
            self._start()
        fresh = super().imap(iter(missing))
        for position, ((item, _), key) in enumerate(zip(todo, keys, strict=True)):
            if key is not None and key in _ANALYSES:
                yield item, _ANALYSES[key]
                continue
            done, analysis = next(fresh)
            assert done == position
            if key is not None and isinstance(analysis, AnalyzedImage):
                _ANALYSES[key] = analysis
            yield item, analysis


@contextmanager
def sharing_analyses() -> Iterator[None]:
    """Within the block, embed_photos shares analyses as SharedAnalyses does."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(facesift.workflows.evaluate, "LocalProcesses", SharedAnalyses)
        yield
