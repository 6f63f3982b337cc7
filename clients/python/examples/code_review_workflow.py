"""The product document's codeReviewWorkflow: execution memory with a human review step for
critical issues.

REKALL_URL=http://127.0.0.1:8080 REKALL_API_KEY=<agent token> python examples/code_review_workflow.py 42
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass

from rekall import Rekall

rekall = Rekall(
    api_key=os.environ["REKALL_API_KEY"],
    agent_id="review-bot",
    base_url=os.environ.get("REKALL_URL", "http://127.0.0.1:8080"),
)


@dataclass
class Issue:
    title: str
    severity: str
    code_snippet: str


@dataclass
class Analysis:
    issues: list[Issue]


# Stubs of the agent's own work.
def analyze_code(pr_number: int) -> Analysis:
    return Analysis(
        issues=[
            Issue("SQL built from user input", "critical", "db.query(`SELECT * FROM t WHERE id = ${id}`)"),
            Issue("Unused import", "minor", "import os"),
        ]
    )


def post_review(pr_number: int, event: str, body: str) -> None:
    print(f"PR #{pr_number}: {event}: {body}")


def format_review(analysis: Analysis) -> str:
    return "; ".join(f"{i.severity}: {i.title}" for i in analysis.issues)


def code_review_workflow(pr_number: int) -> None:
    execution = rekall.execution.create(
        name=f"Code review for PR #{pr_number}",
        config={"checkpoint_interval": "per-step", "on_failure": "pause"},
    )
    rekall.execution.start(execution_id=execution.id)

    analysis = analyze_code(pr_number)  # Step 1: automated
    rekall.execution.checkpoint(
        execution_id=execution.id,
        step=1,
        state={"analysis": asdict(analysis)},
        message=f"Analysis complete: {len(analysis.issues)} issues found",
    )

    critical_issues = [i for i in analysis.issues if i.severity == "critical"]
    if len(critical_issues) > 0:  # Step 2: HITL review
        review = rekall.execution.request_feedback(
            execution_id=execution.id,
            title=f"Critical issues in PR #{pr_number}",
            description=f"Found {len(critical_issues)} critical issues that need human review.",
            artifacts=[{"type": "code", "content": issue.code_snippet, "title": issue.title} for issue in critical_issues],
            form={
                "fields": [
                    {
                        "name": "action",
                        "type": "select",
                        "label": "Action",
                        "options": ["Block PR", "Approve with comments", "False positive"],
                    },
                    {"name": "comments", "type": "text", "label": "Review comments"},
                ]
            },
        )
        rekall.execution.checkpoint(
            execution_id=execution.id,
            step=2,
            state={"analysis": asdict(analysis), "human_review": review.data},
            message=f"Human review: {review.data['action']}",
        )
        if review.data["action"] == "Block PR":
            post_review(pr_number, "changes_requested", review.data["comments"])
            rekall.execution.complete(execution_id=execution.id)
            return

    post_review(pr_number, "comment", format_review(analysis))  # Step 3
    rekall.execution.complete(
        execution_id=execution.id,
        result={"issues": len(analysis.issues), "critical_reviewed": len(critical_issues)},
    )


if __name__ == "__main__":
    code_review_workflow(int(sys.argv[1]) if len(sys.argv) > 1 else 42)
