"""The product document's structured feedback form, and the episodic memory it leaves when the
quality is low.

REKALL_URL=http://127.0.0.1:8080 REKALL_API_KEY=<agent token> python examples/code_review_feedback.py
"""

from __future__ import annotations

import os

from rekall import Rekall

rekall = Rekall(
    api_key=os.environ["REKALL_API_KEY"],
    agent_id="codegen-bot",
    base_url=os.environ.get("REKALL_URL", "http://127.0.0.1:8080"),
)

# A stub of what the agent generated.
generated_code = """export function login(user: string, password: string) {
  return db.query(`SELECT * FROM users WHERE name = '${user}' AND password = '${password}'`);
}
"""


def main() -> None:
    execution = rekall.execution.create(name="Generate the authentication module")
    rekall.execution.start(execution_id=execution.id)

    feedback = rekall.execution.request_feedback(
        execution_id=execution.id,
        title="Review Generated Code",
        description="Please review the generated authentication module",
        artifacts=[{"type": "code", "content": generated_code, "language": "typescript"}],
        form={
            "fields": [
                {"name": "quality", "type": "rating", "label": "Code Quality", "min": 1, "max": 5},
                {
                    "name": "issues",
                    "type": "multiselect",
                    "label": "Issues Found",
                    "options": [
                        "Missing error handling",
                        "Security concern",
                        "Performance issue",
                        "Style mismatch",
                        "Logic error",
                        "No issues",
                    ],
                },
                {"name": "comments", "type": "text", "label": "Additional Comments", "required": False},
            ],
        },
        timeout=86400000,  # 24 hours
    )
    if feedback.data["quality"] < 3:
        # Store feedback as an episodic memory for learning
        memory = rekall.memories.create(
            type="episodic",
            content=(
                f"Code generation feedback: quality {feedback.data['quality']}/5. "
                f"Issues: {', '.join(feedback.data['issues'])}. {feedback.data.get('comments') or ''}"
            ),
            metadata={"tags": ["feedback", "code-generation"]},
            importance=0.8,
        )
        print(f"stored memory {memory.id}: {memory.content}")

    rekall.execution.complete(execution_id=execution.id, result={"quality": feedback.data["quality"]})


if __name__ == "__main__":
    main()
