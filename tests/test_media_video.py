"""Video decoding: sampling by time, exact timestamps, rotation, damaged files."""

from __future__ import annotations

from pathlib import Path

import pytest

from facesift.errors import MediaError
from facesift.media.video import (
    DecodeStatus,
    probe_video,
    read_frame_at,
    read_frame_index,
    read_frames,
)
from tests.videos import frame_number, numbered_frames, write_video


def test_samples_by_time_with_exact_timestamps(tmp_path: Path) -> None:
    video = write_video(tmp_path / "cfr.mp4", numbered_frames(50), fps=25)
    info = probe_video(video)
    assert (info.width, info.height, info.rotation) == (64, 48, 0)
    assert info.fps == pytest.approx(25) and info.duration == pytest.approx(2.0, abs=0.05)
    frames = list(read_frames(video, fps=2))
    assert [f.index for f in frames] == [0, 13, 25, 38]  # first frame at or after k/2 s
    assert [round(f.timestamp, 3) for f in frames] == [0.0, 0.52, 1.0, 1.52]
    assert [frame_number(f.pixels) for f in frames] == [0, 13, 25, 38]
    assert len(list(read_frames(video, fps=None))) == 50


def test_variable_frame_rate_keeps_real_times(tmp_path: Path) -> None:
    times = [0, 100, 120, 220, 240, 900, 920, 1500, 1520, 2100]  # bursts and gaps
    video = write_video(tmp_path / "vfr.mp4", numbered_frames(len(times)), times_ms=times)
    frames = list(read_frames(video, fps=2))
    assert [round(f.timestamp, 3) for f in frames] == [0.0, 0.9, 1.5, 2.1]
    assert [f.index for f in frames] == [0, 5, 7, 9]
    assert [frame_number(f.pixels) for f in frames] == [0, 5, 7, 9]
    assert read_frame_at(video, 1.0).index == 6  # the frame on screen at 1.0 s (from 0.92 s)
    assert read_frame_index(video, 7).timestamp == pytest.approx(1.5)


@pytest.mark.parametrize(("rotation", "corner"), [(90, "bottom_left"), (-90, "top_right")])
def test_rotation_metadata_is_applied(tmp_path: Path, rotation: int, corner: str) -> None:
    video = write_video(tmp_path / "rot.mp4", numbered_frames(5), rotation=rotation)
    info = probe_video(video)
    assert (info.width, info.height) == (48, 64)
    pixels = next(read_frames(video)).pixels
    assert pixels.shape == (64, 48, 3)
    corners = {
        "top_left": pixels[:4, :4],
        "top_right": pixels[:4, -4:],
        "bottom_left": pixels[-4:, :4],
        "bottom_right": pixels[-4:, -4:],
    }
    brightest = max(corners, key=lambda k: corners[k].mean())
    assert brightest == corner  # the white block, turned as a viewer sees it


def test_truncated_stream_keeps_what_decodes_and_says_why(tmp_path: Path) -> None:
    whole = write_video(tmp_path / "whole.mkv", numbered_frames(100, 160, 120), fps=25)
    data = whole.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    status = DecodeStatus()
    frames = list(read_frames(cut, fps=None, status=status))
    assert 0 < len(frames) < 100
    # every kept frame carries its true time, even where frames around the damage are lost
    assert all(f.timestamp == pytest.approx(frame_number(f.pixels) * 0.04) for f in frames)
    assert status.error is not None and "truncated" in status.error
    clean = DecodeStatus()
    assert len(list(read_frames(whole, fps=None, status=clean))) == 100
    assert clean.error is None


def test_unreadable_files_raise_media_error_naming_the_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not a video at all" * 100)
    with pytest.raises(MediaError, match=r"junk\.mp4"):
        probe_video(junk)
    with pytest.raises(MediaError, match="junk"):
        list(read_frames(junk))
    video = write_video(tmp_path / "short.mp4", numbered_frames(10), fps=10)
    with pytest.raises(MediaError, match="ends at"):
        read_frame_at(video, 30.0)
    with pytest.raises(ValueError, match="fps"):
        list(read_frames(video, fps=0))
