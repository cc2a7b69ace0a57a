"""Public-domain sample photos that installed packages ship, for the demo and the tests.

No download: Grace Hopper's US Navy portrait ships with matplotlib, NASA's portrait of
astronaut Eileen Collins and the classic "cameraman" photo ship with scikit-image (both in the
`demo` extra). From them `build_demo` makes a small case: a gallery, evidence photos in
which the same people appear changed (scaled, mirrored, greyscale, rotated by EXIF, blurred,
recompressed) next to a person who is not in the gallery, and a short video clip in which
they appear one after another, moving.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from facesift.errors import FacesiftError


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            path = Path(location, *parts)
            if path.is_file():
                return path
    raise FacesiftError(
        f"sample photo {'/'.join(parts)} not found: install the demo extra "
        "(pip install 'facesift[demo]')"
    )


def grace_hopper() -> Path:
    return _package_file("matplotlib", "mpl-data", "sample_data", "grace_hopper.jpg")


def eileen_collins() -> Path:
    return _package_file("skimage", "data", "astronaut.png")


def cameraman() -> Path:
    return _package_file("skimage", "data", "camera.png")


@dataclass(frozen=True)
class DemoCase:
    gallery: Path  # Name/ subfolders, one photo each
    evidence: Path  # photos to scan
    scene: Path  # the photo with two gallery people and one stranger
    metadata: Path  # CSV of the gallery people
    footage: Path  # folder with the video clip

    @property
    def clip(self) -> Path:
        return self.footage / "clip.mp4"


# Who the demo clip shows, when (seconds), and the photo's left edge and width at the start
# and at the end of their appearance.
CLIP_SHOWS = (
    ("Grace Hopper", 0.0, 3.0, (20, 30, 220), (120, 40, 250)),
    ("Eileen Collins", 2.5, 5.0, (400, 60, 200), (300, 50, 180)),
    ("stranger", 4.5, 6.0, (20, 60, 250), (40, 60, 260)),
)


def build_demo(folder: str | Path) -> DemoCase:
    """Write the demo gallery and evidence photos under `folder` (idempotent)."""
    root = Path(folder)
    gallery, evidence = root / "gallery", root / "evidence"
    hopper = Image.open(grace_hopper()).convert("RGB")
    collins = Image.open(eileen_collins()).convert("RGB")
    stranger = Image.open(cameraman()).convert("RGB")

    for name, photo in (("Grace Hopper", hopper), ("Eileen Collins", collins)):
        (gallery / name).mkdir(parents=True, exist_ok=True)
        photo.save(gallery / name / "portrait.png")
    metadata = root / "people.csv"
    metadata.write_text(
        "name,role,source\n"
        "Grace Hopper,Rear Admiral (US Navy),US Navy portrait (public domain)\n"
        "Eileen Collins,Astronaut (NASA),NASA portrait (public domain)\n"
    )

    evidence.mkdir(parents=True, exist_ok=True)
    # A scene: Hopper small, mirrored and greyscale; Collins darker and tilted; a stranger.
    scene = Image.new("RGB", (1400, 800), (128, 132, 140))
    small_hopper = ImageOps.mirror(ImageOps.grayscale(hopper).convert("RGB")).resize((230, 270))
    scene.paste(small_hopper, (60, 300))
    tilted = ImageEnhance.Brightness(collins.crop((96, 0, 352, 256))).enhance(0.7).rotate(8)
    scene.paste(tilted, (520, 120))
    scene.paste(stranger.crop((120, 60, 330, 270)), (1000, 420))
    scene_path = evidence / "scene.jpg"
    scene.save(scene_path, quality=60)
    # The same scene stored rotated, with an EXIF tag that says how to turn it upright.
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    scene.transpose(Image.Transpose.ROTATE_90).save(
        evidence / "scene_camera_rotated.jpg", exif=exif
    )
    # A blurred, recompressed close-up of Hopper, and a photo without any face.
    blurred = hopper.crop((100, 60, 450, 420)).filter(ImageFilter.GaussianBlur(1.5))
    blurred.save(evidence / "hopper_blurred.webp", quality=50)
    Image.fromarray(np.full((300, 400, 3), 200, np.uint8)).save(evidence / "empty_wall.png")
    (evidence / "notes.txt.jpg").write_bytes(b"not an image at all\n")
    faces = {
        "Grace Hopper": hopper.crop((60, 20, 460, 420)),
        "Eileen Collins": collins.crop((96, 0, 352, 256)),
        "stranger": stranger.crop((120, 60, 330, 270)),
    }
    footage = root / "footage"
    footage.mkdir(parents=True, exist_ok=True)
    shows: list[Show] = [
        (faces[name], start, end, first, last) for name, start, end, first, last in CLIP_SHOWS
    ]
    write_moving_clip(footage / "clip.mp4", shows, duration=max(s[2] for s in CLIP_SHOWS))
    return DemoCase(
        gallery=gallery, evidence=evidence, scene=scene_path, metadata=metadata, footage=footage
    )


Show = tuple[Image.Image, float, float, tuple[float, float, float], tuple[float, float, float]]


def write_moving_clip(
    path: Path,
    shows: list[Show],
    *,
    duration: float,
    fps: int = 10,
    size: tuple[int, int] = (640, 360),
) -> Path:
    """An H.264 clip of photos moving over a grey background.

    Each show is (photo, start s, end s, (x, y, width) at the start, (x, y, width) at the end):
    the photo is visible for start ≤ t < end, square, its top-left corner and width
    interpolated in between.
    """
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for k in range(round(duration * fps)):
            t = k / fps
            canvas = Image.new("RGB", size, (96, 100, 110))
            for photo, start, end, (x0, y0, w0), (x1, y1, w1) in shows:
                if start <= t < end:
                    a = (t - start) / (end - start)
                    width = round(w0 + a * (w1 - w0))
                    canvas.paste(
                        photo.resize((width, width), Image.Resampling.BILINEAR),
                        (round(x0 + a * (x1 - x0)), round(y0 + a * (y1 - y0))),
                    )
            frame = av.VideoFrame.from_image(canvas)
            frame.pts = k
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


if __name__ == "__main__":
    import sys

    case = build_demo(sys.argv[1] if len(sys.argv) > 1 else "demo-data")
    print(case.gallery.parent)
