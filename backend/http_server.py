"""The HTTP server under the app: waitress, holding bodies to the app's own limit while it
reads them, and answering what it refuses itself in the API's error shape.

Waitress reads a whole request body (spooling it to a temporary file) before the app sees the
request, up to its own limit (1 GB by default) — so without this, a client, even one without
the token, could make the server write a gigabyte per request to /tmp before the app's 25 MB
limit said no. Refusals made there (a body over the limit, malformed HTTP, huge headers) never
reach Flask, so their body is written here as ``{"error": ..., "field": null}``.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import waitress
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, MultiSocketServer
from waitress.task import ErrorTask

from sketchify.backend.api.errors import body_too_large

# How long a refused request's remaining body is read and dropped before the socket closes.
LINGER_S = 5.0


def _sentence(code: int, reason: str, detail: str, limit_bytes: int) -> str:
    detail = " ".join(detail.split()).rstrip(".")  # waitress's own words, on one line
    if code == 413:
        return body_too_large(limit_bytes)
    if code == 431:
        return "The request's headers are too large."
    if code == 400:
        return f"The request is not valid HTTP ({detail})."
    if code == 500:
        return "Internal server error; see the server log."
    return f"{reason} ({detail})."  # e.g. 501 for a Transfer-Encoding waitress lacks


class _JsonErrorTask(ErrorTask):
    def execute(self) -> None:
        error = self.request.error
        sentence = _sentence(error.code, error.reason, str(error.body),
                             self.channel.adj.max_request_body_size)
        body = json.dumps({"error": sentence, "field": None}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.channel.linger = True  # before the answer goes out: the close follows it
        self.write(body)


class _Channel(HTTPChannel):
    """Closes gently after a refusal: closing a socket that still has unread input makes the
    kernel reset the connection, and a client still sending its body (a 30 MB upload refused
    at its headers) would lose the answer that says why. So after an error answer the channel
    stops writing, reads and drops what still comes for up to ``LINGER_S``, then closes."""

    error_task_class = _JsonErrorTask
    linger = False
    _drain_until: float | None = None

    def handle_close(self) -> None:
        if not self.linger or self._drain_until is not None or not self.connected:
            super().handle_close()
            return
        try:
            self.socket.shutdown(socket.SHUT_WR)  # the answer is out; the client sees its end
        except OSError:
            super().handle_close()
            return
        self._drain_until = time.monotonic() + LINGER_S
        self.will_close = self.close_when_flushed = False

    def readable(self) -> bool:
        return True if self._drain_until is not None else super().readable()

    def writable(self) -> bool:
        # Past the deadline a silent client is closed too: the loop asks at least once a
        # second, and handle_write then closes.
        if self._drain_until is not None:
            return time.monotonic() > self._drain_until
        return super().writable()

    def handle_write(self) -> None:
        if self._drain_until is not None:
            super().handle_close()
            return
        super().handle_write()

    def handle_read(self) -> None:
        if self._drain_until is None:
            super().handle_read()
            return
        try:
            self.recv(self.adj.recv_bytes)  # dropped; at the client's end recv closes us
        except OSError:
            super().handle_close()
            return
        if self.connected and time.monotonic() > self._drain_until:
            super().handle_close()


def create_server(app: Any, *, host: str, port: int, threads: int, max_body_bytes: int) -> Any:
    """A waitress server for ``app`` that refuses bodies over ``max_body_bytes`` as they
    arrive (a declared length over it: at once, before any of the body is read)."""
    server = waitress.create_server(app, host=host, port=port, threads=threads,
                                    max_request_body_size=max_body_bytes)
    # A name can resolve to several addresses (localhost: 127.0.0.1 and ::1), and waitress
    # then listens on each: every listener must accept into our channels.
    listeners = server.map.values() if isinstance(server, MultiSocketServer) else [server]
    for listener in listeners:
        if isinstance(listener, BaseWSGIServer):  # the map also holds waitress's trigger
            listener.channel_class = _Channel  # read by each accept
    return server


def addresses(server: Any) -> list[str]:
    """The URLs ``server`` listens on (with the ports the system chose for port 0)."""
    if isinstance(server, MultiSocketServer):
        found = [(host, port) for host, port, *_ in server.effective_listen]
    else:
        found = [(server.effective_host, server.effective_port)]
    return [f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
            for host, port in found]
