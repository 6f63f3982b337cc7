"""The server's answers as dataclasses with snake_case attributes.

Parsing is strict about what the contract requires (a missing required key is an error that
names it) and tolerant of keys it does not know, so that a newer server does not break an
older client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ._errors import RekallError

T = TypeVar("T")

PENDING = "pending"


def _req(d: Any, key: str, what: str) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise RekallError(
            f"the server's {what} has no `{key}`",
            status=0,
            code="bad_response",
            field=key,
            body=d,
        )
    return d[key]


def _str_list(v: Any) -> list[str]:
    return [str(x) for x in v] if isinstance(v, list) else []


def _opt_str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _opt_int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _dict(v: Any) -> dict[str, Any]:
    return dict(v) if isinstance(v, dict) else {}


@dataclass(frozen=True)
class ExecutionConfig:
    on_failure: str
    checkpoint_interval: Any

    @staticmethod
    def parse(d: Any) -> ExecutionConfig:
        return ExecutionConfig(
            on_failure=str(_req(d, "onFailure", "execution config")),
            checkpoint_interval=d.get("checkpointInterval"),
        )


@dataclass(frozen=True)
class Checkpoint:
    execution_id: str
    seq: int
    step: int
    state: Any
    message: str
    at: int

    @staticmethod
    def parse(d: Any) -> Checkpoint:
        w = "checkpoint"
        return Checkpoint(
            execution_id=str(_req(d, "executionId", w)),
            seq=int(_req(d, "seq", w)),
            step=int(_req(d, "step", w)),
            state=d.get("state"),
            message=str(d.get("message") or ""),
            at=int(_req(d, "at", w)),
        )


@dataclass(frozen=True)
class Execution:
    id: str
    name: str
    status: str
    config: ExecutionConfig
    agent: str
    waiting_on: list[str]
    created_at: int
    updated_at: int
    checkpoint: Checkpoint | None = None
    result: Any = None
    error: str | None = None
    paused_by: dict[str, Any] | None = None

    @staticmethod
    def parse(d: Any) -> Execution:
        w = "execution"
        cp = d.get("checkpoint") if isinstance(d, dict) else None
        return Execution(
            id=str(_req(d, "id", w)),
            name=str(_req(d, "name", w)),
            status=str(_req(d, "status", w)),
            config=ExecutionConfig.parse(_req(d, "config", w)),
            agent=str(_req(d, "agent", w)),
            waiting_on=_str_list(d.get("waitingOn")),
            created_at=int(_req(d, "createdAt", w)),
            updated_at=int(_req(d, "updatedAt", w)),
            checkpoint=Checkpoint.parse(cp) if isinstance(cp, dict) else None,
            result=d.get("result"),
            error=_opt_str(d.get("error")),
            paused_by=d.get("pausedBy") if isinstance(d.get("pausedBy"), dict) else None,
        )


@dataclass(frozen=True)
class ChainStepStatus:
    name: str
    status: str
    approvers: list[str]
    min_approvals: int
    approved_by: list[str]
    deadline: int | None = None

    @staticmethod
    def parse(d: Any) -> ChainStepStatus:
        w = "chain step"
        return ChainStepStatus(
            name=str(_req(d, "name", w)),
            status=str(_req(d, "status", w)),
            approvers=_str_list(d.get("approvers")),
            min_approvals=int(_req(d, "minApprovals", w)),
            approved_by=_str_list(d.get("approvedBy")),
            deadline=_opt_int(d.get("deadline")),
        )


@dataclass(frozen=True)
class Approval:
    id: str
    execution_id: str
    title: str
    description: str
    status: str
    approved_by: list[str]
    chain_status: list[ChainStepStatus]
    chain: bool = False
    notify_via: list[str] = field(default_factory=list)
    requested_by: str = ""
    created_at: int = 0
    reason: str | None = None
    current_step: str | None = None
    deadline: int | None = None
    priority: str | None = None
    resolved_at: int | None = None
    grant_id: str | None = None
    call: dict[str, Any] | None = None

    @property
    def pending(self) -> bool:
        return self.status == PENDING

    @staticmethod
    def parse(d: Any) -> Approval:
        w = "approval"
        steps = _req(d, "chainStatus", w)
        return Approval(
            id=str(_req(d, "id", w)),
            execution_id=str(_req(d, "executionId", w)),
            title=str(_req(d, "title", w)),
            description=str(d.get("description") or ""),
            status=str(_req(d, "status", w)),
            approved_by=_str_list(_req(d, "approvedBy", w)),
            chain_status=[ChainStepStatus.parse(s) for s in steps] if isinstance(steps, list) else [],
            chain=bool(d.get("chain", False)),
            notify_via=_str_list(d.get("notifyVia")),
            requested_by=str(d.get("requestedBy") or ""),
            created_at=int(d.get("createdAt") or 0),
            reason=_opt_str(d.get("reason")),
            current_step=_opt_str(d.get("currentStep")),
            deadline=_opt_int(d.get("deadline")),
            priority=_opt_str(d.get("priority")),
            resolved_at=_opt_int(d.get("resolvedAt")),
            grant_id=_opt_str(d.get("grantId")),
            call=d.get("call") if isinstance(d.get("call"), dict) else None,
        )


@dataclass(frozen=True)
class VoteReceipt:
    counted: bool
    status: str
    step: str
    approved_by: list[str]
    approval: Approval
    reason: str | None = None

    @staticmethod
    def parse(d: Any) -> VoteReceipt:
        w = "vote receipt"
        return VoteReceipt(
            counted=bool(_req(d, "counted", w)),
            status=str(_req(d, "status", w)),
            step=str(_req(d, "step", w)),
            approved_by=_str_list(d.get("approvedBy")),
            approval=Approval.parse(_req(d, "approval", w)),
            reason=_opt_str(d.get("reason")),
        )


@dataclass(frozen=True)
class Feedback:
    """A feedback request. ``data`` holds the answers by field name once ``status`` is no
    longer ``pending`` and a reviewer submitted; it is empty before."""

    id: str
    execution_id: str
    title: str
    description: str
    status: str
    data: dict[str, Any]
    artifacts: list[dict[str, Any]]
    form: dict[str, Any]
    reviewers: list[str] = field(default_factory=list)
    notify_via: list[str] = field(default_factory=list)
    requested_by: str = ""
    submitted_by: str | None = None
    created_at: int = 0
    deadline: int | None = None
    resolved_at: int | None = None

    @property
    def pending(self) -> bool:
        return self.status == PENDING

    @staticmethod
    def parse(d: Any) -> Feedback:
        w = "feedback request"
        arts = d.get("artifacts") if isinstance(d, dict) else None
        return Feedback(
            id=str(_req(d, "id", w)),
            execution_id=str(_req(d, "executionId", w)),
            title=str(_req(d, "title", w)),
            description=str(d.get("description") or ""),
            status=str(_req(d, "status", w)),
            data=_dict(d.get("data")),
            artifacts=[_dict(a) for a in arts] if isinstance(arts, list) else [],
            form=_dict(_req(d, "form", w)),
            reviewers=_str_list(d.get("reviewers")),
            notify_via=_str_list(d.get("notifyVia")),
            requested_by=str(d.get("requestedBy") or ""),
            submitted_by=_opt_str(d.get("submittedBy")),
            created_at=int(d.get("createdAt") or 0),
            deadline=_opt_int(d.get("deadline")),
            resolved_at=_opt_int(d.get("resolvedAt")),
        )


@dataclass(frozen=True)
class EscalationDecision:
    approved: bool
    outcome: str
    reason: str
    policy_version: str
    decision: dict[str, Any]
    approval_id: str | None = None
    grant_id: str | None = None

    @staticmethod
    def parse(d: Any) -> EscalationDecision:
        w = "escalation decision"
        return EscalationDecision(
            approved=bool(_req(d, "approved", w)),
            outcome=str(_req(d, "outcome", w)),
            reason=str(_req(d, "reason", w)),
            policy_version=str(_req(d, "policyVersion", w)),
            decision=_dict(_req(d, "decision", w)),
            approval_id=_opt_str(d.get("approvalId")),
            grant_id=_opt_str(d.get("grantId")),
        )


@dataclass(frozen=True)
class Memory:
    id: str
    type: str
    content: str
    metadata: dict[str, Any]
    importance: float
    created_at: int
    execution_id: str | None = None

    @staticmethod
    def parse(d: Any) -> Memory:
        w = "memory"
        return Memory(
            id=str(_req(d, "id", w)),
            type=str(_req(d, "type", w)),
            content=str(_req(d, "content", w)),
            metadata=_dict(_req(d, "metadata", w)),
            importance=float(_req(d, "importance", w)),
            created_at=int(_req(d, "createdAt", w)),
            execution_id=_opt_str(d.get("executionId")),
        )


@dataclass(frozen=True)
class PolicyVersion:
    version: int
    name: str
    language: str
    sha256: str
    summary: str
    text: str
    principal: str | None = None

    @staticmethod
    def parse(d: Any) -> PolicyVersion:
        w = "policy version"
        return PolicyVersion(
            version=int(_req(d, "version", w)),
            name=str(d.get("name") or ""),
            language=str(d.get("language") or ""),
            sha256=str(d.get("sha256") or ""),
            summary=str(d.get("summary") or ""),
            text=str(d.get("text") or ""),
            principal=_opt_str(d.get("principal")),
        )


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: int
    kind: str
    execution_id: str | None
    principal: str | None
    detail: dict[str, Any]

    @staticmethod
    def parse(d: Any) -> AuditEntry:
        w = "audit entry"
        return AuditEntry(
            seq=int(_req(d, "seq", w)),
            at=int(_req(d, "at", w)),
            kind=str(_req(d, "kind", w)),
            execution_id=_opt_str(d.get("executionId")),
            principal=_opt_str(d.get("principal")),
            detail=_dict(d.get("detail")),
        )


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
