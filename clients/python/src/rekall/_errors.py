"""Errors raised by the client: one type, carrying the server's error body."""

from __future__ import annotations

from typing import Any


class RekallError(Exception):
    """An answer of the server that is not a success, or a call that could not be made.

    ``status`` is the HTTP status (0 when no answer came), ``code`` the contract's snake_case
    code (``unauthenticated``, ``forbidden``, ``invalid_transition``, ``invalid_field``, ...),
    ``field`` the JSON path of the one field at fault, when the server names one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str,
        field: str | None = None,
        request_id: str | None = None,
        diagnostics: list[dict[str, Any]] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.field = field
        self.request_id = request_id
        self.diagnostics = diagnostics or []
        self.body = body

    def __str__(self) -> str:
        where = f" (field {self.field})" if self.field else ""
        return f"{self.status} {self.code}: {self.message}{where}"


class RekallTimeoutError(RekallError):
    """A wait for a human's answer reached the caller's deadline; the request is still open."""


class RekallAbortedError(RekallError):
    """A wait was stopped by the caller's abort signal; the request is still open."""


def error_from_response(status: int, body: Any, request_id: str | None) -> RekallError:
    detail = body.get("error") if isinstance(body, dict) else None
    if isinstance(detail, dict):
        diagnostics = detail.get("diagnostics")
        return RekallError(
            str(detail.get("message", "")),
            status=status,
            code=str(detail.get("code", "unknown")),
            field=detail.get("field") if isinstance(detail.get("field"), str) else None,
            request_id=request_id,
            diagnostics=diagnostics if isinstance(diagnostics, list) else None,
            body=body,
        )
    return RekallError(
        f"the server answered {status} without an error body",
        status=status,
        code="http_error",
        request_id=request_id,
        body=body,
    )
