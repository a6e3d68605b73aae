"""A webhook receiver the tests run: an HTTP server on a free port that records every
request and answers as told (ok, an error status, a redirect, or too slowly), and can be
stopped and started again on the same port (a dead endpoint that comes back).

``check_signature`` is the verification the README gives receivers (the standard library
only), taken from the README itself: the tests verify deliveries as a receiver would, with
the code a receiver copies, not with trustq's.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.servers import free_port, wait_for


def _readme_snippet() -> Callable[..., bool]:
    """``check_signature`` as the README gives it (section "Webhooks"), run as written."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    (code,) = [b for b in blocks if "def check_signature" in b]
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    return namespace["check_signature"]


check_signature = _readme_snippet()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


class Receiver:
    """``mode``: "ok" (204), "fail" (500), "redirect" (302) or "slow" (answers after 5 s)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks/trustq"
        self.mode = "ok"
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.start()

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                mode = receiver.mode
                code = {"ok": 204, "fail": 500, "redirect": 302, "slow": 204}[mode]
                with receiver._lock:
                    receiver.received.append(Received(dict(self.headers), body, code))
                if mode == "slow":
                    time.sleep(5)
                self.send_response(code)
                if mode == "redirect":
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Close the port: connections are refused until ``start``."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def of(self, evaluation_id: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.event["data"]["id"] == evaluation_id]

    def wait_accepted(self, evaluation_id: str, count: int = 1, timeout: float = 60) -> Received:
        """The ``count``-th request for ``evaluation_id`` this receiver accepted (2xx)."""

        def accepted() -> list[Received]:
            return [r for r in self.of(evaluation_id) if r.answered < 300]

        wait_for(lambda: len(accepted()) >= count, timeout, f"delivery of {evaluation_id}")
        return accepted()[count - 1]
