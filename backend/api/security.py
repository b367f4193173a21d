"""Who may talk to the server: bearer token, loopback Host names, web origins, CORS.

A loopback server is reachable by every web page the user's browser opens, so besides the
token we refuse foreign ``Origin`` headers and, on loopback, any ``Host`` that is not a loopback
name (a DNS-rebinding page sends its own host name).
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlsplit

from flask import Flask, Response, request

from sketchify.backend.api.errors import ApiError

_CORS_HEADERS = {
    "Access-Control-Allow-Methods": "GET, POST, DELETE",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Idempotency-Key",
    "Access-Control-Max-Age": "600",
}


def is_loopback(host: str) -> bool:
    """True for localhost names and loopback IPs (with or without IPv6 brackets)."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hostname(netloc: str) -> str:
    """'example.org:8765' -> 'example.org', '[::1]:8765' -> '::1'."""
    return urlsplit(f"//{netloc}").hostname or ""


def _is_cors_origin(origin: str, cors_origin: str | None) -> bool:
    return cors_origin is not None and origin.rstrip("/").lower() == cors_origin.rstrip("/").lower()


def _origin_allowed(origin: str, cors_origin: str | None) -> bool:
    if _is_cors_origin(origin, cors_origin):
        return True
    # Same origin as the request: only possible from a page this server itself served.
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == request.host.lower()


def _check_token(token: str) -> None:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        raise ApiError(
            401,
            "A valid 'Authorization: Bearer <token>' header is required.",
            None,
            {"WWW-Authenticate": 'Bearer realm="sketchify"'},
        )


def install_guards(
    app: Flask,
    *,
    token: str | None,
    cors_origin: str | None,
    loopback_only: bool,
    public_blueprints: tuple[str, ...] = (),
) -> None:
    """Check every request before it reaches a view; add CORS headers when configured.
    Views of ``public_blueprints`` need no token (the web page must load to ask for it); the
    Host and Origin checks still apply to them."""

    @app.before_request
    def guard() -> Response | None:
        if loopback_only and not is_loopback(_hostname(request.host)):
            raise ApiError(403, f"Host {request.host!r} is not a loopback address.", None)
        origin = request.headers.get("Origin")
        if origin is not None and not _origin_allowed(origin, cors_origin):
            raise ApiError(
                403,
                f"Requests from the web origin {origin!r} are not allowed "
                "(start the server with --cors-origin to allow one).",
                None,
            )
        if request.method == "OPTIONS" and origin is not None:
            return Response(status=204, headers=_CORS_HEADERS)  # preflight carries no token
        if token is not None and request.blueprint not in public_blueprints:
            _check_token(token)
        return None

    @app.after_request
    def cors(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin is not None and _is_cors_origin(origin, cors_origin):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = "Location"
            response.vary.add("Origin")
        return response
