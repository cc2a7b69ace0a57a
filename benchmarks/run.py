"""Run the benchmarks one after another (`make bench`, `make bench BENCH=lfw_verification`).

Each writes benchmarks/results/<name>.json (benchmarks/_results.py). Benchmarks that need a GPU
are skipped, with the reason, on a machine without one: their committed results stay as they
are. Run from the project root: python benchmarks/run.py [NAME ...]
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from _results import DATASETS, gpus

HERE = Path(__file__).resolve().parent

# In the order `make bench` runs them: name -> needs a GPU.
BENCHMARKS = {
    "lfw_verification": False,
    "lfw_identification": False,
    "decisions": False,
    "clustering": False,
    "cluster_workflow": False,
    "population_calibration": False,
    "embedding_speed": False,
    "embedding_quantization": False,
    "detector_fit": False,
    "detection": False,
    "scan_speed": False,
    "video_speed": False,
    "api_load": False,
    "web_pages": False,
    "search_scale": False,
    "vector_backends": False,
    "gpu_runtime": True,
}


def gpu_missing() -> str | None:
    """Why the GPU benchmarks cannot run here, or None."""
    if gpus() is None:
        return "no NVIDIA GPU answers nvidia-smi"
    try:
        import onnxruntime
    except ImportError:
        return "onnxruntime is not installed"
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return "onnxruntime has no CUDA provider (install onnxruntime-gpu)"
    return None


def main(names: list[str]) -> int:
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    if not DATASETS.is_dir():
        print(f"{DATASETS}: the shared datasets are needed (or set FACESIFT_DATASETS)")
        return 2
    failed = []
    for name in names or list(BENCHMARKS):
        if BENCHMARKS[name]:
            why = gpu_missing()
            if why:
                print(f"== {name}: skipped, it needs a GPU ({why}); committed results kept")
                continue
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(HERE / f"{name}.py")])
        print(f"== {name}: exit {code} after {time.perf_counter() - start:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
