"""Decoding: every supported format and mode, EXIF orientation, and clear errors."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facesift import MediaError, load_image
from facesift.media import iter_media_files, sha256_file


def _gradient(width: int = 64, height: int = 48) -> np.ndarray:
    x = np.linspace(0, 255, width, dtype=np.float32)
    y = np.linspace(0, 255, height, dtype=np.float32)
    r = np.broadcast_to(x[None, :], (height, width))
    g = np.broadcast_to(y[:, None], (height, width))
    b = np.full((height, width), 90.0)
    return np.stack([r, g, b], axis=2).astype(np.uint8)


@pytest.mark.parametrize(
    ("suffix", "save_kwargs"),
    [
        (".jpg", {"quality": 95}),
        (".png", {}),
        (".webp", {"lossless": True}),
        (".tiff", {}),
        (".bmp", {}),
        (".gif", {}),
        (".heic", {"quality": 95}),
    ],
)
def test_every_photo_format_decodes_to_rgb(tmp_path: Path, suffix: str, save_kwargs: dict) -> None:
    pixels = _gradient()
    path = tmp_path / f"photo{suffix}"
    Image.fromarray(pixels).save(path, **save_kwargs)
    decoded = load_image(path)
    assert decoded.pixels.shape == (48, 64, 3)
    assert decoded.pixels.dtype == np.uint8
    # Lossy formats and GIF's palette change values a little, never the picture.
    assert np.abs(decoded.pixels.astype(int) - pixels.astype(int)).mean() < 12


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "1", "CMYK", "I;16", "I", "F", "PA"])
def test_image_modes_become_8bit_rgb(tmp_path: Path, mode: str) -> None:
    grey = _gradient()[:, :, 0]
    if mode == "L":
        image = Image.fromarray(grey, mode="L")
    elif mode == "I;16":
        image = Image.fromarray(grey.astype(np.uint16) * 257)
    elif mode in ("I", "F"):
        image = Image.fromarray(grey.astype(np.int32) * 257).convert(mode)
    else:
        image = Image.fromarray(_gradient()).convert(mode)
    decoded = load_image(image)
    assert decoded.pixels.shape == (48, 64, 3)
    assert decoded.pixels.dtype == np.uint8
    if mode in ("L", "I;16", "I", "F"):
        # 16-bit and float values are rescaled, not clipped to white.
        assert np.abs(decoded.pixels[:, :, 0].astype(int) - grey.astype(int)).max() <= 1


def test_transparent_pixels_become_white() -> None:
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[:, :5] = (255, 0, 0, 255)  # opaque red on the left, fully transparent on the right
    decoded = load_image(Image.fromarray(rgba, "RGBA"))
    assert tuple(decoded.pixels[0, 0]) == (255, 0, 0)
    assert tuple(decoded.pixels[0, 9]) == (255, 255, 255)


def test_exif_orientation_is_applied_and_recorded(tmp_path: Path) -> None:
    pixels = _gradient(80, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: display rotated 90° clockwise
    exif[0x010F] = "ACME"  # camera make
    path = tmp_path / "sideways.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    decoded = load_image(path)
    assert decoded.orientation == 6
    assert (decoded.width, decoded.height) == (40, 80)
    assert decoded.exif["Make"] == "ACME"
    expected = np.rot90(pixels, k=-1)
    assert np.abs(decoded.pixels.astype(int) - expected.astype(int)).mean() < 4


def camera_exif() -> Image.Exif:
    """EXIF with the provenance a camera records: make, time, and a GPS position."""
    exif = Image.Exif()
    exif[0x010F] = "ACME"  # camera make
    exif[0x0132] = "2021:06:01 12:00:00"  # date and time
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (48.0, 51.0, 24.0)  # latitude
    return exif


def damaged_exif_jpeg(path: Path, damage: str) -> Path:
    """A JPEG whose EXIF block is damaged: its GPS directory points past the block's end
    ("gps"), or the block's TIFF header is not one ("header")."""
    block = bytearray(camera_exif().tobytes())  # b"Exif\0\0" then a big-endian TIFF
    assert block[6:8] == b"MM"
    if damage == "gps":
        at = block.index(struct.pack(">HHI", 0x8825, 4, 1))
        block[at + 8 : at + 12] = struct.pack(">I", 0xFFFF00)
    else:
        block[6:8] = b"XX"
    Image.fromarray(_gradient()).save(path, exif=bytes(block), quality=95)
    return path


def test_exif_with_gps_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "camera.jpg"
    Image.fromarray(_gradient()).save(path, exif=camera_exif(), quality=95)
    decoded = load_image(path)
    assert decoded.exif["GPSLatitude"] == [48.0, 51.0, 24.0] and decoded.exif["Make"] == "ACME"
    assert "_errors" not in decoded.exif and decoded.exif_errors == []


@pytest.mark.parametrize("damage", ["gps", "header"])
def test_a_damaged_exif_block_is_recorded_not_dropped(tmp_path: Path, damage: str) -> None:
    """The photo decodes; what the EXIF lost is said with it, so its provenance (time, place)
    is known to be incomplete instead of silently missing."""
    decoded = load_image(damaged_exif_jpeg(tmp_path / "damaged.jpg", damage))
    assert decoded.pixels.shape == (48, 64, 3)
    assert "GPSLatitude" not in decoded.exif
    assert decoded.exif_errors and decoded.exif["_errors"] == decoded.exif_errors
    if damage == "gps":  # what came before the damage is kept
        assert decoded.exif["Make"] == "ACME"
        assert any("Corrupt EXIF data" in e for e in decoded.exif_errors)
    else:
        assert any("not a TIFF file" in e for e in decoded.exif_errors)


def test_all_input_kinds_agree(tmp_path: Path) -> None:
    path = tmp_path / "p.png"
    Image.fromarray(_gradient()).save(path)
    from_path = load_image(path).pixels
    assert np.array_equal(load_image(str(path)).pixels, from_path)
    assert np.array_equal(load_image(path.read_bytes()).pixels, from_path)
    assert np.array_equal(load_image(Image.open(path)).pixels, from_path)
    assert np.array_equal(load_image(from_path).pixels, from_path)


def _png_with_declared_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge canvas: a decompression bomb."""
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"this is a text file, not a photo\n", "not a recognised image format"),
        (_png_with_declared_size(100_000, 100_000), "decompression bomb"),
    ],
)
def test_bad_files_raise_a_clear_error(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(MediaError) as caught:
        load_image(path)
    assert caught.value.path == str(path)
    assert reason in caught.value.reason
    assert str(path) in str(caught.value)


def test_truncated_jpeg_is_reported(tmp_path: Path, hopper_path: Path) -> None:
    path = tmp_path / "cut.jpg"
    path.write_bytes(hopper_path.read_bytes()[:5000])
    with pytest.raises(MediaError, match="truncated"):
        load_image(path)


def test_pixel_limit_is_configurable(tmp_path: Path) -> None:
    path = tmp_path / "p.png"
    Image.fromarray(_gradient()).save(path)
    with pytest.raises(MediaError, match="over the limit of 1,000"):
        load_image(path, max_pixels=1000)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="no such file"):
        load_image(tmp_path / "nope.jpg")


def test_discovery_is_recursive_sorted_and_filtered(tmp_path: Path) -> None:
    for rel in ["b/2.JPG", "a/1.png", "a/deep/3.heic", "a/notes.txt", ".hidden/4.jpg", "c.gif"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_media_files([tmp_path])]
    assert found == ["a/1.png", "a/deep/3.heic", "b/2.JPG", "c.gif"]
    # Named twice, listed once; a named file is kept even with another extension.
    again = list(
        iter_media_files([tmp_path / "c.gif", tmp_path / "c.gif", tmp_path / "a/notes.txt"])
    )
    assert [p.name for p in again] == ["c.gif", "notes.txt"]
    with pytest.raises(FileNotFoundError):
        list(iter_media_files([tmp_path / "missing"]))


def test_sha256_matches_hashlib(tmp_path: Path) -> None:
    import hashlib

    data = np.random.default_rng(0).bytes(3_000_000)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_capture_time_from_exif_or_the_video_container() -> None:
    from datetime import UTC, datetime

    from facesift.media.files import capture_time

    assert capture_time("image", {"DateTimeOriginal": "2024:05:01 12:30:05"}) == datetime(
        2024, 5, 1, 12, 30, 5
    )
    # DateTimeOriginal first; a broken value falls back to the next tag.
    assert capture_time(
        "image", {"DateTimeOriginal": "0000:00:00 00:00:00", "DateTime": "2023:01:02 03:04:05"}
    ) == datetime(2023, 1, 2, 3, 4, 5)
    assert capture_time("image", {}) is None
    video = {"metadata": {"creation_time": "2024-05-01T12:00:00.000000Z"}}
    assert capture_time("video", video, 90.5) == datetime(2024, 5, 1, 12, 1, 30, 500000, UTC)
    assert capture_time("video", {"metadata": {}}, 3.0) is None
