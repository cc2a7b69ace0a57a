"""Decode any supported still image into upright 8-bit RGB pixels plus its EXIF.

Every failure becomes a MediaError that names the file and the reason, so that a scan can
report it and go on.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import ExifTags, Image, ImageOps, TiffImagePlugin, UnidentifiedImageError

from facesift.errors import MediaError

try:  # HEIC/HEIF support is optional at import time but a declared dependency.
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - only without the dependency installed
    pass

# The key of the EXIF dictionary that lists what went wrong reading a damaged EXIF block:
# the tags after the damage (often the time or the GPS position) are missing.
EXIF_ERRORS = "_errors"

# Refuse images larger than this many pixels: a tiny file can declare a gigantic canvas
# (a "decompression bomb") and exhaust memory. 180 MP covers every camera on the market.
DEFAULT_MAX_PIXELS = 180_000_000

ImageSource = str | Path | bytes | Image.Image | np.ndarray


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """Upright RGB pixels (H×W×3 uint8) with what the file said about itself.

    `exif` holds the readable tags; where the EXIF block is damaged it also lists what went
    wrong under EXIF_ERRORS, so that its provenance says it is incomplete.
    """

    pixels: np.ndarray
    format: str | None
    mode: str
    exif: dict[str, Any] = field(default_factory=dict)
    orientation: int = 1
    frames: int = 1

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def exif_errors(self) -> list[str]:
        """What went wrong reading the EXIF block (empty when nothing did)."""
        return list(self.exif.get(EXIF_ERRORS, []))


def load_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode a path, bytes, PIL image or H×W×3 uint8 array into a DecodedImage.

    EXIF orientation is applied, so boxes refer to the image as a person sees it. Greyscale,
    palette, alpha, 16-bit and CMYK images become 8-bit RGB. Animated or multi-page files
    yield their first frame.
    """
    if isinstance(source, np.ndarray):
        return DecodedImage(pixels=_array_to_rgb(source), format=None, mode="array")
    if isinstance(source, Image.Image):
        return _decode(source, name=None, max_pixels=max_pixels)
    if isinstance(source, bytes | bytearray):
        if not source:
            raise MediaError(None, "empty data (0 bytes)")
        return _open_and_decode(io.BytesIO(source), None, max_pixels)
    path = Path(source)
    with _opened(path) as handle:
        return _open_and_decode(handle, path, max_pixels)


def read_image_bytes(path: Path) -> bytes:
    """A photo file's bytes, to decode elsewhere (on another machine): MediaError with the
    reason load_image would give when it cannot be read."""
    with _opened(path) as handle:
        return bytes(handle.read())


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[BinaryIO]:
    """`path` open for reading, or MediaError naming why it cannot be a photo."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise MediaError(path, "no such file") from None
    except OSError as exc:
        raise MediaError(path, f"cannot read: {exc.strerror or exc}") from None
    if path.is_dir():
        raise MediaError(path, "is a folder, not a photo")
    if size == 0:
        raise MediaError(path, "empty file (0 bytes)")
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below, after the caller's work)
    except PermissionError:
        raise MediaError(path, "permission denied") from None
    with handle:
        yield handle


def _open_and_decode(handle: Any, name: Path | None, max_pixels: int) -> DecodedImage:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(handle)
        except UnidentifiedImageError:
            raise MediaError(name, "not a recognised image format") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise MediaError(name, f"refused as a possible decompression bomb: {exc}") from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise MediaError(name, f"unreadable image: {exc}") from None
        with image:
            return _decode(image, name=name, max_pixels=max_pixels)


def _decode(image: Image.Image, *, name: Path | None, max_pixels: int) -> DecodedImage:
    width, height = image.size
    if width * height > max_pixels:
        raise MediaError(
            name,
            f"refused as a possible decompression bomb: {width}×{height} = "
            f"{width * height:,} pixels, over the limit of {max_pixels:,}",
        )
    frames = int(getattr(image, "n_frames", 1) or 1)
    try:
        if frames > 1:
            image.seek(0)
        exif, exif_errors = _read_exif(image)
        orientation = _orientation(exif, exif_errors)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
            upright = ImageOps.exif_transpose(image)
        pixels = _pil_to_rgb(upright)
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaError(name, f"refused as a possible decompression bomb: {exc}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        reason = str(exc) or type(exc).__name__
        if "truncated" in reason:
            raise MediaError(name, f"truncated file: {reason}") from None
        raise MediaError(name, f"corrupt image data: {reason}") from None
    readable = _readable_exif(exif, exif_errors)
    if exif_errors:
        readable[EXIF_ERRORS] = list(dict.fromkeys(exif_errors))
    return DecodedImage(
        pixels=pixels,
        format=image.format,
        mode=image.mode,
        exif=readable,
        orientation=orientation,
        frames=frames,
    )


def _read_exif(image: Image.Image) -> tuple[Image.Exif, list[str]]:
    """The image's EXIF, and what went wrong reading it.

    Pillow reports a damaged EXIF block with warnings, or not at all: opening a JPEG reads it
    for the resolution and drops any error, leaving no tags. So the raw block is parsed again
    here, and the warnings are kept, for the record to say that its provenance is incomplete.
    """
    errors: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raw = image.info.get("exif")
        if isinstance(raw, bytes) and raw.strip(b"\x00"):
            try:
                Image.Exif().load(raw)
            except Exception as exc:  # any failure of the parser is the block's damage
                errors.append(f"EXIF block unreadable: {_exif_reason(exc)}")
        try:
            exif = image.getexif()
        except Exception as exc:
            errors.append(f"EXIF block unreadable: {_exif_reason(exc)}")
            exif = Image.Exif()
    errors.extend(_warned(caught))
    return exif, errors


def _exif_reason(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__


def _warned(caught: list[warnings.WarningMessage]) -> list[str]:
    """The messages of Pillow's warnings about the EXIF it read."""
    return [
        f"EXIF damaged: {str(w.message).strip()}"
        for w in caught
        if issubclass(w.category, UserWarning)
    ]


def _orientation(exif: Image.Exif, errors: list[str]) -> int:
    """The EXIF orientation (1 where absent or unreadable; the latter is recorded)."""
    value = exif.get(ExifTags.Base.Orientation, 1)
    try:
        orientation = int(value or 1)
    except (TypeError, ValueError):
        errors.append(f"EXIF orientation unreadable: {value!r}")
        return 1
    if not 1 <= orientation <= 8:
        errors.append(f"EXIF orientation {orientation} is not one of 1–8: ignored")
        return 1
    return orientation


def _pil_to_rgb(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _array_to_rgb(np.asarray(image))
    if mode == "CMYK":
        return np.asarray(image.convert("RGB"))
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    """Bring greyscale, alpha, 16-bit or float arrays to contiguous H×W×3 uint8."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise MediaError(None, f"expected an H×W, H×W×3 or H×W×4 array, got shape {array.shape}")
    if array.dtype != np.uint8:
        values = array.astype(np.float64)
        array = np.clip(np.rint(values * (255.0 / _white_level(array))), 0, 255).astype(np.uint8)
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    elif array.shape[2] == 4:
        alpha = array[:, :, 3:4].astype(np.float32) / 255.0
        array = np.rint(array[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(array)


def _white_level(array: np.ndarray) -> float:
    """The value that means white: from the type for 16-bit data, else from the range used."""
    if array.dtype == np.uint16:
        return 65535.0
    peak = float(array.max(initial=0))
    levels = (1.0, 255.0, 65535.0) if np.issubdtype(array.dtype, np.floating) else (255.0, 65535.0)
    return next((level for level in levels if peak <= level), peak)


def _readable_exif(exif: Image.Exif, errors: list[str]) -> dict[str, Any]:
    """EXIF as JSON-safe {tag name: value}, including the Exif and GPS sub-directories; a
    sub-directory that cannot be read is added to `errors`."""
    out: dict[str, Any] = {}
    sources: list[tuple[dict[int, Any], dict[int, str]]] = [(dict(exif), ExifTags.TAGS)]
    for ifd, names in (
        (ExifTags.IFD.Exif, ExifTags.TAGS),
        (ExifTags.IFD.GPSInfo, ExifTags.GPSTAGS),
    ):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                sources.append((dict(exif.get_ifd(ifd)), names))
            except Exception as exc:  # a damaged directory: its tags are missing
                errors.append(f"EXIF {ifd.name} directory unreadable: {_exif_reason(exc)}")
        errors.extend(_warned(caught))
    for tags, names in sources:
        for tag, value in tags.items():
            if tag in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo, ExifTags.Base.MakerNote):
                continue
            safe = _json_safe(value)
            if safe is not None:
                out[names.get(tag, f"tag_{tag}")] = safe
    return out


def _json_safe(value: Any) -> Any:
    if isinstance(value, TiffImagePlugin.IFDRational):
        return None if value.denominator == 0 else float(value)
    if isinstance(value, bytes):
        text = value.rstrip(b"\x00")
        if len(text) <= 64 and all(32 <= b < 127 for b in text):
            return text.decode("ascii")
        return None
    if isinstance(value, str):
        return value.rstrip("\x00")
    if isinstance(value, tuple | list):
        items = [_json_safe(v) for v in value]
        return None if any(v is None for v in items) else items
    if isinstance(value, int | float | bool):
        return value
    return None


def encode_jpeg(pixels: np.ndarray, quality: int = 90) -> bytes:
    """RGB pixels as JPEG bytes (for face crops kept as evidence thumbnails)."""
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).save(out, "JPEG", quality=quality)
    return out.getvalue()
