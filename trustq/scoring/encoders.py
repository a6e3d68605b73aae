"""The encoders trustq builds from its settings: the reference one models are trained on,
and the one a worker serves with (device, runtime and precision resolved)."""

from __future__ import annotations

from functools import cache

import torch

from trustq.config import Settings
from trustq.models.encoder import Encoder


def make_encoder(settings: Settings) -> Encoder:
    """The reference encoder (fp32 PyTorch on the CPU): what models are trained on."""
    return Encoder(
        settings.encoder_path,
        max_tokens=settings.encoder_max_tokens,
        overlap_tokens=settings.encoder_overlap_tokens,
        batch_size=settings.encoder_batch_size,
    )


@cache
def cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX-512 BF16 or AMX), where bf16 autocast
    is faster than fp32 instead of slower."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            flags = next((line for line in handle if line.startswith("flags")), "")
    except OSError:
        return False
    words = set(flags.split())
    return bool(words & {"avx512_bf16", "amx_bf16"})


def serving_variant(settings: Settings) -> tuple[str, str, int]:
    """(device, precision, batch size) the worker's encoder runs with, ``auto`` resolved."""
    device = settings.encoder_device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    precision = settings.encoder_precision
    if precision == "auto":
        if device == "cuda":
            precision = "fp16"
        elif settings.encoder_runtime == "torch" and cpu_has_bf16():
            precision = "bf16"
        else:
            precision = "fp32"
    batch = settings.encoder_gpu_batch_size if device == "cuda" else settings.encoder_batch_size
    return device, precision, batch


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
