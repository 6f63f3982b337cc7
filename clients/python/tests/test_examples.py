"""The product document's examples as programs, end to end against a real server, with a
scripted approver answering through the client's approver side."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from approver import ScriptedApprover
from server import Server, token

from rekall import Rekall

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BOT = "agent:deploy-bot"


def run_example(server: Server, name: str, *args: str, principal: str = BOT) -> str:
    env = dict(os.environ, REKALL_URL=server.base, REKALL_API_KEY=token(principal))
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def only_execution(agent: Rekall, name: str) -> str:
    found = [e for e in agent.execution.list().items if e.name == name]
    assert len(found) == 1, found
    return found[0].id


def test_deploy_to_production_approved(server: Server, agent: Rekall) -> None:
    with ScriptedApprover(
        server.base, token, votes={"user:adam": lambda a: "approve" if a.title == "Production Deployment Approval" else None}
    ) as human:
        out = run_example(server, "deploy_to_production.py", "api", "1.4.2")
    lines = out.splitlines()
    assert lines[:2] == ["tests of api: passed", "deployed api@1.4.2 to production"]
    assert re.fullmatch(r"exe_[0-9a-f]+ approval approved by \['user:adam'\]", lines[2]), lines[2]
    assert [(p, what) for p, _, what in human.done] == [("user:adam", "approve")]
    ex = agent.execution.get(only_execution(agent, "Deploy api@1.4.2 to production"))
    assert ex.status == "completed"
    assert ex.result == {"deployed_by": ["user:adam"]}
    assert ex.config.on_failure == "pause"


def test_deploy_to_production_rejected(server: Server, agent: Rekall) -> None:
    with ScriptedApprover(server.base, token, votes={"user:adam": lambda a: "reject"}):
        out = run_example(server, "deploy_to_production.py", "web", "2.0.0")
    assert "deployed" not in out.replace("approval", "")
    ex = agent.execution.get(only_execution(agent, "Deploy web@2.0.0 to production"))
    assert ex.status == "completed"
    assert ex.result["status"] == "rejected"


def test_deploy_to_production_async(server: Server, agent: Rekall) -> None:
    with ScriptedApprover(server.base, token, votes={"user:adam": lambda a: "approve"}):
        out = run_example(server, "deploy_to_production_async.py", "worker", "3.1.0")
    assert "deployed worker@3.1.0 to production" in out
    ex = agent.execution.get(only_execution(agent, "Deploy worker@3.1.0 to production"))
    assert ex.result == {"deployed_by": ["user:adam"]}


def test_migration_chain(server: Server, agent: Rekall) -> None:
    votes = {"user:alice": lambda a: "approve", "user:carol": lambda a: "approve"}
    with ScriptedApprover(server.base, token, votes=votes) as human:
        out = run_example(server, "migration_chain.py")
    assert "Approval status: approved" in out
    assert " Technical Review: approved (user:alice)" in out
    assert " Manager Approval: approved (user:carol)" in out
    # alice's step first, then carol's: a later step is not shown before it opens.
    assert [p for p, _, _ in human.done] == ["user:alice", "user:carol"]


def test_code_review_feedback_stores_a_memory(server: Server, agent: Rekall) -> None:
    answer = {"quality": 2, "issues": ["Security concern", "Missing error handling"], "comments": "SQL injection"}
    with ScriptedApprover(server.base, token, answers={"user:alice": lambda f: answer}) as human:
        out = run_example(server, "code_review_feedback.py")
    assert len(human.done) == 1
    assert "stored memory" in out
    memories = agent.memories.list(tag="code-generation").items
    contents = [m.content for m in memories]
    assert (
        "Code generation feedback: quality 2/5. Issues: Security concern, Missing error handling. SQL injection"
        in contents
    )
    mine = [m for m in memories if m.content.startswith("Code generation feedback")]
    assert mine[0].importance == 0.8
    assert "feedback" in mine[0].metadata["tags"]


def test_process_task_escalates_the_unsure_task(server: Server, agent: Rekall) -> None:
    out = run_example(server, "process_task.py")
    assert "executed summarize-ticket" in out
    assert "Escalated: " in out
    ex = agent.execution.get(only_execution(agent, "Process the task queue"))
    assert ex.status == "paused"
    assert len(ex.waiting_on) == 1
    adam = Rekall(api_key=token("user:adam"), base_url=server.base)
    pending = [a.id for a in adam.approvals.list().items]
    assert ex.waiting_on[0] in pending


def test_hitl_policy_by_the_agent(server: Server) -> None:
    out = run_example(server, "hitl_policy.py")
    assert "policy version 2" in out


def test_code_review_workflow_blocked(server: Server, agent: Rekall) -> None:
    answer = {"action": "Block PR", "comments": "Parameterise the query"}
    with ScriptedApprover(server.base, token, answers={"user:bob": lambda f: answer}):
        out = run_example(server, "code_review_workflow.py", "42")
    assert "PR #42: changes_requested: Parameterise the query" in out
    ex = agent.execution.get(only_execution(agent, "Code review for PR #42"))
    assert ex.status == "completed"
    assert ex.checkpoint is not None and ex.checkpoint.step == 2
    assert ex.checkpoint.message == "Human review: Block PR"


def test_code_review_workflow_approved_with_comments(server: Server, agent: Rekall) -> None:
    answer = {"action": "Approve with comments", "comments": "Fine once the query is fixed"}
    with ScriptedApprover(server.base, token, answers={"user:bob": lambda f: answer}):
        out = run_example(server, "code_review_workflow.py", "7")
    assert "PR #7: comment: critical: SQL built from user input; minor: Unused import" in out
    ex = agent.execution.get(only_execution(agent, "Code review for PR #7"))
    assert ex.result == {"issues": 2, "critical_reviewed": 1}
