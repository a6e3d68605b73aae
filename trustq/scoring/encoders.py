"""The encoders trustq builds from its settings: the reference one models are trained on,
and the one a worker serves with (device, runtime and precision resolved)."""

from __future__ import annotations

import torch

from trustq.config import Settings
from trustq.models.encoder import Encoder
from trustq.scoring.variant_choice import cached_choice, cpu_choice


def make_encoder(settings: Settings) -> Encoder:
    """The reference encoder (fp32 PyTorch on the CPU): what models are trained on."""
    return Encoder(
        settings.encoder_path,
        max_tokens=settings.encoder_max_tokens,
        overlap_tokens=settings.encoder_overlap_tokens,
        batch_size=settings.encoder_batch_size,
    )


def _device(settings: Settings) -> str:
    device = settings.encoder_device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _measured(settings: Settings, device: str) -> bool:
    """True when the precision is chosen by measuring this CPU."""
    return (
        settings.encoder_precision == "auto"
        and device == "cpu"
        and settings.encoder_runtime == "torch"
        and not settings.encoder_compile
    )


def serving_variant(settings: Settings) -> tuple[str, str, int]:
    """(device, precision, batch size) the worker's encoder runs with, ``auto`` resolved:
    fp16 on a GPU; on a CPU, PyTorch uncompiled, the fastest faithful precision measured on
    this machine (``trustq.scoring.variant_choice``); fp32 for ONNX or compiled runs."""
    device = _device(settings)
    precision = settings.encoder_precision
    if _measured(settings, device):
        precision = cpu_choice(settings).precision
    elif precision == "auto":
        precision = "fp16" if device == "cuda" else "fp32"
    batch = settings.encoder_gpu_batch_size if device == "cuda" else settings.encoder_batch_size
    return device, precision, batch


def variant_source(settings: Settings, *, probe_gpu: bool = True) -> str:
    """How the serving variant was decided, for logs and ``trustq status``: pinned by the
    settings, or measured on this machine (read from the cached measurement; nothing is
    measured here). Without ``probe_gpu`` CUDA is not touched (a worker's main process,
    whose pool processes are forked later, must not initialise it): an ``auto`` device then
    reads only what was measured on this CPU."""
    device = "unknown" if settings.encoder_device == "auto" and not probe_gpu else None
    device = device or _device(settings)
    if device != "cuda" and _measured(settings, "cpu"):
        choice = cached_choice(settings)
        if choice is not None:
            return choice.describe()
        gpu = " (fp16 on a GPU)" if device != "cpu" else ""
        return f"auto: not measured on this CPU yet{gpu}"
    precision = settings.encoder_precision
    if precision == "auto":
        precision = {"cuda": "fp16", "cpu": "fp32"}.get(device, "fp16 on a GPU, else fp32")
    compiled = "-compiled" if settings.encoder_compile else ""
    how = "auto" if settings.encoder_precision == "auto" else "as configured"
    return f"{settings.encoder_runtime}-{precision}{compiled} on {device} device ({how})"


def make_serving_encoder(settings: Settings) -> Encoder:
    """The encoder a worker scores with: the configured device, runtime and precision."""
    device, precision, batch = serving_variant(settings)
    return Encoder(
        settings.encoder_path,
        max_tokens=settings.encoder_max_tokens,
        overlap_tokens=settings.encoder_overlap_tokens,
        batch_size=batch,
        device=device,
        precision=precision,
        runtime=settings.encoder_runtime,
        compile=settings.encoder_compile,
        cache_dir=settings.data_dir / "encoders",
    )
