"""Video scan speed: seconds of video per second of work, on 2 cores by default.

For each video: facesift's `scan` at its defaults (2 sampled frames/s; a full search for small
faces every 2 s, near the known small faces in between), with every sampled frame searched in
full, and face_recognition's default
pipeline (HOG upsample 1 + encodings) on the same sampled frames, one process, in one run.
Prints the wall time, the real-time factor (video duration / wall time; ≥ 1 keeps up with
playback), faces and tracks. The wall time includes starting the worker processes; the time
to the first analysed frame is printed too.

Run: python benchmarks/video_speed.py [--workers N] [VIDEO ...]
Default videos: the shared street (1080p) and stage (640×360) clips.
Writes benchmarks/results/video_speed.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _results import DATASETS, write_result

DATA = DATASETS / "media"


def run_facesift(video: Path, workers: int, full_scan_every: float) -> dict[str, float]:
    from facesift import Workspace

    first: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        ws = Workspace(folder)
        start = time.perf_counter()
        report = ws.scan(
            [video],
            workers=workers,
            full_scan_every=full_scan_every,
            video_progress=lambda *_: first or first.append(time.perf_counter() - start),
        )
        wall = time.perf_counter() - start
        ws.close()
    assert not report.errors, report.errors
    return {"wall": wall, "first": first[0], "faces": report.faces, "tracks": report.tracks}


def run_face_recognition(video: Path) -> dict[str, float]:
    import face_recognition

    from facesift.media.video import read_frames

    start = time.perf_counter()
    faces = 0
    for frame in read_frames(video):
        locations = face_recognition.face_locations(frame.pixels)
        faces += len(face_recognition.face_encodings(frame.pixels, locations))
    wall = time.perf_counter() - start
    return {"wall": wall, "first": float("nan"), "faces": faces, "tracks": float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    videos = args.videos or [DATA / "street_1080p.mp4", DATA / "hamilton_clip_640x360.mp4"]

    from facesift.media.video import probe_video
    from facesift.workflows.video import DEFAULT_FULL_SCAN_EVERY

    print(f"{os.cpu_count()} cores; facesift with {args.workers} worker processes")
    header = f"{'pipeline':<48}{'wall s':>8}{'× real time':>13}{'1st frame s':>13}"
    figures: dict[str, dict[str, dict[str, float]]] = {}
    data: dict[str, object] = {"workers": args.workers, "videos": {}}
    keys = {
        "facesift scan (defaults)": "facesift",
        "facesift, every sampled frame in full": "facesift_every_frame_in_full",
        "face_recognition, same sampled frames": "face_recognition",
    }
    for video in videos:
        info = probe_video(video)
        duration = info.duration or 0.0
        print(f"\n{video.name}: {info.width}×{info.height}, {duration:.1f} s, {info.fps:.2f} fps")
        print(header + f"{'faces':>7}{'tracks':>8}")
        runs = {
            "facesift scan (defaults)": lambda v=video: run_facesift(
                v, args.workers, DEFAULT_FULL_SCAN_EVERY
            ),
            "facesift, every sampled frame in full": lambda v=video: run_facesift(
                v, args.workers, 0.0
            ),
            "face_recognition, same sampled frames": lambda v=video: run_face_recognition(v),
        }
        data["videos"][video.name] = {  # type: ignore[index]
            "width": info.width,
            "height": info.height,
            "duration": duration,
            "fps": info.fps,
        }
        for name, run in runs.items():
            r = run()
            figures.setdefault(video.stem, {})[keys[name]] = {
                **r,
                "real_time_factor": duration / r["wall"],
            }
            print(
                f"{name:<48}{r['wall']:>8.2f}{duration / r['wall']:>13.2f}{r['first']:>13.2f}"
                f"{r['faces']:>7.0f}{r['tracks']:>8.0f}"
            )
    write_result("video_speed", figures, data)


if __name__ == "__main__":
    main()
