"""The product document's single approval gate: deployToProduction.

Run against a server: REKALL_URL=http://127.0.0.1:8080 REKALL_API_KEY=<agent token>
python examples/deploy_to_production.py api 1.4.2
"""

from __future__ import annotations

import os
import sys

from rekall import Rekall

rekall = Rekall(
    api_key=os.environ["REKALL_API_KEY"],
    agent_id="deploy-bot",
    base_url=os.environ.get("REKALL_URL", "http://127.0.0.1:8080"),
)


# Stubs of the agent's own work.
def run_tests(service: str) -> None:
    print(f"tests of {service}: passed")


def build_image(service: str, version: str) -> str:
    return f"registry.example.com/{service}:{version}"


def deploy(service: str, version: str, env: str) -> None:
    print(f"deployed {service}@{version} to {env}")


def deploy_to_production(service: str, version: str) -> None:
    execution = rekall.execution.create(
        name=f"Deploy {service}@{version} to production",
        config={"on_failure": "pause"},
    )
    rekall.execution.start(execution_id=execution.id)

    run_tests(service)  # Step 1 (auto)
    rekall.execution.checkpoint(execution_id=execution.id, step=1, message="Tests passed")

    image = build_image(service, version)  # Step 2 (auto)
    rekall.execution.checkpoint(
        execution_id=execution.id, step=2, state={"image": image}, message="Image built"
    )

    # Step 3: HITL - request approval before deploying. Execution is paused until resolved.
    approval = rekall.execution.request_approval(
        execution_id=execution.id,
        title="Production Deployment Approval",
        description=f"Ready to deploy {service}@{version} to production.\n\nTests: PASSED\nImage: {image}",
        approvers=["user:adam"],
        timeout=3600000,  # 1 hour to approve
        notify_via=["email", "slack"],
    )

    if approval.status == "approved":
        deploy(service, version, "production")  # Step 4 (approved by human)
        rekall.execution.complete(
            execution_id=execution.id, result={"deployed_by": approval.approved_by}
        )
    else:  # denied or timed out
        rekall.execution.complete(
            execution_id=execution.id, result={"status": "rejected", "reason": approval.reason}
        )
    print(f"{execution.id} approval {approval.status} by {approval.approved_by}")


if __name__ == "__main__":
    deploy_to_production(*(sys.argv[1:3] if len(sys.argv) >= 3 else ["api", "1.4.2"]))
