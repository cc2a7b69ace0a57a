"""Result files of the benchmarks: what was measured, on what, by which code, on which machine.

Every benchmark in this folder ends with `write_result(name, figures, data)`, which writes
`benchmarks/results/<name>.json`:

    {"benchmark": name,
     "figures": {...},          # the measured values (README.md cites them by key path)
     "data": {...},             # what was measured on: dataset, counts, options
     "provenance": {"command", "commit", "dirty", "date", "wall_seconds", "load_average",
                    "machine": {"cpu", "cores", "ram_gib", "gpu", "os", "python",
                                "libraries"}}}

`dirty` says whether the working tree differed from `commit` (result files left aside) when
the benchmark started. tests/test_readme_figures.py checks README.md's figures against these
files.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DATASETS = Path(os.environ.get("FACESIFT_DATASETS", ROOT.parent / "shared" / "datasets"))

# Distributions whose versions are recorded when installed (first found of each group).
LIBRARIES = {
    "numpy": ("numpy",),
    "onnxruntime": ("onnxruntime-gpu", "onnxruntime"),
    "dlib": ("dlib-bin", "dlib"),
    "faiss": ("faiss-gpu", "faiss-cpu", "faiss"),
    "face_recognition": ("face_recognition", "face-recognition"),
    "face_recognition_models": ("face_recognition_models", "face-recognition-models"),
    "av": ("av",),
    "pillow": ("pillow",),
}

_STARTED = time.perf_counter()


def _load_average() -> list[float] | None:
    """1, 5 and 15-minute load averages: how busy the machine's cores were (speed figures)."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


_LOAD_AT_START = _load_average()


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def _tree_state() -> tuple[str | None, bool | None]:
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--", ".", ":(exclude)benchmarks/results")
    return commit, None if status is None else bool(status)


# Taken when the benchmark starts: the code that ran, not the code when it finished.
_COMMIT, _DIRTY = _tree_state()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError):
        pass
    return None


def gpus() -> list[dict[str, str]] | None:
    """The NVIDIA GPUs nvidia-smi lists (name, memory, driver); None without nvidia-smi or
    where it answers nothing."""
    try:
        out = subprocess.run(
            [
                "nvidia-smi",
                "--query-gpu=name,memory.total,driver_version",
                "--format=csv,noheader",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    rows = [[cell.strip() for cell in line.split(",")] for line in out.splitlines() if line]
    found = [{"name": r[0], "memory": r[1], "driver": r[2]} for r in rows if len(r) == 3]
    return found or None


def _version(names: tuple[str, ...]) -> str | None:
    for name in names:
        try:
            return f"{name} {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            continue
    return None


def machine() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "gpu": gpus(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "libraries": {key: _version(names) for key, names in LIBRARIES.items()},
    }


def command_line() -> str:
    """How this benchmark was started, from the project root."""
    script = Path(sys.argv[0]).resolve()
    try:
        shown = str(script.relative_to(ROOT))
    except ValueError:
        shown = str(script)
    return shlex.join(["python", shown, *sys.argv[1:]])


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars as Python numbers, NaN and infinities as None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_result(name: str, figures: dict[str, Any], data: dict[str, Any]) -> Path:
    """Write benchmarks/results/<name>.json (see the module's docstring); returns its path."""
    result = {
        "benchmark": name,
        "figures": _plain(figures),
        "data": _plain(data),
        "provenance": {
            "command": command_line(),
            "commit": _COMMIT,
            "dirty": _DIRTY,
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "wall_seconds": round(time.perf_counter() - _STARTED, 1),
            "load_average": {"start": _LOAD_AT_START, "end": _load_average()},
            "machine": machine(),
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(result, indent=1, allow_nan=False) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return out
