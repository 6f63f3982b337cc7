"""The product document's confidence-based escalation: setEscalationPolicy, then processTask
with checkEscalation for a task the agent is sure of and one it is not.

REKALL_URL=http://127.0.0.1:8080 REKALL_API_KEY=<agent token> python examples/process_task.py
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from rekall import Rekall

rekall = Rekall(
    api_key=os.environ["REKALL_API_KEY"],
    agent_id="task-bot",
    base_url=os.environ.get("REKALL_URL", "http://127.0.0.1:8080"),
)

policy = rekall.execution.set_escalation_policy(
    rules=[
        {"confidence_range": [0.9, 1.0], "action": "auto-approve"},
        {"confidence_range": [0.7, 0.9], "action": "notify-and-proceed", "notify_via": ["slack"]},
        {"confidence_range": [0.4, 0.7], "action": "request-approval", "approvers": ["user:adam"], "timeout": 3600000},
        {
            "confidence_range": [0.0, 0.4],
            "action": "escalate",
            "approvers": ["user:carol"],
            "notify_via": ["email", "slack"],
            "priority": "high",
        },
    ],
)


@dataclass
class Task:
    action: str
    confidence: float


# Stubs of the agent's own work.
def evaluate_confidence(task: Task) -> float:
    return task.confidence


def execute_action(task: Task) -> None:
    print(f"executed {task.action}")


execution = rekall.execution.create(name="Process the task queue")
rekall.execution.start(execution_id=execution.id)


def process_task(task: Task) -> None:
    confidence = evaluate_confidence(task)
    decision = rekall.execution.check_escalation(
        execution_id=execution.id,
        action=task.action,
        confidence=confidence,
        context={
            "reasoning": "Based on 3 similar past tasks, 2 succeeded with this approach",
            "alternatives": ["Alternative A", "Alternative B"],
        },
    )
    if decision.approved:
        execute_action(task)
    else:
        print(f"Escalated: {decision.reason}")  # execution is paused, waiting for a human


if __name__ == "__main__":
    print(f"escalation policy version {policy.version}")
    process_task(Task(action="summarize-ticket", confidence=0.95))
    process_task(Task(action="refund-customer", confidence=0.5))
