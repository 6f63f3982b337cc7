"""Sending a ``Call``: authentication, one Idempotency-Key per logical call reused on every
retry, retries of connection errors, 408, 429, 5xx (and a still-running replay), typed errors."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any, TypeVar

import httpx

from ._calls import Call
from ._errors import RekallAbortedError, RekallError, RekallTimeoutError, error_from_response
from ._retry import RetryPolicy, retry_after, retryable_status

T = TypeVar("T")

USER_AGENT = "rekall-python/0.1.0"


def _headers(api_key: str, agent_id: str | None) -> dict[str, str]:
    h = {"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT, "Accept": "application/json"}
    if agent_id:
        h["X-Rekall-Agent"] = agent_id
    return h


def _read(call: Call[T], resp: httpx.Response) -> T:
    request_id = resp.headers.get("x-request-id")
    try:
        body: Any = resp.json() if resp.content else None
    except ValueError:
        body = None
    if resp.status_code >= 400:
        raise error_from_response(resp.status_code, body, request_id)
    if body is None:
        raise RekallError(
            f"{call.method} {call.path} answered {resp.status_code} without a JSON body",
            status=resp.status_code,
            code="bad_response",
            request_id=request_id,
        )
    return call.parse(body)


def _connection_error(call: Call[Any], exc: Exception) -> RekallError:
    return RekallError(
        f"{call.method} {call.path}: the server could not be reached ({type(exc).__name__}: {exc})",
        status=0,
        code="connection_error",
    )


class Deadline:
    """An optional point in monotonic time after which a wait gives up."""

    def __init__(self, seconds: float | None) -> None:
        self.at = None if seconds is None else time.monotonic() + seconds

    def remaining(self) -> float | None:
        return None if self.at is None else max(0.0, self.at - time.monotonic())

    def passed(self) -> bool:
        r = self.remaining()
        return r is not None and r <= 0


def _timeout(base: float, call: Call[Any]) -> httpx.Timeout:
    return httpx.Timeout(base + call.holds_for, connect=min(base, 10.0))


def aborted(what: str) -> RekallAbortedError:
    return RekallAbortedError(f"the wait for {what} was aborted", status=0, code="aborted")


def timed_out(what: str) -> RekallTimeoutError:
    return RekallTimeoutError(
        f"the wait for {what} reached its deadline; the request is still open",
        status=0,
        code="wait_timeout",
    )


class SyncTransport:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        agent_id: str | None,
        timeout: float,
        retry: RetryPolicy,
        http: httpx.Client | None,
    ) -> None:
        self.retry = retry
        self.timeout = timeout
        self._owns = http is None
        self.http = http or httpx.Client()
        self.base_url = base_url.rstrip("/")
        self.headers = _headers(api_key, agent_id)

    def close(self) -> None:
        if self._owns:
            self.http.close()

    def send(
        self,
        call: Call[T],
        *,
        persistent: bool = False,
        deadline: Deadline | None = None,
        abort: threading.Event | None = None,
    ) -> T:
        """One logical call. ``persistent`` retries connection errors and 5xx until the
        deadline rather than ``max_retries`` times: a wait outlives a server restart."""
        headers = dict(self.headers)
        if call.mutating:
            headers["Idempotency-Key"] = f"rkl-{uuid.uuid4().hex}"
        attempt = 0
        while True:
            delay: float
            try:
                resp = self.http.request(
                    call.method,
                    self.base_url + call.path,
                    json=call.body if call.mutating else None,
                    params=dict(call.params) if call.params else None,
                    headers=headers,
                    timeout=_timeout(self.timeout, call),
                )
            except httpx.TransportError as exc:
                delay = _next_delay(self.retry, call, attempt, persistent, deadline, exc=exc)
            else:
                if _is_answer(self.retry, resp, attempt, persistent):
                    return _read(call, resp)
                delay = _next_delay(self.retry, call, attempt, persistent, deadline, resp=resp)
            attempt += 1
            if abort is not None:
                if abort.wait(delay):
                    raise aborted(call.path)
            else:
                self.retry.sleep(delay)


def _is_answer(retry: RetryPolicy, resp: httpx.Response, attempt: int, persistent: bool) -> bool:
    """Whether ``resp`` is the call's answer: not retryable, or the retries are spent."""
    return not retryable_status(resp) or (not persistent and attempt >= retry.max_retries)


def _next_delay(
    retry: RetryPolicy,
    call: Call[Any],
    attempt: int,
    persistent: bool,
    deadline: Deadline | None,
    *,
    exc: httpx.TransportError | None = None,
    resp: httpx.Response | None = None,
) -> float:
    """The wait before the next attempt after a connection error ``exc`` or a retryable
    ``resp``, within the deadline; raises when the retries or the time are spent."""
    if exc is not None:
        if not persistent and attempt >= retry.max_retries:
            raise _connection_error(call, exc) from exc
        delay = retry.backoff(attempt, retry.wait_reconnect_delay if persistent else None)
    else:
        ra = retry_after(resp, retry) if resp is not None else None
        delay = ra if ra is not None else retry.backoff(attempt)
    if deadline is not None:
        remaining = deadline.remaining()
        if remaining is not None:
            if remaining <= 0:
                raise timed_out(call.path)
            delay = min(delay, remaining)
    return delay


class AsyncTransport:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        agent_id: str | None,
        timeout: float,
        retry: RetryPolicy,
        http: httpx.AsyncClient | None,
    ) -> None:
        self.retry = retry
        self.timeout = timeout
        self._owns = http is None
        self.http = http or httpx.AsyncClient()
        self.base_url = base_url.rstrip("/")
        self.headers = _headers(api_key, agent_id)

    async def aclose(self) -> None:
        if self._owns:
            await self.http.aclose()

    async def _sleep(self, delay: float, abort: asyncio.Event | None, what: str) -> None:
        if abort is None:
            if self.retry.sleep is time.sleep:
                await asyncio.sleep(delay)
            else:
                self.retry.sleep(delay)
            return
        try:
            await asyncio.wait_for(abort.wait(), delay)
        except asyncio.TimeoutError:
            return
        raise aborted(what)

    async def _request(
        self, call: Call[Any], headers: dict[str, str], abort: asyncio.Event | None
    ) -> httpx.Response:
        req = self.http.request(
            call.method,
            self.base_url + call.path,
            json=call.body if call.mutating else None,
            params=dict(call.params) if call.params else None,
            headers=headers,
            timeout=_timeout(self.timeout, call),
        )
        if abort is None:
            return await req
        task = asyncio.ensure_future(req)
        stop = asyncio.ensure_future(abort.wait())
        done, _ = await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            stop.cancel()
            return task.result()
        task.cancel()
        raise aborted(call.path)

    async def send(
        self,
        call: Call[T],
        *,
        persistent: bool = False,
        deadline: Deadline | None = None,
        abort: asyncio.Event | None = None,
    ) -> T:
        headers = dict(self.headers)
        if call.mutating:
            headers["Idempotency-Key"] = f"rkl-{uuid.uuid4().hex}"
        attempt = 0
        while True:
            delay: float
            try:
                resp = await self._request(call, headers, abort)
            except httpx.TransportError as exc:
                delay = _next_delay(self.retry, call, attempt, persistent, deadline, exc=exc)
            else:
                if _is_answer(self.retry, resp, attempt, persistent):
                    return _read(call, resp)
                delay = _next_delay(self.retry, call, attempt, persistent, deadline, resp=resp)
            attempt += 1
            await self._sleep(delay, abort, call.path)
