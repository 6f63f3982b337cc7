"""Typed errors: RekallError with the contract's status, code and field."""

from __future__ import annotations

import pytest
from server import Server, token

from rekall import Rekall, RekallError


def client(server: Server, principal: str) -> Rekall:
    return Rekall(api_key=token(principal), base_url=server.base)


def paused_on_approval(agent: Rekall) -> tuple[str, str]:
    ex = agent.execution.create(name="errors")
    agent.execution.start(execution_id=ex.id)
    a = agent.execution.open_approval(execution_id=ex.id, title="gate", approvers=["user:adam"])
    return ex.id, a.id


def test_401_for_an_unknown_token(server: Server) -> None:
    with pytest.raises(RekallError) as err:
        Rekall(api_key="not-a-token", base_url=server.base).execution.list()
    assert err.value.status == 401 and err.value.code == "unauthenticated"
    assert err.value.request_id


def test_403_for_an_agent_voting(server: Server, agent: Rekall) -> None:
    _, approval_id = paused_on_approval(agent)
    with pytest.raises(RekallError) as err:
        agent.approvals.approve(approval_id, comment="looks fine to me")
    assert err.value.status == 403 and err.value.code == "forbidden"


def test_403_for_an_approver_not_listed(server: Server, agent: Rekall) -> None:
    _, approval_id = paused_on_approval(agent)
    with pytest.raises(RekallError) as err:
        client(server, "user:mallory").approvals.approve(approval_id)
    assert err.value.status == 403 and err.value.code == "forbidden"
    assert approval_id in err.value.message


def test_409_for_an_invalid_transition(server: Server, agent: Rekall) -> None:
    ex = agent.execution.create(name="done twice")
    agent.execution.start(execution_id=ex.id)
    agent.execution.complete(execution_id=ex.id)
    with pytest.raises(RekallError) as err:
        agent.execution.complete(execution_id=ex.id)
    assert err.value.status == 409 and err.value.code == "invalid_transition"


def test_409_for_a_vote_on_a_resolved_request(server: Server, agent: Rekall) -> None:
    _, approval_id = paused_on_approval(agent)
    adam = client(server, "user:adam")
    assert adam.approvals.approve(approval_id).status == "approved"
    with pytest.raises(RekallError) as err:
        adam.approvals.reject(approval_id, reason="changed my mind")
    assert err.value.status == 409 and err.value.code == "already_resolved"


def test_422_for_a_rating_out_of_range_names_the_field(server: Server, agent: Rekall) -> None:
    ex = agent.execution.create(name="bad rating")
    agent.execution.start(execution_id=ex.id)
    f = agent.execution.open_feedback(
        execution_id=ex.id,
        title="rate it",
        form={"fields": [{"name": "quality", "type": "rating", "label": "Quality", "min": 1, "max": 5}]},
    )
    with pytest.raises(RekallError) as err:
        client(server, "user:alice").feedback.submit(f.id, data={"quality": 9})
    assert err.value.status == 422 and err.value.code == "invalid_field"
    assert err.value.field == "data.quality"


def test_422_for_a_confidence_over_one(server: Server, agent: Rekall) -> None:
    ex = agent.execution.create(name="bad confidence")
    agent.execution.start(execution_id=ex.id)
    with pytest.raises(RekallError) as err:
        agent.execution.check_escalation(execution_id=ex.id, action="deploy", confidence=1.5)
    assert err.value.status == 422 and err.value.code == "invalid_field"
    assert err.value.field == "confidence"


def test_422_for_a_snake_case_chain_step_asking_more_approvals_than_approvers(server: Server, agent: Rekall) -> None:
    ex = agent.execution.create(name="bad chain")
    agent.execution.start(execution_id=ex.id)
    with pytest.raises(RekallError) as err:
        agent.execution.open_approval(
            execution_id=ex.id,
            title="chain",
            chain=[{"step": "one", "approvers": ["user:adam"], "min_approvals": 5}],
        )
    assert err.value.status == 422
    assert err.value.field is not None and err.value.field.startswith("chain[0]")


def test_404_for_someone_elses_execution(server: Server, agent: Rekall) -> None:
    ex = agent.execution.create(name="mine")
    with pytest.raises(RekallError) as err:
        client(server, "agent:other-bot").execution.get(ex.id)
    assert err.value.status == 404 and err.value.code == "not_found"
