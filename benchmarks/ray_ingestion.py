"""Ingestion on Ray: `facesift scan --executor ray` on a local Ray instance with 1 and 2
workers, against a local scan of the same photos in the same run.

Measures photos/s with 1 and 2 Ray workers (the scaling; the two take turns on --rounds parts
of the photos, so that a change in the machine's speed weighs on both alike), the scanning
process's CPU time and the machine's idle time during each scan, checks that the Ray scans store
exactly the faces a local scan stores (counted and compared face by face: file, frame, box,
quality), and kills one Ray worker a quarter of the way through a further scan: the scan must
end with no error and the same faces.

Photos: the first N LFW View 1 images (250×250), or with --tile, photos of TILE×TILE pixels
made of four LFW images each (two by two, enlarged): Telegram sends photos at most 1280 px
on their long side, so --tile 1280 is the size of a channel's photos.

With --cpus-per-worker 1 each worker computes on one core, as when every worker has cores of
its own on a cluster: by default one worker on this machine computes with all its cores.

Run: python benchmarks/ray_ingestion.py [--photos 2000] [--tile 1280] [--cpus-per-worker 1]
    [--rounds 4]
Writes benchmarks/results/ray_ingestion.json (ray_ingestion_tileTILE.json with --tile;
_1cpu added with --cpus-per-worker 1).
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from _results import DATASETS, write_result
from PIL import Image

LFW = DATASETS / "lfw-view1" / "images"


def make_photos(folder: Path, count: int, tile: int | None) -> list[Path]:
    lfw = sorted(LFW.rglob("*.jpg"))
    if tile is None:
        return lfw[:count]
    half = tile // 2
    out = []
    for n in range(count):
        canvas = Image.new("RGB", (tile, tile))
        turn = 4 * n // len(lfw)  # once every LFW image was used, the same four go elsewhere
        for k in range(4):
            face = Image.open(lfw[(4 * n + k) % len(lfw)]).convert("RGB").resize((half, half))
            place = (k + turn) % 4
            canvas.paste(face, ((place % 2) * half, (place // 2) * half))
        path = folder / f"{n:05d}.jpg"
        canvas.save(path, quality=90)
        out.append(path)
    return out


class Killing:
    """A Ray executor factory that kills one of its workers once `after` files are done."""

    def __init__(self, cluster: Any, after: int) -> None:
        self.cluster, self.after = cluster, after
        self.made: Any = None
        self.killed: int | None = None

    def default_workers(self, engine: Any) -> int:
        return int(self.cluster.default_workers(engine))

    def __call__(self, engine: Any, workers: int, *args: Any, **kwargs: Any) -> Any:
        self.made = self.cluster(engine, workers, *args, **kwargs)
        return self.made

    def progress(self, path: Path, done: int, total: int) -> None:
        if done == self.after and self.killed is None:
            self.killed = self.made.worker_pids()[0]
            os.kill(self.killed, signal.SIGKILL)


def machine_cpu() -> tuple[int, int]:
    """(idle, total) jiffies of all CPUs since boot (Linux)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return fields[3] + fields[4], sum(fields)


def scan(photos: list[Path], workers: int, executor: Any = None, progress: Any = None) -> dict:
    from facesift import Workspace

    with tempfile.TemporaryDirectory() as folder, Workspace(folder) as ws:
        idle, total = machine_cpu()
        cpu, start = time.process_time(), time.perf_counter()
        report = ws.scan(photos, workers=workers, executor=executor, progress=progress)
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu
        idle_after, total_after = machine_cpu()
        faces = sorted(
            (f.sha256, f.frame_index, tuple(f.bbox), f.quality, f.det_score) for f in ws.faces()
        )
    return {
        "seconds": seconds,
        "photos_per_second": report.processed / seconds,
        "processed": report.processed,
        "errors": len(report.errors),
        "faces": len(faces),
        "scanning_process_cpu_s": cpu,
        "machine_idle_fraction": (idle_after - idle) / max(1, total_after - total),
        "_faces": faces,
    }


def combined(runs: list[dict]) -> dict:
    """Scans of parts of the photos, as one: times, counts and faces summed."""
    seconds = sum(r["seconds"] for r in runs)
    processed = sum(r["processed"] for r in runs)
    return {
        "seconds": seconds,
        "photos_per_second": processed / seconds,
        "processed": processed,
        "errors": sum(r["errors"] for r in runs),
        "faces": sum(r["faces"] for r in runs),
        "scanning_process_cpu_s": sum(r["scanning_process_cpu_s"] for r in runs),
        "machine_idle_fraction": sum(r["machine_idle_fraction"] * r["seconds"] for r in runs)
        / seconds,
        "rounds_photos_per_second": [r["photos_per_second"] for r in runs],
        "_faces": sorted(f for r in runs for f in r["_faces"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument(
        "--rounds", type=int, default=4, help="parts the 1- and 2-worker scans alternate on"
    )
    parser.add_argument("--tile", type=int, default=None, help="photo side in pixels")
    parser.add_argument(
        "--cpus-per-worker",
        type=int,
        default=None,
        help="CPUs (threads) per Ray worker; default: the machine's shared among the workers",
    )
    args = parser.parse_args()

    from facesift.execution.cluster import RayCluster

    with tempfile.TemporaryDirectory() as made:
        photos = make_photos(Path(made), args.photos, args.tile)
        cluster = RayCluster(cpus_per_worker=args.cpus_per_worker)
        start = time.perf_counter()
        cluster.connect()
        ray_start_s = time.perf_counter() - start
        print(f"{len(photos)} photos; Ray started in {ray_start_s:.1f} s", flush=True)
        runs: dict[str, dict] = {"local_2_workers": scan(photos, 2)}
        print(f"local_2_workers: {runs['local_2_workers']['photos_per_second']:.1f} photos/s")
        # 1 and 2 Ray workers take turns on parts of the photos (which goes first alternates),
        # so that a change in the machine's speed during the run weighs on both alike.
        parts: dict[int, list[dict]] = {1: [], 2: []}
        for k in range(args.rounds):
            part = photos[k :: args.rounds]
            for workers in (1, 2) if k % 2 == 0 else (2, 1):
                parts[workers].append(scan(part, workers, cluster))
                print(
                    f"round {k + 1}: {workers} Ray worker(s): "
                    f"{parts[workers][-1]['photos_per_second']:.2f} photos/s",
                    flush=True,
                )
        runs["ray_1_worker"] = combined(parts[1])
        runs["ray_2_workers"] = combined(parts[2])
        killing = Killing(cluster, after=len(photos) // 4)
        runs["ray_2_workers_one_killed"] = scan(photos, 2, killing, killing.progress)
        assert killing.killed is not None
        print(f"killed worker {killing.killed}", flush=True)

    for name, run in runs.items():  # every photo is a new file: each one analysed
        assert run["processed"] == len(photos) and not run["errors"], (name, run)
    local = runs["local_2_workers"]["_faces"]
    figures: dict[str, Any] = {
        "photos": len(photos),
        "ray_start_s": ray_start_s,
        **{name: {k: v for k, v in run.items() if k != "_faces"} for name, run in runs.items()},
        "scaling_2_over_1_ray_workers": runs["ray_2_workers"]["photos_per_second"]
        / runs["ray_1_worker"]["photos_per_second"],
        "ray_over_local_2_workers": runs["ray_2_workers"]["photos_per_second"]
        / runs["local_2_workers"]["photos_per_second"],
        "same_faces_as_local": {name: run["_faces"] == local for name, run in runs.items()},
    }
    print(
        f"scaling 2/1 Ray workers: {figures['scaling_2_over_1_ray_workers']:.2f}×; "
        f"same faces as local: {figures['same_faces_as_local']}"
    )
    data = {
        "photos": f"first {len(photos)} LFW View 1 images (250×250)"
        if args.tile is None
        else f"{len(photos)} photos of {args.tile}×{args.tile} px, four LFW images each",
        "ray": "a local Ray instance started by the benchmark (not counted in the scan times)",
        "rounds": f"the 1- and 2-worker Ray scans alternate on {args.rounds} parts of the "
        "photos (each part a new workspace; starting the workers counts in each part's time)",
        "killed": "one Ray worker SIGKILLed after a quarter of the files were stored",
        "detector": "facesift's default (auto)",
        "cpus_per_worker": args.cpus_per_worker
        or "the machine's CPUs shared among the workers (1 worker: all of them)",
    }
    name = "ray_ingestion" if args.tile is None else f"ray_ingestion_tile{args.tile}"
    if args.cpus_per_worker:
        name += f"_{args.cpus_per_worker}cpu"
    write_result(name, figures, data)


if __name__ == "__main__":
    main()
