"""ONNX Runtime sessions: thread counts for small machines, a GPU when one is there."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facesift.errors import ModelError

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


@dataclass(frozen=True)
class RuntimeInfo:
    providers: list[str]
    threads: int


def default_threads() -> int:
    """Intra-op threads: FACESIFT_THREADS, else one per core."""
    configured = os.environ.get("FACESIFT_THREADS")
    return max(1, int(configured)) if configured else max(1, os.cpu_count() or 1)


def available_providers() -> list[str]:
    """CUDA first when onnxruntime-gpu sees a GPU, unless FACESIFT_DEVICE=cpu."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if os.environ.get("FACESIFT_DEVICE", "").lower() == "cpu":
        available = [CPU]
    return [p for p in (CUDA, CPU) if p in available]


def provider_settings(providers: list[str]) -> list[str | tuple[str, dict[str, str]]]:
    """Providers with their options. On CUDA, TF32 matrix maths is off: with it, MMOD scores
    differ from the CPU's by up to 0.06 (measured on an H200), enough to flip a borderline
    detection; without it by 7e-5, for 13–16 ms instead of 8–10 ms per 1080p pyramid
    (benchmarks/gpu_runtime.py)."""
    return [(p, {"use_tf32": "0"}) if p == CUDA else p for p in providers]


def onnx_session(
    model: str | Path | bytes, threads: int | None = None, *, data_movement: bool = False
) -> Any:
    """An InferenceSession on the GPU when onnxruntime-gpu sees one, else on the CPU.

    `data_movement`: the graph is a few large gathers and element-wise ops on constants
    (an image pyramid): run as written, since constant folding would expand its per-row and
    per-column weights into full-size images, and without a memory arena, so that its large
    intermediates go back to the system after each run.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = not data_movement
    if data_movement:  # its threads must not spin, taking the cores from the next session's
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        if data_movement
        else ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    )
    options.log_severity_level = 3
    source = model if isinstance(model, bytes) else str(model)
    try:
        return ort.InferenceSession(
            source, options, providers=provider_settings(available_providers())
        )
    except Exception as exc:  # onnxruntime raises its own exception types
        name = "<in memory>" if isinstance(model, bytes) else str(model)
        raise ModelError(f"{name}: cannot load as an ONNX model: {exc}") from None


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
