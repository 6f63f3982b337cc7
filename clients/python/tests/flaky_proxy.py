"""A real HTTP proxy on 127.0.0.1 in front of the server that misbehaves on cue: it answers
503 or 429 itself, hangs up before forwarding, or forwards and hangs up before answering
(the request took effect, the client never hears of it). It records what it saw."""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Seen:
    method: str
    path: str
    idempotency_key: str | None
    action: str
    replayed: str | None = None


@dataclass
class FlakyProxy:
    upstream: str
    # Actions for the requests that match `match`, in order; then every request is forwarded.
    # "forward", "503:<retry-after>", "429:<retry-after>", "500", "hangup", "drop-response".
    script: list[str] = field(default_factory=list)
    match: str = ""
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        proxy = self
        up = urlsplit(self.upstream)
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy._lock:
                    matches = proxy.match in self.path and self.command != "GET"
                    action = proxy.script.pop(0) if matches and proxy.script else "forward"
                    seen = Seen(self.command, self.path, self.headers.get("Idempotency-Key"), action)
                    proxy.seen.append(seen)
                if action == "hangup":
                    self.close_connection = True
                    self.connection.close()
                    return
                if action.split(":")[0] in ("503", "429", "500"):
                    status, _, after = action.partition(":")
                    payload = b'{"error":{"code":"unavailable","message":"try again"}}'
                    self.send_response(int(status))
                    if after:
                        self.send_header("Retry-After", after)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(up.hostname or "127.0.0.1", up.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                seen.replayed = resp.getheader("Idempotent-Replayed")
                conn.close()
                if action == "drop-response":
                    self.close_connection = True
                    self.connection.close()
                    return
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FlakyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def matching(self) -> list[Seen]:
        return [s for s in self.seen if self.match in s.path and s.method != "GET"]
