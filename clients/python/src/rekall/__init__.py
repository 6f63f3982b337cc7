"""Python client of ``rekall-policy serve``: human-in-the-loop gates for AI agents.

``Rekall`` (sync) and ``AsyncRekall`` make the product document's calls in snake_case::

    rekall = Rekall(api_key=..., base_url="http://127.0.0.1:8080")
    execution = rekall.execution.create(name="Deploy", config={"on_failure": "pause"})
"""

from ._async_client import AsyncRekall
from ._calls import Duration
from ._client import Rekall
from ._errors import RekallAbortedError, RekallError, RekallTimeoutError
from ._models import (
    Approval,
    AuditEntry,
    ChainStepStatus,
    Checkpoint,
    EscalationDecision,
    Execution,
    ExecutionConfig,
    Feedback,
    Memory,
    Page,
    PolicyVersion,
    VoteReceipt,
)
from ._retry import RetryPolicy

__all__ = [
    "Approval",
    "AsyncRekall",
    "AuditEntry",
    "ChainStepStatus",
    "Checkpoint",
    "Duration",
    "EscalationDecision",
    "Execution",
    "ExecutionConfig",
    "Feedback",
    "Memory",
    "Page",
    "PolicyVersion",
    "Rekall",
    "RekallAbortedError",
    "RekallError",
    "RekallTimeoutError",
    "RetryPolicy",
    "VoteReceipt",
]
