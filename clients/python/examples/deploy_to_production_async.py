"""deployToProduction with the async client, ``AsyncRekall``.

REKALL_URL=http://127.0.0.1:8080 REKALL_API_KEY=<agent token> python examples/deploy_to_production_async.py
"""

from __future__ import annotations

import asyncio
import os
import sys

from rekall import AsyncRekall


async def run_tests(service: str) -> None:
    print(f"tests of {service}: passed")


async def build_image(service: str, version: str) -> str:
    return f"registry.example.com/{service}:{version}"


async def deploy(service: str, version: str, env: str) -> None:
    print(f"deployed {service}@{version} to {env}")


async def deploy_to_production(rekall: AsyncRekall, service: str, version: str) -> None:
    execution = await rekall.execution.create(
        name=f"Deploy {service}@{version} to production",
        config={"on_failure": "pause"},
    )
    await rekall.execution.start(execution_id=execution.id)

    await run_tests(service)
    await rekall.execution.checkpoint(execution_id=execution.id, step=1, message="Tests passed")

    image = await build_image(service, version)
    await rekall.execution.checkpoint(
        execution_id=execution.id, step=2, state={"image": image}, message="Image built"
    )

    approval = await rekall.execution.request_approval(
        execution_id=execution.id,
        title="Production Deployment Approval",
        description=f"Ready to deploy {service}@{version} to production.\n\nTests: PASSED\nImage: {image}",
        approvers=["user:adam"],
        timeout=3600000,
        notify_via=["email", "slack"],
    )

    if approval.status == "approved":
        await deploy(service, version, "production")
        await rekall.execution.complete(
            execution_id=execution.id, result={"deployed_by": approval.approved_by}
        )
    else:
        await rekall.execution.complete(
            execution_id=execution.id, result={"status": "rejected", "reason": approval.reason}
        )
    print(f"{execution.id} approval {approval.status} by {approval.approved_by}")


async def main(service: str, version: str) -> None:
    async with AsyncRekall(
        api_key=os.environ["REKALL_API_KEY"],
        agent_id="deploy-bot",
        base_url=os.environ.get("REKALL_URL", "http://127.0.0.1:8080"),
    ) as rekall:
        await deploy_to_production(rekall, service, version)


if __name__ == "__main__":
    args = sys.argv[1:3] if len(sys.argv) >= 3 else ["api", "1.4.2"]
    asyncio.run(main(args[0], args[1]))
