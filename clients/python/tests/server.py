"""A real ``rekall-policy serve`` for the tests: the binary from ``REKALL_BINARY`` (default
the repository's ``target/debug/rekall-policy``), a free loopback port, a SQLite store in a
temp folder, the seed policy, and one token per principal."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[3]

PRINCIPALS = [
    ("agent:deploy-bot", "agent"),
    ("agent:other-bot", "agent"),
    ("user:adam", "approver"),
    ("user:alice", "approver"),
    ("user:bob", "approver"),
    ("user:carol", "approver"),
    ("user:mallory", "approver"),
    ("user:root", "admin"),
]


def token(principal: str) -> str:
    return f"tok-{principal}"


def binary() -> str:
    return os.environ.get("REKALL_BINARY") or str(REPO / "target" / "debug" / "rekall-policy")


class Server:
    def __init__(self, extra_config: str = "") -> None:
        self.extra_config = extra_config
        self._tmp = tempfile.TemporaryDirectory(prefix="rekall-py-")
        self.dir = Path(self._tmp.name)
        self.listen = "127.0.0.1:0"
        self.proc: subprocess.Popen[str] | None = None
        self.base = ""
        self.stderr_lines: list[str] = []

    def config(self) -> str:
        lines = [
            f"listen: {self.listen}",
            f"store: sqlite://{self.dir / 'rekall.db'}",
            f"policy: {REPO / 'policies' / 'seed.yaml'}",
            "logChannels: [email, slack]",
            'agents:\n  "agent:deploy-bot": {mayTightenPolicy: true}',
            "tokens:",
        ]
        for p, role in PRINCIPALS:
            digest = hashlib.sha256(token(p).encode()).hexdigest()
            lines.append(f'  - {{principal: "{p}", role: {role}, sha256: "{digest}"}}')
        return "\n".join(lines) + "\n" + self.extra_config

    def start(self) -> Server:
        cfg = self.dir / "rekall-server.yaml"
        cfg.write_text(self.config())
        self.proc = subprocess.Popen(
            [binary(), "serve", "--config", str(cfg)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        line = self.proc.stdout.readline()
        m = re.search(r"http://[0-9.]+:[0-9]+", line)
        if not m:
            err = self.proc.stderr.read()
            self.proc.kill()
            raise RuntimeError(f"the server did not start: {line!r} {err}")
        self.base = m.group(0)
        # From now on the same port, so that a restart is found where the clients look.
        self.listen = self.base.removeprefix("http://")
        # Drained, so that the server never blocks on a full pipe.
        self._drain(self.proc.stdout, None)
        self._drain(self.proc.stderr, self.stderr_lines)
        return self

    @staticmethod
    def _drain(stream: IO[str], keep: list[str] | None) -> None:
        def run() -> None:
            for line in stream:
                if keep is not None:
                    keep.append(line)

        threading.Thread(target=run, daemon=True).start()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no checkpoint of the store."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def restart_after_kill(self) -> None:
        self.kill()
        deadline = time.monotonic() + 30
        while True:
            try:
                self.start()
                return
            except RuntimeError:
                # The port may take a moment to be free again.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        self._tmp.cleanup()

    def panicked(self) -> bool:
        return any("panicked" in line for line in self.stderr_lines)
