"""Retries of connection errors, 429 and 5xx honouring Retry-After, and one Idempotency-Key
per logical call, so that a retried create makes one execution."""

from __future__ import annotations

import pytest
from flaky_proxy import FlakyProxy
from server import Server, token

from rekall import Rekall, RekallError, RetryPolicy

BOT = "agent:deploy-bot"


class Sleeps:
    def __init__(self) -> None:
        self.asked: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)


def via(proxy: FlakyProxy, sleeps: Sleeps, max_retries: int = 5) -> Rekall:
    return Rekall(
        api_key=token(BOT),
        base_url=proxy.base,
        retry=RetryPolicy(max_retries=max_retries, sleep=sleeps),
    )


def executions_named(server: Server, name: str) -> int:
    with Rekall(api_key=token(BOT), base_url=server.base) as direct:
        return sum(1 for e in direct.execution.list().items if e.name == name)


def test_503_is_retried_after_its_retry_after(server: Server) -> None:
    sleeps = Sleeps()
    with FlakyProxy(server.base, ["503:1", "503:3"], match="/v1/executions") as proxy:
        ex = via(proxy, sleeps).execution.create(name="retried after 503")
    assert ex.status == "created"
    assert sleeps.asked == [1.0, 3.0]
    keys = [s.idempotency_key for s in proxy.matching()]
    assert len(keys) == 3 and keys[0] is not None and len(set(keys)) == 1
    assert executions_named(server, "retried after 503") == 1


def test_429_is_retried_after_its_retry_after(server: Server) -> None:
    sleeps = Sleeps()
    with FlakyProxy(server.base, ["429:2"], match="/v1/executions") as proxy:
        via(proxy, sleeps).execution.create(name="retried after 429")
    assert sleeps.asked == [2.0]
    assert [s.action for s in proxy.matching()] == ["429:2", "forward"]


def test_500_without_retry_after_backs_off(server: Server) -> None:
    sleeps = Sleeps()
    with FlakyProxy(server.base, ["500", "500"], match="/v1/executions") as proxy:
        via(proxy, sleeps).execution.create(name="retried after 500")
    assert len(sleeps.asked) == 2 and all(0 < s <= 8.0 for s in sleeps.asked)
    assert executions_named(server, "retried after 500") == 1


def test_connection_error_is_retried_with_the_same_key(server: Server) -> None:
    sleeps = Sleeps()
    with FlakyProxy(server.base, ["hangup", "hangup"], match="/v1/executions") as proxy:
        via(proxy, sleeps).execution.create(name="retried after hangup")
    keys = {s.idempotency_key for s in proxy.matching()}
    assert len(proxy.matching()) == 3 and len(keys) == 1
    assert executions_named(server, "retried after hangup") == 1


def test_a_lost_answer_is_replayed_not_run_again(server: Server) -> None:
    sleeps = Sleeps()
    with FlakyProxy(server.base, ["drop-response"], match="/v1/executions") as proxy:
        ex = via(proxy, sleeps).execution.create(name="answer lost once")
    first, second = proxy.matching()
    assert first.action == "drop-response" and second.action == "forward"
    assert first.idempotency_key == second.idempotency_key
    # The server ran the first one; the retry got its kept answer.
    assert second.replayed == "true"
    assert executions_named(server, "answer lost once") == 1
    with Rekall(api_key=token(BOT), base_url=server.base) as direct:
        assert direct.execution.get(ex.id).name == "answer lost once"


def test_a_lost_vote_answer_counts_the_vote_once(server: Server) -> None:
    with Rekall(api_key=token(BOT), base_url=server.base) as agent:
        ex = agent.execution.create(name="vote once")
        agent.execution.start(execution_id=ex.id)
        a = agent.execution.open_approval(
            execution_id=ex.id, title="two needed", approvers=["user:adam", "user:alice"], min_approvals=2
        )
    sleeps = Sleeps()
    with FlakyProxy(server.base, ["drop-response"], match="/approve") as proxy:
        with Rekall(api_key=token("user:adam"), base_url=proxy.base, retry=RetryPolicy(sleep=sleeps)) as adam:
            receipt = adam.approvals.approve(a.id)
    assert receipt.counted is True and receipt.status == "pending"
    assert receipt.approved_by == ["user:adam"]
    assert len(proxy.matching()) == 2


def test_each_logical_call_has_its_own_key(server: Server) -> None:
    with FlakyProxy(server.base, [], match="/v1/executions") as proxy:
        c = via(proxy, Sleeps())
        c.execution.create(name="one")
        c.execution.create(name="two")
    keys = [s.idempotency_key for s in proxy.matching()]
    assert len(keys) == 2 and keys[0] != keys[1]
    assert executions_named(server, "one") == 1 and executions_named(server, "two") == 1


def test_retries_end_with_the_last_answer(server: Server) -> None:
    sleeps = Sleeps()
    with FlakyProxy(server.base, ["503:1"] * 10, match="/v1/executions") as proxy:
        with pytest.raises(RekallError) as err:
            via(proxy, sleeps, max_retries=2).execution.create(name="never")
    assert err.value.status == 503 and err.value.code == "unavailable"
    assert len(proxy.matching()) == 3 and sleeps.asked == [1.0, 1.0]
    assert executions_named(server, "never") == 0


def test_connection_errors_end_as_a_typed_error(server: Server) -> None:
    sleeps = Sleeps()
    with FlakyProxy(server.base, ["hangup"] * 10, match="/v1/executions") as proxy:
        with pytest.raises(RekallError) as err:
            via(proxy, sleeps, max_retries=1).execution.create(name="never")
    assert err.value.status == 0 and err.value.code == "connection_error"
    assert len(proxy.matching()) == 2


def test_a_refusal_is_not_retried(server: Server) -> None:
    sleeps = Sleeps()
    with FlakyProxy(server.base, [], match="/approve") as proxy:
        with Rekall(api_key=token(BOT), base_url=proxy.base, retry=RetryPolicy(sleep=sleeps)) as c:
            with pytest.raises(RekallError) as err:
                c.approvals.approve("apr_0")
    assert err.value.status in (403, 404)
    assert len(proxy.matching()) == 1 and sleeps.asked == []


def test_async_client_retries_with_one_key(server: Server) -> None:
    import asyncio

    from rekall import AsyncRekall

    sleeps = Sleeps()

    async def run() -> str:
        async with AsyncRekall(
            api_key=token(BOT), base_url=proxy.base, retry=RetryPolicy(sleep=sleeps)
        ) as a:
            return (await a.execution.create(name="async retried")).id

    with FlakyProxy(server.base, ["503:1", "drop-response", "hangup"], match="/v1/executions") as proxy:
        ex_id = asyncio.run(run())
    seen = proxy.matching()
    assert [s.action for s in seen] == ["503:1", "drop-response", "hangup", "forward"]
    assert len({s.idempotency_key for s in seen}) == 1
    assert seen[-1].replayed == "true"
    assert sleeps.asked[0] == 1.0 and len(sleeps.asked) == 3
    assert executions_named(server, "async retried") == 1
    with Rekall(api_key=token(BOT), base_url=server.base) as direct:
        assert direct.execution.get(ex_id).name == "async retried"
