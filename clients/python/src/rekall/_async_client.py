"""The asynchronous client: ``AsyncRekall(api_key=..., base_url=...)``, the same calls as
``Rekall`` awaited. A wait stops at once on task cancellation or when ``abort`` is set."""

from __future__ import annotations

import asyncio
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
from ._transport import Deadline, AsyncTransport, aborted, timed_out

R = TypeVar("R", Approval, Feedback)

# The longest a single long poll is held; the server allows up to 60 s.
LONG_POLL_SECONDS = 30.0


class _AsyncWaiter:
    def __init__(self, t: AsyncTransport) -> None:
        self._t = t
        # Shortened when a server's `limits.maxWait` is under the long poll (422 on `wait`).
        self._longest = LONG_POLL_SECONDS

    async def approval(
        self, approval_id: str, wait_timeout: float | None, abort: asyncio.Event | None
    ) -> Approval:
        return await self._until_resolved(
            lambda hold: c.get_approval(approval_id, hold), f"approval {approval_id}", wait_timeout, abort
        )

    async def feedback(
        self, feedback_id: str, wait_timeout: float | None, abort: asyncio.Event | None
    ) -> Feedback:
        return await self._until_resolved(
            lambda hold: c.get_feedback(feedback_id, hold), f"feedback {feedback_id}", wait_timeout, abort
        )

    async def _until_resolved(
        self,
        get: Callable[[float | None], c.Call[R]],
        what: str,
        wait_timeout: float | None,
        abort: asyncio.Event | None,
    ) -> R:
        deadline = Deadline(wait_timeout)
        while True:
            hold = self._hold(deadline, abort, what)
            try:
                got = await self._t.send(get(hold), persistent=True, deadline=deadline, abort=abort)
            except RekallError as e:
                if not _shorter_wait(e, hold):
                    raise
                self._longest = max(1.0, (hold or 1.0) / 2)
                continue
            if not got.pending:
                return got

    def _hold(self, deadline: Deadline, abort: asyncio.Event | None, what: str) -> float | None:
        if abort is not None and abort.is_set():
            raise aborted(what)
        remaining = deadline.remaining()
        if remaining is not None and remaining <= 0:
            raise timed_out(what)
        hold = self._longest
        if remaining is not None:
            hold = min(hold, remaining)
        # The server's wait is in whole seconds; under one, ask for the state as it is.
        return hold if hold >= 1 else None


class AsyncExecutionApi:
    """``rekall.execution.*`` of the product document, in snake_case."""

    def __init__(self, t: AsyncTransport) -> None:
        self._t = t
        self._wait = _AsyncWaiter(t)

    async def create(self, *, name: str, config: Mapping[str, Any] | None = None) -> Execution:
        return await self._t.send(c.create_execution(name, config))

    async def get(self, execution_id: str) -> Execution:
        return await self._t.send(c.get_execution(execution_id))

    async def list(self, *, status: str | None = None, cursor: str | None = None) -> Page[Execution]:
        return await self._t.send(c.list_executions(status, cursor))

    async def start(self, *, execution_id: str) -> Execution:
        return await self._t.send(c.transition(execution_id, "start", {}))

    async def pause(self, *, execution_id: str) -> Execution:
        return await self._t.send(c.transition(execution_id, "pause", {}))

    async def resume(self, *, execution_id: str) -> Execution:
        return await self._t.send(c.transition(execution_id, "resume", {}))

    async def cancel(self, *, execution_id: str, reason: str | None = None) -> Execution:
        body = {"reason": reason} if reason is not None else {}
        return await self._t.send(c.transition(execution_id, "cancel", body))

    async def checkpoint(
        self, *, execution_id: str, step: int, state: Any = None, message: str | None = None
    ) -> Checkpoint:
        return await self._t.send(c.checkpoint(execution_id, step, state, message))

    async def complete(self, *, execution_id: str, result: Any = None) -> Execution:
        return await self._t.send(c.complete(execution_id, result))

    async def fail(self, *, execution_id: str, error: str) -> Execution:
        return await self._t.send(c.fail(execution_id, error))

    async def check_escalation(
        self,
        *,
        execution_id: str,
        action: str,
        resource: str | None = None,
        confidence: float | None = None,
        context: Any = None,
    ) -> EscalationDecision:
        return await self._t.send(c.check_escalation(execution_id, action, resource, confidence, context))

    async def open_approval(
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
        return await self._t.send(
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

    async def request_approval(
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
        abort: asyncio.Event | None = None,
    ) -> Approval:
        """Opens an approval request and returns once it is resolved (approved, rejected,
        timed out or cancelled), long-polling the server across restarts and lost connections.
        ``wait_timeout`` (seconds, client side) raises ``RekallTimeoutError``; setting
        ``abort`` raises ``RekallAbortedError``; the request stays open in both cases."""
        opened = await self.open_approval(
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
        return await self._wait.approval(opened.id, wait_timeout, abort)

    async def wait_for_approval(
        self, approval_id: str, *, wait_timeout: float | None = None, abort: asyncio.Event | None = None
    ) -> Approval:
        return await self._wait.approval(approval_id, wait_timeout, abort)

    async def open_feedback(
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
        return await self._t.send(
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

    async def request_feedback(
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
        abort: asyncio.Event | None = None,
    ) -> Feedback:
        """Opens a feedback request and returns once a reviewer answered (or it timed out or
        was cancelled); ``feedback.data`` holds the answers by field name."""
        opened = await self.open_feedback(
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
        return await self._wait.feedback(opened.id, wait_timeout, abort)

    async def wait_for_feedback(
        self, feedback_id: str, *, wait_timeout: float | None = None, abort: asyncio.Event | None = None
    ) -> Feedback:
        return await self._wait.feedback(feedback_id, wait_timeout, abort)

    async def set_hitl_policy(self, *, rules: Sequence[Mapping[str, Any]]) -> PolicyVersion:
        return await self._t.send(c.set_policy_rules("hitl", rules))

    async def set_escalation_policy(self, *, rules: Sequence[Mapping[str, Any]]) -> PolicyVersion:
        return await self._t.send(c.set_policy_rules("escalation", rules))


class AsyncApprovalsApi:
    """The approver's side: the queue, and votes as the token's principal."""

    def __init__(self, t: AsyncTransport) -> None:
        self._t = t

    async def list(
        self,
        *,
        status: str | None = "pending",
        execution_id: str | None = None,
        cursor: str | None = None,
    ) -> Page[Approval]:
        return await self._t.send(c.list_approvals(status, execution_id, cursor))

    async def get(self, approval_id: str) -> Approval:
        return await self._t.send(c.get_approval(approval_id))

    async def approve(self, approval_id: str, *, comment: str | None = None) -> VoteReceipt:
        return await self._t.send(c.vote(approval_id, "approve", "comment", comment))

    async def reject(self, approval_id: str, *, reason: str | None = None) -> VoteReceipt:
        return await self._t.send(c.vote(approval_id, "reject", "reason", reason))


class AsyncFeedbackApi:
    def __init__(self, t: AsyncTransport) -> None:
        self._t = t

    async def list(self, *, status: str | None = "pending", cursor: str | None = None) -> Page[Feedback]:
        return await self._t.send(c.list_feedback(status, cursor))

    async def get(self, feedback_id: str) -> Feedback:
        return await self._t.send(c.get_feedback(feedback_id))

    async def submit(self, feedback_id: str, *, data: Mapping[str, Any]) -> Feedback:
        return await self._t.send(c.submit_feedback(feedback_id, data))


class AsyncMemoriesApi:
    def __init__(self, t: AsyncTransport) -> None:
        self._t = t

    async def create(
        self,
        *,
        content: str,
        type: str = "episodic",
        metadata: Mapping[str, Any] | None = None,
        importance: float | None = None,
        execution_id: str | None = None,
    ) -> Memory:
        return await self._t.send(c.create_memory(content, type, metadata, importance, execution_id))

    async def list(
        self, *, tag: str | None = None, execution_id: str | None = None, cursor: str | None = None
    ) -> Page[Memory]:
        return await self._t.send(c.list_memories(tag, execution_id, cursor))


class AsyncPolicyApi:
    def __init__(self, t: AsyncTransport) -> None:
        self._t = t

    async def get(self) -> PolicyVersion:
        return await self._t.send(c.get_policy())

    async def decide(
        self,
        *,
        action: str,
        resource: str | None = None,
        confidence: float | None = None,
        context: Any = None,
    ) -> dict[str, Any]:
        return await self._t.send(c.decide(action, resource, confidence, context))


class AsyncAuditApi:
    def __init__(self, t: AsyncTransport) -> None:
        self._t = t

    async def list(self, *, execution_id: str | None = None, after: int | None = None) -> Page[AuditEntry]:
        """Audit entries in order (admin, or an agent for its own executions), after ``after``."""
        return await self._t.send(c.list_audit(execution_id, after))


class AsyncRekall:
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
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._t = AsyncTransport(base_url, api_key, agent_id, timeout, retry or RetryPolicy(), http_client)
        self.execution = AsyncExecutionApi(self._t)
        self.approvals = AsyncApprovalsApi(self._t)
        self.feedback = AsyncFeedbackApi(self._t)
        self.memories = AsyncMemoriesApi(self._t)
        self.policy = AsyncPolicyApi(self._t)
        self.audit = AsyncAuditApi(self._t)

    async def aclose(self) -> None:
        await self._t.aclose()

    async def __aenter__(self) -> AsyncRekall:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _shorter_wait(e: RekallError, hold: float | None) -> bool:
    """The server refused the long poll's length (its `limits.maxWait` is shorter)."""
    return e.status == 422 and e.field == "wait" and hold is not None and hold > 1
