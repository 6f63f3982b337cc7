"""Each call of the API once, as data: method, path, body and how to read the answer.

The sync and async clients send the same ``Call``; only the I/O differs. Keyword arguments
are snake_case and so are the keys of the contract's nested objects (``config``, ``chain``,
policy ``rules``, ``artifacts``, form ``fields``): those keys are turned into the wire's
camelCase. Free-form values the caller owns (``state``, ``result``, ``context``,
``metadata``, feedback ``data``) are sent exactly as given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, Mapping, Sequence, TypeVar
from urllib.parse import quote

from ._models import (
    Approval,
    AuditEntry,
    Checkpoint,
    EscalationDecision,
    Execution,
    Feedback,
    Memory,
    Page,
    PolicyVersion,
    VoteReceipt,
)

T = TypeVar("T")
Duration = int | str
"""Milliseconds (the product document's ``timeout=3600000``) or a duration such as ``"1h"``."""

_UNSET: Any = object()


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[Any], T]
    body: Any = None
    params: Mapping[str, str] | None = None
    # Seconds the server may hold the answer (a long poll), added to the read timeout.
    holds_for: float = 0.0

    @property
    def mutating(self) -> bool:
        return self.method != "GET"


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def camel_keys(d: Mapping[str, Any]) -> dict[str, Any]:
    return {camel(k): v for k, v in d.items()}


def _seg(s: str) -> str:
    return quote(s, safe="")


def _body(**fields: Any) -> dict[str, Any]:
    """The given fields in camelCase, leaving out those not given."""
    return {camel(k): v for k, v in fields.items() if v is not _UNSET}


def _page(parse: Callable[[Any], T]) -> Callable[[Any], Page[T]]:
    def read(d: Any) -> Page[T]:
        items = d.get("items") if isinstance(d, dict) else None
        cursor = d.get("nextCursor") if isinstance(d, dict) else None
        return Page(
            items=[parse(i) for i in items] if isinstance(items, list) else [],
            next_cursor=cursor if isinstance(cursor, str) else None,
        )

    return read


def _params(**given: str | None) -> dict[str, str]:
    return {camel(k): v for k, v in given.items() if v is not None}


def wait_param(seconds: float) -> str:
    return f"{max(1, int(seconds))}s"


# --- executions ---------------------------------------------------------------------------


def create_execution(name: str, config: Mapping[str, Any] | None) -> Call[Execution]:
    body = _body(name=name, config=camel_keys(config) if config is not None else _UNSET)
    return Call("POST", "/v1/executions", Execution.parse, body)


def get_execution(execution_id: str) -> Call[Execution]:
    return Call("GET", f"/v1/executions/{_seg(execution_id)}", Execution.parse)


def list_executions(status: str | None, cursor: str | None) -> Call[Page[Execution]]:
    return Call(
        "GET", "/v1/executions", _page(Execution.parse), params=_params(status=status, cursor=cursor)
    )


def transition(execution_id: str, verb: str, body: dict[str, Any]) -> Call[Execution]:
    return Call("POST", f"/v1/executions/{_seg(execution_id)}/{verb}", Execution.parse, body)


def checkpoint(execution_id: str, step: int, state: Any, message: str | None) -> Call[Checkpoint]:
    body = _body(
        step=step,
        state=_UNSET if state is None else state,
        message=_UNSET if message is None else message,
    )
    return Call("POST", f"/v1/executions/{_seg(execution_id)}/checkpoint", Checkpoint.parse, body)


def complete(execution_id: str, result: Any) -> Call[Execution]:
    return transition(execution_id, "complete", _body(result=_UNSET if result is None else result))


def fail(execution_id: str, error: str) -> Call[Execution]:
    return transition(execution_id, "fail", {"error": error})


def check_escalation(
    execution_id: str,
    action: str,
    resource: str | None,
    confidence: float | None,
    context: Any,
) -> Call[EscalationDecision]:
    body = _body(
        action=action,
        resource=_UNSET if resource is None else resource,
        confidence=_UNSET if confidence is None else confidence,
        context=_UNSET if context is None else context,
    )
    return Call(
        "POST",
        f"/v1/executions/{_seg(execution_id)}/escalation-check",
        EscalationDecision.parse,
        body,
    )


def open_approval(
    execution_id: str,
    *,
    title: str,
    description: str | None,
    approvers: Sequence[str] | None,
    min_approvals: int | None,
    timeout: Duration | None,
    notify_via: Sequence[str] | None,
    priority: str | None,
    chain: Sequence[Mapping[str, Any]] | None,
) -> Call[Approval]:
    def opt(v: Any) -> Any:
        return _UNSET if v is None else v

    body = _body(
        title=title,
        description=opt(description),
        approvers=opt(list(approvers) if approvers is not None else None),
        min_approvals=opt(min_approvals),
        timeout=opt(timeout),
        notify_via=opt(list(notify_via) if notify_via is not None else None),
        priority=opt(priority),
        chain=opt([camel_keys(s) for s in chain] if chain is not None else None),
    )
    return Call("POST", f"/v1/executions/{_seg(execution_id)}/approvals", Approval.parse, body)


def open_feedback(
    execution_id: str,
    *,
    title: str,
    form: Mapping[str, Any],
    description: str | None,
    artifacts: Sequence[Mapping[str, Any]] | None,
    reviewers: Sequence[str] | None,
    notify_via: Sequence[str] | None,
    timeout: Duration | None,
) -> Call[Feedback]:
    def opt(v: Any) -> Any:
        return _UNSET if v is None else v

    wire_form = camel_keys(form)
    if isinstance(wire_form.get("fields"), list):
        wire_form["fields"] = [camel_keys(f) for f in wire_form["fields"]]
    body = _body(
        title=title,
        description=opt(description),
        artifacts=opt([camel_keys(a) for a in artifacts] if artifacts is not None else None),
        form=wire_form,
        reviewers=opt(list(reviewers) if reviewers is not None else None),
        notify_via=opt(list(notify_via) if notify_via is not None else None),
        timeout=opt(timeout),
    )
    return Call("POST", f"/v1/executions/{_seg(execution_id)}/feedback", Feedback.parse, body)


# --- approvals and feedback: the approver's side and the agent's wait ----------------------


def list_approvals(
    status: str | None, execution_id: str | None, cursor: str | None
) -> Call[Page[Approval]]:
    return Call(
        "GET",
        "/v1/approvals",
        _page(Approval.parse),
        params=_params(status=status, execution_id=execution_id, cursor=cursor),
    )


def get_approval(approval_id: str, wait: float | None = None) -> Call[Approval]:
    params = {"wait": wait_param(wait)} if wait else None
    return Call(
        "GET", f"/v1/approvals/{_seg(approval_id)}", Approval.parse, params=params, holds_for=wait or 0.0
    )


def vote(approval_id: str, verb: str, text_key: str, text: str | None) -> Call[VoteReceipt]:
    body = {text_key: text} if text is not None else {}
    return Call("POST", f"/v1/approvals/{_seg(approval_id)}/{verb}", VoteReceipt.parse, body)


def list_feedback(status: str | None, cursor: str | None) -> Call[Page[Feedback]]:
    return Call(
        "GET", "/v1/feedback", _page(Feedback.parse), params=_params(status=status, cursor=cursor)
    )


def get_feedback(feedback_id: str, wait: float | None = None) -> Call[Feedback]:
    params = {"wait": wait_param(wait)} if wait else None
    return Call(
        "GET", f"/v1/feedback/{_seg(feedback_id)}", Feedback.parse, params=params, holds_for=wait or 0.0
    )


def submit_feedback(feedback_id: str, data: Mapping[str, Any]) -> Call[Feedback]:
    return Call("POST", f"/v1/feedback/{_seg(feedback_id)}/submit", Feedback.parse, {"data": dict(data)})


# --- memories and policy --------------------------------------------------------------------


def create_memory(
    content: str,
    type: str,
    metadata: Mapping[str, Any] | None,
    importance: float | None,
    execution_id: str | None,
) -> Call[Memory]:
    body = _body(
        type=type,
        content=content,
        metadata=_UNSET if metadata is None else dict(metadata),
        importance=_UNSET if importance is None else importance,
        execution_id=_UNSET if execution_id is None else execution_id,
    )
    return Call("POST", "/v1/memories", Memory.parse, body)


def list_memories(tag: str | None, execution_id: str | None, cursor: str | None) -> Call[Page[Memory]]:
    return Call(
        "GET",
        "/v1/memories",
        _page(Memory.parse),
        params=_params(tag=tag, execution_id=execution_id, cursor=cursor),
    )


def set_policy_rules(section: str, rules: Sequence[Mapping[str, Any]]) -> Call[PolicyVersion]:
    return Call(
        "PUT", f"/v1/policy/{section}", PolicyVersion.parse, {"rules": [camel_keys(r) for r in rules]}
    )


def get_policy() -> Call[PolicyVersion]:
    return Call("GET", "/v1/policy", PolicyVersion.parse)


def decide(action: str, resource: str | None, confidence: float | None, context: Any) -> Call[dict[str, Any]]:
    body = _body(
        action=action,
        resource=_UNSET if resource is None else resource,
        confidence=_UNSET if confidence is None else confidence,
        context=_UNSET if context is None else context,
    )
    return Call("POST", "/v1/decide", lambda d: dict(d) if isinstance(d, dict) else {}, body)


def list_audit(execution_id: str | None, after: int | None) -> Call[Page[AuditEntry]]:
    return Call(
        "GET",
        "/v1/audit",
        _page(AuditEntry.parse),
        params=_params(execution_id=execution_id, after=None if after is None else str(after)),
    )
