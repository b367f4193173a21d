"""The one error type of the HTTP layer: it becomes `{"error": ..., "field": ...}` + a status."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers or {}


def body_too_large(limit_bytes: int) -> str:
    """The 413 sentence, the same whether the app or the HTTP server refuses the body."""
    return f"The request body is larger than the {limit_bytes / 2**20:g} MB limit."
