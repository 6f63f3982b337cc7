"""When to send a call again, and how long to wait first."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field
from typing import Callable

import httpx

# The server answers 409 `conflict` with Retry-After while the first request with the same
# Idempotency-Key still runs: sending it again then gets the kept answer.
_RETRY_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of one call: ``max_retries`` more attempts after the first, with exponential
    backoff from ``base_delay`` up to ``max_delay`` seconds (with jitter), unless the server
    says ``Retry-After``, which is honoured up to ``max_retry_after`` seconds."""

    max_retries: int = 5
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    # Seconds between attempts to reach the server again while waiting for a human: a wait
    # outlives restarts, so it keeps trying until its deadline, at most this far apart.
    wait_reconnect_delay: float = 2.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def backoff(self, attempt: int, cap: float | None = None) -> float:
        limit = self.max_delay if cap is None else cap
        d: float = min(limit, self.base_delay * (2.0**attempt))
        return d * (0.5 + random.random() / 2)


def retryable_status(resp: httpx.Response) -> bool:
    if resp.status_code in _RETRY_STATUSES or resp.status_code >= 500:
        return True
    return resp.status_code == 409 and "retry-after" in resp.headers and _code(resp) == "conflict"


def _code(resp: httpx.Response) -> str | None:
    try:
        body = resp.json()
    except ValueError:
        return None
    err = body.get("error") if isinstance(body, dict) else None
    code = err.get("code") if isinstance(err, dict) else None
    return code if isinstance(code, str) else None


def retry_after(resp: httpx.Response, policy: RetryPolicy) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), bounded."""
    raw = resp.headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    seconds: float
    if raw.isdigit():
        seconds = float(raw)
    else:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, min(seconds, policy.max_retry_after))
