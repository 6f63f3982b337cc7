"""The product document's multi-approval chain: a schema migration reviewed by a technical
reviewer, then by a manager.

REKALL_URL=http://127.0.0.1:8080 REKALL_API_KEY=<agent token> python examples/migration_chain.py
"""

from __future__ import annotations

import os

from rekall import Rekall

rekall = Rekall(
    api_key=os.environ["REKALL_API_KEY"],
    agent_id="migration-bot",
    base_url=os.environ.get("REKALL_URL", "http://127.0.0.1:8080"),
)


def main() -> None:
    execution = rekall.execution.create(name="Migrate legacy_users to users_v2")
    rekall.execution.start(execution_id=execution.id)

    approval = rekall.execution.request_approval(
        execution_id=execution.id,
        title="Database Schema Migration",
        description="Dropping the legacy_users table and migrating data to users_v2",
        chain=[
            {"step": "Technical Review", "approvers": ["user:alice", "user:bob"], "min_approvals": 1, "timeout": 3600000},
            {"step": "Manager Approval", "approvers": ["user:carol"], "min_approvals": 1, "timeout": 7200000},
        ],
        notify_via=["email", "slack"],
    )
    # The execution pauses until all chain steps are approved.
    # Each step notifies the next group when the previous is approved.
    print(f"Approval status: {approval.status}")
    for step in approval.chain_status:
        print(f" {step.name}: {step.status} ({', '.join(step.approved_by) or 'pending'})")

    rekall.execution.complete(execution_id=execution.id, result={"migration": approval.status})


if __name__ == "__main__":
    main()
