"""Why a model version cannot be scored with. Apart from ``serving`` so that what only
reports these errors (the API, the CLI) need not import the model's code."""

from __future__ import annotations


class ModelUnavailable(RuntimeError):
    """A model version cannot be scored with: unknown, unreadable, or for another encoder."""


class ModelNotFound(ModelUnavailable, LookupError):
    """No model version of that name."""


class NoServingModel(ModelUnavailable):
    """No model version is marked serving: run `trustq train` first."""


class ModelUnreadable(ModelUnavailable, ValueError):
    """The stored artifact does not load (corrupt, or its checksum does not match)."""


class EncoderMismatch(ModelUnavailable):
    """The model was trained on another encoder than the one it would be given."""
