# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""A real HTTP server for the platform's tests to call: it answers JSON and remembers what it got."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Recorder:
    """The server's address and the requests it has received, in order."""

    url: str
    received: list[Received] = field(default_factory=list)


@contextlib.contextmanager
def serve_recorder() -> Iterator[Recorder]:
    """Answers every request with 200 and a JSON body that holds a token (for redaction tests)."""
    got: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {name.lower(): value for name, value in self.headers.items()}
            got.append(Received(self.command, self.path, headers, body))
            path = self.path.split("?", 1)[0]
            payload = json.dumps({"path": path, "access_token": "server-side-secret"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer  # the names http.server calls

        def log_message(self, format: str, *args: object) -> None:
            pass  # the test output is for log lines of the service

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Recorder(f"http://127.0.0.1:{server.server_address[1]}", got)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
