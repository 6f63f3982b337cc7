"""The product document's HITL policy: which actions require approval.

REKALL_URL=http://127.0.0.1:8080 REKALL_API_KEY=<token allowed to set the policy> python examples/hitl_policy.py
"""

from __future__ import annotations

import os

from rekall import Rekall

rekall = Rekall(
    api_key=os.environ["REKALL_API_KEY"],
    base_url=os.environ.get("REKALL_URL", "http://127.0.0.1:8080"),
)

hitl_policy = rekall.execution.set_hitl_policy(
    rules=[
        {"action": "delete", "resource": "*", "require_approval": True, "approvers": ["user:adam"]},
        {
            "action": "deploy",
            "resource": "production",
            "require_approval": True,
            "approvers": ["user:adam", "user:alice"],
            "min_approvals": 1,
        },
        {"action": "*", "resource": "*", "require_approval": False},  # everything else auto-approved
    ],
)

if __name__ == "__main__":
    print(f"policy version {hitl_policy.version}: {hitl_policy.summary}")
