"""ONNX Runtime sessions: thread counts for small machines, a GPU when one is there.

Where a GPU is asked for (onnxruntime-gpu is installed and FACESIFT_DEVICE is not "cpu") but
cannot be used — no GPU answers the probe, the probe itself fails, or ONNX Runtime cannot
start CUDA for a model — facesift runs on the CPU and says so: a warning is logged, and
gpu_status() (in every engine's description, and `facesift doctor`) says why.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facesift.errors import ModelError

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

log = logging.getLogger(__name__)

# Why ONNX Runtime ran a model on the CPU although CUDA was asked for (this process).
_session_fallbacks: list[str] = []
_warned: set[str] = set()


@dataclass(frozen=True)
class RuntimeInfo:
    providers: list[str]
    threads: int


def default_threads() -> int:
    """Intra-op threads: FACESIFT_THREADS, else one per core."""
    configured = os.environ.get("FACESIFT_THREADS")
    return max(1, int(configured)) if configured else max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class GpuStatus:
    """What became of the GPU in this process.

    `requested`: onnxruntime-gpu is installed (it lists CUDA) and FACESIFT_DEVICE is not
    "cpu"; `available`: a GPU answered the probe; `problems`: why the GPU is not used (or not
    for every model) although it was requested — the work runs on the CPU instead.
    """

    requested: bool
    available: bool
    problems: tuple[str, ...] = ()

    @property
    def fell_back(self) -> bool:
        """Asked for, and the CPU runs (some of) the work instead."""
        return self.requested and bool(self.problems)

    def summary(self) -> str:
        if not self.requested:
            return "not requested (onnxruntime without CUDA, or FACESIFT_DEVICE=cpu)"
        if self.fell_back:
            return "requested, running on the CPU instead: " + "; ".join(self.problems)
        return "in use (CUDA)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "available": self.available,
            "fell_back_to_cpu": self.fell_back,
            "problems": list(self.problems),
        }


def gpu_status() -> GpuStatus:
    """Whether a GPU was asked for, whether one answered, and why it is not used where it
    was asked for; each new problem is logged as a warning once."""
    import onnxruntime as ort

    installed = CUDA in ort.get_available_providers()
    requested = installed and os.environ.get("FACESIFT_DEVICE", "").lower() != "cpu"
    if not requested:
        return GpuStatus(False, False)
    problems = []
    try:
        available = gpu_present()
    except Exception as exc:  # the probe broke: no GPU for this run, and the reason said
        available = False
        problems.append(f"the GPU probe failed ({type(exc).__name__}: {exc})")
    else:
        if not available:
            problems.append(f"no GPU answered the probe ({gpu_probe() or 'no reason given'})")
    problems.extend(_session_fallbacks)
    for problem in problems:
        _warn_once(f"GPU requested, running on the CPU instead: {problem}")
    return GpuStatus(True, available, tuple(problems))


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning("%s", message)


def available_providers() -> list[str]:
    """CUDA first when onnxruntime-gpu is installed and a GPU answers, unless
    FACESIFT_DEVICE=cpu (see gpu_status for why a GPU asked for is not used)."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if CUDA in available:
        status = gpu_status()
        if not (status.requested and status.available):
            available = [CPU]
    return [p for p in (CUDA, CPU) if p in available]


def gpu_present() -> bool:
    """Whether an NVIDIA GPU answers: onnxruntime-gpu lists its CUDA provider on machines
    without one too, where facesift should not choose the CNN detector for it."""
    return gpu_probe() is None


@functools.cache
def gpu_probe() -> str | None:
    """None where the GPU answers (nvidia-smi reads its free memory), else why it did not
    (once per process)."""
    return _query_free_memory()[1]


def gpu_free_memory_mib() -> int | None:
    """Free memory of the GPU that CUDA sessions use (the first visible one), from nvidia-smi;
    None where it cannot be read."""
    return _query_free_memory()[0]


def _query_free_memory() -> tuple[int | None, str | None]:
    """(free MiB, None) from nvidia-smi, or (None, why it could not be read)."""
    import subprocess

    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    out = ""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.free", "--format=csv,noheader,nounits"]
            + (["-i", visible] if visible else ["-i", "0"]),
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        return int(out.split()[0]), None
    except FileNotFoundError:
        return None, "nvidia-smi not found: no NVIDIA driver"
    except subprocess.CalledProcessError as exc:
        said = " ".join(f"{exc.stdout or ''} {exc.stderr or ''}".split())[:200]
        return None, f"nvidia-smi failed with exit status {exc.returncode}: {said}"
    except subprocess.TimeoutExpired:
        return None, "nvidia-smi did not answer within 10 s"
    except OSError as exc:
        return None, f"nvidia-smi could not run: {exc}"
    except (ValueError, IndexError):
        return None, f"nvidia-smi's answer is not a number: {out.strip()[:100]!r}"


def provider_settings(providers: list[str]) -> list[str | tuple[str, dict[str, str]]]:
    """Providers with their options. On CUDA, TF32 matrix maths is off: with it, MMOD scores
    differed from the CPU provider's by up to 0.06 (measured on an H200 on 2026-11-28 with
    benchmarks/gpu_runtime.py; not re-measured by `make bench`), enough to flip a
    borderline detection; without it by at most 7e-5, for 13–16 ms instead of 8–10 ms per 1080p
    pyramid. That 7e-5 is the network's raw output on one random 400×640 input, not detections
    (benchmarks/gpu_runtime.py, section 6); detections on a 1080p frame are compared there with
    the CPU provider's to boxes within 1 px and scores within 1e-3 (section 3)."""
    return [(p, {"use_tf32": "0"}) if p == CUDA else p for p in providers]


def onnx_session(
    model: str | Path | bytes, threads: int | None = None, *, data_movement: bool = False
) -> Any:
    """An InferenceSession on the GPU when onnxruntime-gpu sees one, else on the CPU.

    `data_movement`: the graph is a few large gathers and element-wise ops on constants
    (an image pyramid): run as written, since constant folding would expand its per-row and
    per-column weights into full-size images, and without a CPU memory arena, so that its
    large intermediates go back to the system after each run (on a GPU, to the shared arena).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = not data_movement
    # Threads that spin between runs take the cores from the Python work and the next session
    # in between (the analysis alternates many short runs of several networks). A one-off
    # trial on this project's 2-core machine (2026-11-30, 120 LFW photos in one process,
    # MTCNN and the embedder at 2 threads): 17 photos/s spinning, 50 without; one 1080p frame
    # detected by MTCNN within noise of the spinning time (about 240 ms either way).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        if data_movement
        else ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    )
    options.log_severity_level = 3
    providers = available_providers()
    if CUDA in providers and _shared_gpu_arena():
        options.add_session_config_entry("session.use_env_allocators", "1")
    source = model if isinstance(model, bytes) else str(model)
    name = "<in memory>" if isinstance(model, bytes) else str(model)
    try:
        session = ort.InferenceSession(source, options, providers=provider_settings(providers))
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"{name}: cannot load as an ONNX model: {exc}") from None
    if CUDA in providers and CUDA not in session.get_providers():
        # ONNX Runtime falls back to the CPU by itself where CUDA cannot start (libraries
        # missing, a driver too old): say so where the engine is described.
        problem = f"ONNX Runtime could not start CUDA for {name} and runs it on the CPU"
        if problem not in _session_fallbacks:
            _session_fallbacks.append(problem)
        gpu_status()  # logs it
    return session


@functools.cache
def _shared_gpu_arena() -> bool:
    """One GPU memory arena for all of this process's sessions, registered once.

    Each session would otherwise keep the most memory it ever used in an arena of its own, and
    the MMOD detector makes one session per image size (its pyramid graphs): GPU memory would
    grow with every size seen. Shared, the arena holds what the largest image needs. It grows by
    what is asked, not in doubling steps (measured on an H200 on 2026-11-28: 8–15% less memory,
    as fast; no benchmark switches the growth setting, so this is not re-measured).
    """
    import onnxruntime as ort

    try:
        info = ort.OrtMemoryInfo(
            "Cuda", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT
        )
        same_as_requested = 1
        arena = ort.OrtArenaCfg(0, same_as_requested, -1, -1)
        ort.create_and_register_allocator_v2(CUDA, info, {}, arena)
    except Exception:  # an older onnxruntime: each session keeps its own arena
        return False
    return True


def session_info(session: Any) -> RuntimeInfo:
    options = session.get_session_options()
    return RuntimeInfo(
        providers=list(session.get_providers()), threads=options.intra_op_num_threads
    )


def run_chained(first: Any, second: Any, inputs: dict[str, Any]) -> Any:
    """`second`'s first output for `first`'s first output, which stays on the device where
    `first` made it (GPU memory under CUDA) instead of passing through host memory."""
    device = "cuda" if first.get_providers()[0] == CUDA else "cpu"
    binding = first.io_binding()
    for name, value in inputs.items():
        binding.bind_cpu_input(name, value)
    binding.bind_output(first.get_outputs()[0].name, device)
    first.run_with_iobinding(binding)
    middle = binding.get_outputs()[0]
    follow = second.io_binding()
    follow.bind_ortvalue_input(second.get_inputs()[0].name, middle)
    follow.bind_output(second.get_outputs()[0].name, "cpu")
    second.run_with_iobinding(follow)
    return follow.copy_outputs_to_cpu()[0]


def padded_batch(session: Any, batch: np.ndarray) -> np.ndarray:
    """`batch` padded with zeros to a power-of-two length on a GPU: cuDNN searches for its
    fastest convolutions for each new input shape, so a few shapes cost less than one per
    number of faces. Unchanged on a CPU."""
    if session.get_providers()[0] != CUDA or len(batch) < 2:
        return batch
    size = 1 << (len(batch) - 1).bit_length()
    return np.concatenate([batch, np.zeros((size - len(batch), *batch.shape[1:]), batch.dtype)])
