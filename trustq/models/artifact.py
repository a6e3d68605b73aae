"""Model artifacts as safetensors bytes with JSON metadata, checked by sha256 before use."""

from __future__ import annotations

import hashlib
import json
import math
import struct
from typing import Any

from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from trustq.models.features import MAX_STEPS, STEP_FEATURES
from trustq.models.network import TrustNet
from trustq.models.profile_features import PROFILE_FEATURES

META_KEY = "trustq"
FORMAT_VERSION = 1
# A header this large is not one we wrote; refusing it bounds the memory a bad file can take.
MAX_HEADER_BYTES = 16 << 20


class ArtifactError(Exception):
    """The artifact is not the one expected, or is not a valid trustq model file."""


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def serialise(model: TrustNet, meta: dict[str, Any]) -> bytes:
    """The model's weights and ``meta`` as safetensors bytes.

    ``meta`` must hold ``temperature`` (> 0) and ``encoder`` (with ``name`` and ``revision``).
    The network config and the feature names are written from the code, not from ``meta``,
    so an artifact always describes what it was actually built with.
    """
    temperature = meta.get("temperature")
    if not isinstance(temperature, int | float) or not math.isfinite(temperature):
        raise ValueError("meta['temperature'] must be a finite number")
    if temperature <= 0:
        raise ValueError("meta['temperature'] must be positive")
    encoder = meta.get("encoder")
    if not isinstance(encoder, dict) or not {"name", "revision"} <= encoder.keys():
        raise ValueError("meta['encoder'] must be a dict with 'name' and 'revision'")
    full = {
        **meta,
        "format_version": FORMAT_VERSION,
        "net": model.config(),
        "step_features": list(STEP_FEATURES),
        "max_steps": MAX_STEPS,
        "indicator_names": list(PROFILE_FEATURES),
    }
    try:
        text = json.dumps(full, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"meta is not JSON-serialisable: {exc}") from exc
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return st_save(tensors, metadata={META_KEY: text})


def _read_metadata(data: bytes) -> dict[str, Any]:
    if len(data) < 8:
        raise ArtifactError("artifact is too short to be a safetensors file")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > MAX_HEADER_BYTES or 8 + header_len > len(data):
        raise ArtifactError("artifact header length is out of range")
    try:
        header = json.loads(data[8 : 8 + header_len])
        text = header["__metadata__"][META_KEY]
        meta = json.loads(text)
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"artifact has no readable trustq metadata: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        raise ArtifactError("artifact metadata has an unknown format version")
    return meta


def deserialise(data: bytes, expected_sha256: str) -> tuple[TrustNet, dict[str, Any]]:
    """The model (eval mode) and metadata of an artifact whose sha256 is ``expected_sha256``."""
    actual = sha256_hex(data)
    if actual != expected_sha256.strip().lower():
        raise ArtifactError(f"artifact sha256 is {actual}, expected {expected_sha256}")
    meta = _read_metadata(data)
    try:
        tensors = st_load(data)
        model = TrustNet(**meta["net"])
        model.load_state_dict(tensors, strict=True)
    except Exception as exc:  # any failure here means the file does not fit its own metadata
        raise ArtifactError(f"artifact weights do not match its network config: {exc}") from exc
    model.eval()
    return model, meta
