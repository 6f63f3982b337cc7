from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from server import Server, token  # noqa: E402

from rekall import Rekall  # noqa: E402


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server().start()
    try:
        yield s
        assert not s.panicked(), "".join(s.stderr_lines)
    finally:
        s.stop()


def client_for(server: Server, principal: str, **kw: object) -> Rekall:
    return Rekall(api_key=token(principal), base_url=server.base, **kw)  # type: ignore[arg-type]


@pytest.fixture
def agent(server: Server) -> Iterator[Rekall]:
    with client_for(server, "agent:deploy-bot", agent_id="deploy-bot-1") as c:
        yield c
