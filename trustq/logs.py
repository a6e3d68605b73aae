"""Structured logs: one JSON object per line, with the request and submission in context.

Personal data (resume text, links, the profile itself) is never passed to a logger: log
ids, counts and durations. ``bind`` puts ids in context for everything logged after it.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "trustq_request_id", default=None
)
_SUBMISSION_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "trustq_submission_id", default=None
)
# The id a caller sent for its request, kept beside the server's own request_id.
_CLIENT_REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "trustq_client_request_id", default=None
)
_VARS = {
    "request_id": _REQUEST_ID,
    "submission_id": _SUBMISSION_ID,
    "client_request_id": _CLIENT_REQUEST_ID,
}


class ContextFilter(logging.Filter):
    """Adds ``request_id`` and ``submission_id`` from context to every record, and drops
    uvicorn's ``color_message`` (its message again, with terminal colour codes), which the
    JSON formatter would otherwise write out as a field."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _VARS.items():
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        record.__dict__.pop("color_message", None)
        return True


def bind(**ids: str | None) -> dict[str, contextvars.Token[str | None]]:
    """Set ``request_id`` and/or ``submission_id`` for the current context; returns tokens."""
    unknown = set(ids) - set(_VARS)
    if unknown:
        raise ValueError(f"cannot bind {sorted(unknown)}: only {sorted(_VARS)}")
    return {name: _VARS[name].set(value) for name, value in ids.items()}


def unbind(tokens: dict[str, contextvars.Token[str | None]]) -> None:
    for name, token in tokens.items():
        _VARS[name].reset(token)


@contextmanager
def bound(**ids: str | None) -> Iterator[None]:
    """``bind`` for the length of a block."""
    tokens = bind(**ids)
    try:
        yield
    finally:
        unbind(tokens)


def current(name: str) -> str | None:
    return _VARS[name].get()


def formatter(fmt: str) -> logging.Formatter:
    """The JSON formatter (``fmt="json"``) or a plain one with the same fields."""
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(submission_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
            json_ensure_ascii=False,
        )
    return logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s "
        "[request=%(request_id)s submission=%(submission_id)s]"
    )


def configure(fmt: str = "json", level: str = "INFO", stream: Any = None) -> None:
    """Send every log record of the process to ``stream`` (stderr) in ``fmt``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Uvicorn's own access log repeats what the API's request log says, without the ids.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "kombu"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
