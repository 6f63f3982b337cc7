"""The wait of request_approval / request_feedback: it survives a server killed with SIGKILL
and started again on the same store and port; a deadline and an abort stop it, sync and async."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest
from server import Server, token

from rekall import Approval, AsyncRekall, Rekall, RekallAbortedError, RekallTimeoutError, RetryPolicy

BOT = "agent:deploy-bot"


class LongPolls:
    """Counts the long polls a client sends (an httpx event hook), so that a test acts once
    the client is waiting, not after some time."""

    def __init__(self) -> None:
        self.count = 0
        self.cond = threading.Condition()

    def hook(self, request: httpx.Request) -> None:
        if request.method == "GET" and "wait=" in str(request.url):
            with self.cond:
                self.count += 1
                self.cond.notify_all()

    async def ahook(self, request: httpx.Request) -> None:
        self.hook(request)

    def wait_for(self, n: int, timeout: float = 60) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: self.count >= n, timeout), f"{self.count} long polls, expected {n}"


def gate(agent: Rekall) -> tuple[str, str]:
    ex = agent.execution.create(name="waits")
    agent.execution.start(execution_id=ex.id)
    a = agent.execution.open_approval(execution_id=ex.id, title="gate", approvers=["user:adam"], timeout=3600000)
    return ex.id, a.id


def test_request_approval_survives_a_kill_and_restart(server: Server) -> None:
    polls = LongPolls()
    http = httpx.Client(event_hooks={"request": [polls.hook]})
    agent = Rekall(api_key=token(BOT), base_url=server.base, http_client=http, retry=RetryPolicy(wait_reconnect_delay=0.5))
    ex = agent.execution.create(name="deploy across a restart")
    agent.execution.start(execution_id=ex.id)
    result: dict[str, Any] = {}

    def wait() -> None:
        try:
            result["approval"] = agent.execution.request_approval(
                execution_id=ex.id, title="across a restart", approvers=["user:adam"], wait_timeout=120
            )
        except BaseException as e:  # noqa: BLE001 - handed to the test
            result["error"] = e

    t = threading.Thread(target=wait)
    t.start()
    polls.wait_for(1)
    server.kill()
    server.restart_after_kill()
    adam = Rekall(api_key=token("user:adam"), base_url=server.base)
    pending = adam.approvals.list().items
    assert [a.title for a in pending] == ["across a restart"]
    assert adam.approvals.approve(pending[0].id, comment="after the restart").status == "approved"
    t.join(timeout=90)
    assert not t.is_alive()
    assert "error" not in result, result.get("error")
    approval: Approval = result["approval"]
    assert approval.status == "approved" and approval.approved_by == ["user:adam"]
    # It asked again after the restart: the first long poll was cut by the kill.
    assert polls.count >= 2
    assert agent.execution.get(ex.id).status == "running"
    http.close()


def test_a_deadline_stops_the_wait_and_leaves_the_request_open(server: Server, agent: Rekall) -> None:
    _, approval_id = gate(agent)
    with pytest.raises(RekallTimeoutError) as err:
        agent.execution.wait_for_approval(approval_id, wait_timeout=1.5)
    assert err.value.code == "wait_timeout"
    assert agent.approvals.get(approval_id).status == "pending"


def test_an_abort_stops_the_wait(server: Server) -> None:
    polls = LongPolls()
    http = httpx.Client(event_hooks={"request": [polls.hook]})
    agent = Rekall(api_key=token(BOT), base_url=server.base, http_client=http)
    _, approval_id = gate(agent)
    abort = threading.Event()
    result: dict[str, BaseException] = {}

    def wait() -> None:
        try:
            agent.execution.wait_for_approval(approval_id, abort=abort)
        except BaseException as e:  # noqa: BLE001
            result["error"] = e

    t = threading.Thread(target=wait)
    t.start()
    polls.wait_for(1)
    abort.set()
    t.join(timeout=30)
    assert not t.is_alive()
    assert isinstance(result.get("error"), RekallAbortedError)
    assert agent.approvals.get(approval_id).status == "pending"
    http.close()


def test_async_wait_is_woken_by_the_vote(server: Server, agent: Rekall) -> None:
    ex_id, approval_id = gate(agent)

    async def run() -> Approval:
        polls = LongPolls()
        http = httpx.AsyncClient(event_hooks={"request": [polls.ahook]})
        async with AsyncRekall(api_key=token(BOT), base_url=server.base, http_client=http) as a:
            waiting = asyncio.ensure_future(a.execution.wait_for_approval(approval_id))
            while polls.count < 1:
                await asyncio.sleep(0.05)
            async with AsyncRekall(api_key=token("user:adam"), base_url=server.base) as adam:
                await adam.approvals.reject(approval_id, reason="not now")
            result = await waiting
        await http.aclose()
        return result

    approval = asyncio.run(run())
    assert approval.status == "rejected" and approval.reason == "not now"
    assert agent.execution.get(ex_id).status == "running"


def test_async_cancel_and_abort_stop_the_wait(server: Server, agent: Rekall) -> None:
    _, approval_id = gate(agent)

    async def run() -> tuple[bool, BaseException | None]:
        polls = LongPolls()
        http = httpx.AsyncClient(event_hooks={"request": [polls.ahook]})
        async with AsyncRekall(api_key=token(BOT), base_url=server.base, http_client=http) as a:
            task = asyncio.ensure_future(a.execution.wait_for_approval(approval_id))
            while polls.count < 1:
                await asyncio.sleep(0.05)
            task.cancel()
            try:
                await task
                cancelled = False
            except asyncio.CancelledError:
                cancelled = True
            abort = asyncio.Event()
            task2 = asyncio.ensure_future(a.execution.wait_for_approval(approval_id, abort=abort))
            while polls.count < 2:
                await asyncio.sleep(0.05)
            abort.set()
            err: BaseException | None = None
            try:
                await task2
            except RekallAbortedError as e:
                err = e
        await http.aclose()
        return cancelled, err

    cancelled, err = asyncio.run(run())
    assert cancelled
    assert isinstance(err, RekallAbortedError)
    assert agent.approvals.get(approval_id).status == "pending"


def test_async_feedback_returns_the_answers(server: Server, agent: Rekall) -> None:
    ex = agent.execution.create(name="async feedback")
    agent.execution.start(execution_id=ex.id)

    async def run() -> dict[str, Any]:
        async with AsyncRekall(api_key=token(BOT), base_url=server.base) as a:
            waiting = asyncio.ensure_future(
                a.execution.request_feedback(
                    execution_id=ex.id,
                    title="pick one",
                    form={"fields": [{"name": "choice", "type": "select", "label": "Choice", "options": ["a", "b"]}]},
                )
            )
            async with AsyncRekall(api_key=token("user:bob"), base_url=server.base) as bob:
                while True:
                    pending = (await bob.feedback.list()).items
                    if pending:
                        break
                    await asyncio.sleep(0.05)
                await bob.feedback.submit(pending[0].id, data={"choice": "b"})
            return (await waiting).data

    assert asyncio.run(run()) == {"choice": "b"}


def test_a_server_with_a_shorter_max_wait_is_still_waited_on() -> None:
    # This server refuses `?wait=30s` (422 on `wait`): the client asks for shorter holds.
    server = Server("limits: {maxWait: 5s}\n").start()
    try:
        polls = LongPolls()
        http = httpx.Client(event_hooks={"request": [polls.hook]})
        agent = Rekall(api_key=token(BOT), base_url=server.base, http_client=http)
        _, approval_id = gate(agent)
        result: dict[str, Any] = {}
        t = threading.Thread(
            target=lambda: result.update(a=agent.execution.wait_for_approval(approval_id, wait_timeout=60))
        )
        t.start()
        # 30 s refused, 15 s refused, 7.5 s refused, then a 3 s hold is the fourth poll.
        polls.wait_for(4)
        Rekall(api_key=token("user:adam"), base_url=server.base).approvals.approve(approval_id)
        t.join(timeout=30)
        assert result["a"].status == "approved"
        http.close()
    finally:
        server.stop()


def test_the_agent_instance_is_in_the_audit_log(server: Server, agent: Rekall) -> None:
    ex = agent.execution.create(name="audited")
    entries = agent.audit.list(execution_id=ex.id).items
    created = [e for e in entries if e.kind == "execution_created"]
    assert len(created) == 1
    assert created[0].principal == BOT
    assert created[0].detail["http"]["agentInstance"] == "deploy-bot-1"
