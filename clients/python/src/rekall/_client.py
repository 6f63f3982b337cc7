"""The synchronous client: ``Rekall(api_key=..., base_url=...)``."""

from __future__ import annotations

import threading
from typing import Any, Callable, Mapping, Sequence, TypeVar

import httpx

from . import _calls as c
from ._calls import Duration
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
from ._errors import RekallError
from ._retry import RetryPolicy
from ._transport import Deadline, SyncTransport, aborted, timed_out

R = TypeVar("R", Approval, Feedback)

# The longest a single long poll is held; the server allows up to 60 s.
LONG_POLL_SECONDS = 30.0
# With an abort event, a long poll is held this long at most, so that the event is seen soon.
ABORTABLE_POLL_SECONDS = 1.0


class _Waiter:
    def __init__(self, t: SyncTransport) -> None:
        self._t = t
        # Shortened when a server's `limits.maxWait` is under the long poll (422 on `wait`).
        self._longest = LONG_POLL_SECONDS

    def approval(
        self, approval_id: str, wait_timeout: float | None, abort: threading.Event | None
    ) -> Approval:
        return self._until_resolved(
            lambda hold: c.get_approval(approval_id, hold), f"approval {approval_id}", wait_timeout, abort
        )

    def feedback(
        self, feedback_id: str, wait_timeout: float | None, abort: threading.Event | None
    ) -> Feedback:
        return self._until_resolved(
            lambda hold: c.get_feedback(feedback_id, hold), f"feedback {feedback_id}", wait_timeout, abort
        )

    def _until_resolved(
        self,
        get: Callable[[float | None], c.Call[R]],
        what: str,
        wait_timeout: float | None,
        abort: threading.Event | None,
    ) -> R:
        deadline = Deadline(wait_timeout)
        while True:
            hold = self._hold(deadline, abort, what)
            try:
                got = self._t.send(get(hold), persistent=True, deadline=deadline, abort=abort)
            except RekallError as e:
                if not _shorter_wait(e, hold):
                    raise
                self._longest = max(1.0, (hold or 1.0) / 2)
                continue
            if not got.pending:
                return got

    def _hold(self, deadline: Deadline, abort: threading.Event | None, what: str) -> float | None:
        if abort is not None and abort.is_set():
            raise aborted(what)
        remaining = deadline.remaining()
        if remaining is not None and remaining <= 0:
            raise timed_out(what)
        hold = self._longest if abort is None else min(self._longest, ABORTABLE_POLL_SECONDS)
        if remaining is not None:
            hold = min(hold, remaining)
        # The server's wait is in whole seconds; under one, ask for the state as it is.
        return hold if hold >= 1 else None


class ExecutionApi:
    """``rekall.execution.*`` of the product document, in snake_case."""

    def __init__(self, t: SyncTransport) -> None:
        self._t = t
        self._wait = _Waiter(t)

    def create(self, *, name: str, config: Mapping[str, Any] | None = None) -> Execution:
        return self._t.send(c.create_execution(name, config))

    def get(self, execution_id: str) -> Execution:
        return self._t.send(c.get_execution(execution_id))

    def list(self, *, status: str | None = None, cursor: str | None = None) -> Page[Execution]:
        return self._t.send(c.list_executions(status, cursor))

    def start(self, *, execution_id: str) -> Execution:
        return self._t.send(c.transition(execution_id, "start", {}))

    def pause(self, *, execution_id: str) -> Execution:
        return self._t.send(c.transition(execution_id, "pause", {}))

    def resume(self, *, execution_id: str) -> Execution:
        return self._t.send(c.transition(execution_id, "resume", {}))

    def cancel(self, *, execution_id: str, reason: str | None = None) -> Execution:
        body = {"reason": reason} if reason is not None else {}
        return self._t.send(c.transition(execution_id, "cancel", body))

    def checkpoint(
        self, *, execution_id: str, step: int, state: Any = None, message: str | None = None
    ) -> Checkpoint:
        return self._t.send(c.checkpoint(execution_id, step, state, message))

    def complete(self, *, execution_id: str, result: Any = None) -> Execution:
        return self._t.send(c.complete(execution_id, result))

    def fail(self, *, execution_id: str, error: str) -> Execution:
        return self._t.send(c.fail(execution_id, error))

    def check_escalation(
        self,
        *,
        execution_id: str,
        action: str,
        resource: str | None = None,
        confidence: float | None = None,
        context: Any = None,
    ) -> EscalationDecision:
        return self._t.send(c.check_escalation(execution_id, action, resource, confidence, context))

    def open_approval(
        self,
        *,
        execution_id: str,
        title: str,
        description: str | None = None,
        approvers: Sequence[str] | None = None,
        min_approvals: int | None = None,
        timeout: Duration | None = None,
        notify_via: Sequence[str] | None = None,
        priority: str | None = None,
        chain: Sequence[Mapping[str, Any]] | None = None,
    ) -> Approval:
        """Opens an approval request and returns it pending, without waiting."""
        return self._t.send(
            c.open_approval(
                execution_id,
                title=title,
                description=description,
                approvers=approvers,
                min_approvals=min_approvals,
                timeout=timeout,
                notify_via=notify_via,
                priority=priority,
                chain=chain,
            )
        )

    def request_approval(
        self,
        *,
        execution_id: str,
        title: str,
        description: str | None = None,
        approvers: Sequence[str] | None = None,
        min_approvals: int | None = None,
        timeout: Duration | None = None,
        notify_via: Sequence[str] | None = None,
        priority: str | None = None,
        chain: Sequence[Mapping[str, Any]] | None = None,
        wait_timeout: float | None = None,
        abort: threading.Event | None = None,
    ) -> Approval:
        """Opens an approval request and returns once it is resolved (approved, rejected,
        timed out or cancelled), long-polling the server across restarts and lost connections.
        ``wait_timeout`` (seconds, client side) raises ``RekallTimeoutError``; setting
        ``abort`` raises ``RekallAbortedError``; the request stays open in both cases."""
        opened = self.open_approval(
            execution_id=execution_id,
            title=title,
            description=description,
            approvers=approvers,
            min_approvals=min_approvals,
            timeout=timeout,
            notify_via=notify_via,
            priority=priority,
            chain=chain,
        )
        if not opened.pending:
            return opened
        return self._wait.approval(opened.id, wait_timeout, abort)

    def wait_for_approval(
        self, approval_id: str, *, wait_timeout: float | None = None, abort: threading.Event | None = None
    ) -> Approval:
        return self._wait.approval(approval_id, wait_timeout, abort)

    def open_feedback(
        self,
        *,
        execution_id: str,
        title: str,
        form: Mapping[str, Any],
        description: str | None = None,
        artifacts: Sequence[Mapping[str, Any]] | None = None,
        reviewers: Sequence[str] | None = None,
        notify_via: Sequence[str] | None = None,
        timeout: Duration | None = None,
    ) -> Feedback:
        return self._t.send(
            c.open_feedback(
                execution_id,
                title=title,
                form=form,
                description=description,
                artifacts=artifacts,
                reviewers=reviewers,
                notify_via=notify_via,
                timeout=timeout,
            )
        )

    def request_feedback(
        self,
        *,
        execution_id: str,
        title: str,
        form: Mapping[str, Any],
        description: str | None = None,
        artifacts: Sequence[Mapping[str, Any]] | None = None,
        reviewers: Sequence[str] | None = None,
        notify_via: Sequence[str] | None = None,
        timeout: Duration | None = None,
        wait_timeout: float | None = None,
        abort: threading.Event | None = None,
    ) -> Feedback:
        """Opens a feedback request and returns once a reviewer answered (or it timed out or
        was cancelled); ``feedback.data`` holds the answers by field name."""
        opened = self.open_feedback(
            execution_id=execution_id,
            title=title,
            form=form,
            description=description,
            artifacts=artifacts,
            reviewers=reviewers,
            notify_via=notify_via,
            timeout=timeout,
        )
        if not opened.pending:
            return opened
        return self._wait.feedback(opened.id, wait_timeout, abort)

    def wait_for_feedback(
        self, feedback_id: str, *, wait_timeout: float | None = None, abort: threading.Event | None = None
    ) -> Feedback:
        return self._wait.feedback(feedback_id, wait_timeout, abort)

    def set_hitl_policy(self, *, rules: Sequence[Mapping[str, Any]]) -> PolicyVersion:
        return self._t.send(c.set_policy_rules("hitl", rules))

    def set_escalation_policy(self, *, rules: Sequence[Mapping[str, Any]]) -> PolicyVersion:
        return self._t.send(c.set_policy_rules("escalation", rules))


class ApprovalsApi:
    """The approver's side: the queue, and votes as the token's principal."""

    def __init__(self, t: SyncTransport) -> None:
        self._t = t

    def list(
        self,
        *,
        status: str | None = "pending",
        execution_id: str | None = None,
        cursor: str | None = None,
    ) -> Page[Approval]:
        return self._t.send(c.list_approvals(status, execution_id, cursor))

    def get(self, approval_id: str) -> Approval:
        return self._t.send(c.get_approval(approval_id))

    def approve(self, approval_id: str, *, comment: str | None = None) -> VoteReceipt:
        return self._t.send(c.vote(approval_id, "approve", "comment", comment))

    def reject(self, approval_id: str, *, reason: str | None = None) -> VoteReceipt:
        return self._t.send(c.vote(approval_id, "reject", "reason", reason))


class FeedbackApi:
    def __init__(self, t: SyncTransport) -> None:
        self._t = t

    def list(self, *, status: str | None = "pending", cursor: str | None = None) -> Page[Feedback]:
        return self._t.send(c.list_feedback(status, cursor))

    def get(self, feedback_id: str) -> Feedback:
        return self._t.send(c.get_feedback(feedback_id))

    def submit(self, feedback_id: str, *, data: Mapping[str, Any]) -> Feedback:
        return self._t.send(c.submit_feedback(feedback_id, data))


class MemoriesApi:
    def __init__(self, t: SyncTransport) -> None:
        self._t = t

    def create(
        self,
        *,
        content: str,
        type: str = "episodic",
        metadata: Mapping[str, Any] | None = None,
        importance: float | None = None,
        execution_id: str | None = None,
    ) -> Memory:
        return self._t.send(c.create_memory(content, type, metadata, importance, execution_id))

    def list(
        self, *, tag: str | None = None, execution_id: str | None = None, cursor: str | None = None
    ) -> Page[Memory]:
        return self._t.send(c.list_memories(tag, execution_id, cursor))


class PolicyApi:
    def __init__(self, t: SyncTransport) -> None:
        self._t = t

    def get(self) -> PolicyVersion:
        return self._t.send(c.get_policy())

    def decide(
        self,
        *,
        action: str,
        resource: str | None = None,
        confidence: float | None = None,
        context: Any = None,
    ) -> dict[str, Any]:
        return self._t.send(c.decide(action, resource, confidence, context))


class AuditApi:
    def __init__(self, t: SyncTransport) -> None:
        self._t = t

    def list(self, *, execution_id: str | None = None, after: int | None = None) -> Page[AuditEntry]:
        """Audit entries in order (admin, or an agent for its own executions), after ``after``."""
        return self._t.send(c.list_audit(execution_id, after))


class Rekall:
    """A client of ``rekall-policy serve``.

    ``api_key`` is the bearer token (its principal is who calls); ``agent_id`` is an instance
    name recorded with the audit entries (``X-Rekall-Agent``); ``timeout`` is seconds per
    HTTP request (a long poll adds its hold to it).
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = "http://127.0.0.1:8080",
        agent_id: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._t = SyncTransport(base_url, api_key, agent_id, timeout, retry or RetryPolicy(), http_client)
        self.execution = ExecutionApi(self._t)
        self.approvals = ApprovalsApi(self._t)
        self.feedback = FeedbackApi(self._t)
        self.memories = MemoriesApi(self._t)
        self.policy = PolicyApi(self._t)
        self.audit = AuditApi(self._t)

    def close(self) -> None:
        self._t.close()

    def __enter__(self) -> Rekall:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _shorter_wait(e: RekallError, hold: float | None) -> bool:
    """The server refused the long poll's length (its `limits.maxWait` is shorter)."""
    return e.status == 422 and e.field == "wait" and hold is not None and hold > 1
