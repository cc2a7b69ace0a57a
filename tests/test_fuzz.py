"""Fuzzing, bounded in time: damaged photos, videos and CSV files never raise a traceback, and
a scan accounts for every file (analysed, failed with a reason, or already stored)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from facesift import FaceEngine, Workspace
from facesift.cli import app
from facesift.errors import FacesiftError, MediaError
from facesift.execution.analysis import analyze_file
from facesift.media.image import load_image
from facesift.media.video import probe_video, read_frame_at
from facesift.samples import build_demo
from facesift.workflows.evaluate import read_pairs

runner = CliRunner()
FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same cases on every run: a failure can be reproduced
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _seed_images() -> list[bytes]:
    """Small valid photos in several formats, the material mutations start from."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    out = []
    for fmt in ("JPEG", "PNG", "GIF", "TIFF", "WEBP", "BMP"):
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, fmt)
        out.append(buffer.getvalue())
    return out


SEEDS = _seed_images()


@st.composite
def damaged(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A valid file with bytes flipped, cut short, or spliced, or plain noise."""
    data = bytearray(draw(st.sampled_from(seeds)))
    how = draw(st.sampled_from(["flip", "truncate", "splice", "noise"]))
    if how == "noise":
        return draw(st.binary(min_size=0, max_size=2048))
    if how == "truncate":
        return bytes(data[: draw(st.integers(0, len(data)))])
    if how == "splice":
        at = draw(st.integers(0, len(data)))
        return bytes(data[:at] + draw(st.binary(max_size=64)) + data[at:])
    for _ in range(draw(st.integers(1, 16))):
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    return bytes(data)


@FUZZ
@given(data=damaged(SEEDS))
def test_damaged_photos_fail_with_a_reason(data: bytes, engine: FaceEngine, tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    try:
        load_image(path)
    except MediaError as exc:
        assert str(path) in str(exc) and exc.reason
    result = analyze_file(engine, path)
    assert isinstance(result, str) or result.width > 0


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return build_demo(tmp_path_factory.mktemp("demo")).clip.read_bytes()


@settings(FUZZ, max_examples=12)
@given(how=st.sampled_from(["flip", "truncate", "splice"]), where=st.floats(0.0, 1.0))
def test_damaged_videos_fail_with_a_reason(
    how: str, where: float, clip: bytes, tmp_path: Path
) -> None:
    data = bytearray(clip)
    at = int(where * (len(data) - 1))
    if how == "truncate":
        data = data[:at]
    elif how == "splice":
        data = data[:at] + bytes(range(256)) + data[at:]
    else:
        for k in range(at, min(at + 64, len(data))):
            data[k] ^= 0x5A
    path = tmp_path / "clip.mp4"
    path.write_bytes(bytes(data))
    try:
        info = probe_video(path)
        read_frame_at(path, min(1.0, info.duration or 1.0))
    except MediaError as exc:
        assert exc.reason


@settings(FUZZ, max_examples=30)
@given(text=st.text(max_size=300), header=st.sampled_from(["name,unit\n", "person,rank\n", ""]))
def test_metadata_and_pair_files_never_crash(header: str, text: str, tmp_path: Path) -> None:
    meta = tmp_path / "people.csv"
    meta.write_text(header + text, encoding="utf-8", errors="surrogatepass")
    result = runner.invoke(app, ["-w", str(tmp_path / "ws"), "enroll", str(tmp_path / "none"),
                                 "--meta", str(meta)])  # fmt: skip
    assert result.exit_code in (0, 1)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(text, encoding="utf-8", errors="surrogatepass")
    with contextlib.suppress(FacesiftError):
        read_pairs(pairs, tmp_path)


def test_a_scan_accounts_for_every_damaged_file(tmp_path: Path, engine: FaceEngine) -> None:
    """A folder of 30 damaged files of every kind: each is analysed or reported, none lost."""
    rng = np.random.default_rng(1)
    folder = tmp_path / "drive"
    folder.mkdir()
    for k in range(30):
        data = bytearray(SEEDS[k % len(SEEDS)])
        cut = int(rng.integers(0, len(data)))
        if k % 3 == 0:
            data = data[:cut]
        elif k % 3 == 1:
            data[cut] ^= 0xFF
        (folder / f"{k:02d}.{['jpg', 'png', 'gif', 'tif', 'webp', 'bmp'][k % 6]}").write_bytes(
            bytes(data)
        )
    with Workspace(tmp_path / "ws", engine=engine) as ws:
        report = ws.scan([folder], workers=1)
    assert report.files == 30
    assert report.processed + len(report.errors) + report.already_stored == 30
    assert all(reason for _, reason in report.errors)
