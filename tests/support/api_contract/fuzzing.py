"""Fuzzing a real `sketchify serve` from its contract: the Schemathesis run, hand-written
Hypothesis strategies over raw HTTP, and the rules every answer must keep.

Used by tests/contract/test_fuzz.py (bounded budgets) and benchmarks/fuzz.py (long runs). The server
under fuzz runs with `--hold-jobs`: the fuzzer submits valid jobs too (10000 steps, 16 seeds,
256 strokes), which are accepted and stored like any other but never computed.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from hypothesis import strategies as st
from schemathesis.core.failures import AcceptedNegativeData

from api_contract.contract import Contract

HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
# Checks left out of the Schemathesis run, and why:
# - positive_data_acceptance wants every schema-valid request accepted, but a schema cannot
#   say "bytes of a decodable PNG", "a cursor this server gave out" or "a job that exists":
#   such requests are refused with a documented 404/415/422, which status_code_conformance
#   and our own checks still hold to the document.
# - use_after_free expects DELETE to remove a resource; here DELETE cancels a job, which stays
#   readable (canceled) by design.
EXCLUDED_CHECKS = ("positive_data_acceptance", "use_after_free")


def schemathesis_command(url: str, token: str, seconds: int, seed: int | None) -> list[str]:
    """`schemathesis run` against a server for a time budget, one worker (2-core machines)."""
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{url}/v1/openapi.json",
        "--header", f"Authorization: Bearer {token}", "--max-time", str(seconds),
        "--workers", "1", "--exclude-checks", ",".join(EXCLUDED_CHECKS),
        "--generation-database", "none", "--no-color", "--request-timeout", "30",
    ]
    if seed is not None:
        command += ["--seed", str(seed)]
    return command


def run_schemathesis(url: str, token: str, seconds: int, seed: int | None,
                     workdir: Path) -> subprocess.CompletedProcess[str]:
    """Run it with our own checks (schemathesis_hooks.py) loaded; its output comes back as text."""
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)}
    return subprocess.run(schemathesis_command(url, token, seconds, seed), cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=seconds + 300)


# -- the rules of an error body ----------------------------------------------------------------


def error_problems(status: int, body: Any, allowed_fields: Iterable[str]) -> list[str]:
    """What is wrong with an error answer's JSON: it must be one sentence for a person, and
    name the field at fault (every 422 is about one) with a name the operation documents or the
    request itself used."""
    if status < 400:
        return []
    if not isinstance(body, dict) or set(body) != {"error", "field"}:
        return [f"{status}: the body is not {{error, field}}: {body!r}"]
    error, field = body["error"], body["field"]
    found = []
    if not (isinstance(error, str) and error.strip() == error and error.endswith(".")
            and "\n" not in error and len(error) >= 8):
        found.append(f"{status}: the error is not one sentence: {error!r}")
    allowed = set(allowed_fields)
    if status == 422 and not field and "" not in allowed:  # a nameless one cannot be named
        found.append(f"422 names no field: {error!r}")
    if field is not None and field not in allowed:
        found.append(f"{status}: field {field!r} is neither documented nor sent: {error!r}")
    return found


def refused_as_too_large(failure: Any, response: Any) -> bool:
    """A negative case that the body limit refused (413) before its fields were read: it was
    rejected all the same. Seen with `start` over its 256 items, each path at its longest."""
    return isinstance(failure, AcceptedNegativeData) and response.status_code == 413


def sent_as_left_out(failure: Any, case: Any) -> bool:
    """A negative multipart case whose mutation made a field an empty list: multipart sends no
    part for it, which is the field left out (allowed), so accepting it is right. Seen in a
    10-minute run: `seed` "became array", sent as the image part alone, answered 202."""
    return (isinstance(failure, AcceptedNegativeData)
            and case.media_type == "multipart/form-data" and isinstance(case.body, dict)
            and any(value == [] for value in case.body.values()))


def documented_names(document: dict[str, Any], template: str | None, method: str) -> set[str]:
    """The parameter, header and body field names an operation documents."""
    if template is None:
        return set()
    item = document["paths"][template]
    operation = item.get(method.lower(), {})
    names = {p["name"] for p in [*item.get("parameters", []), *operation.get("parameters", [])]}
    for media in operation.get("requestBody", {}).get("content", {}).values():
        names |= set(media["schema"].get("properties", {}))
    return names


# -- raw HTTP ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def send_raw(url: str, data: bytes, *, timeout: float = 30, half_close: bool = False
             ) -> Answer | None:
    """Write ``data`` as-is to the server's socket and read one HTTP answer (None when it
    closed without one). ``half_close`` ends our side after sending, as a client that sent a
    truncated body and gave up."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
            return Answer(response.status, response.headers, response.read())
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return None


def request_bytes(method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    """An HTTP/1.1 request exactly as given (nothing added but Host and Connection: close)."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close",
             *(f"{name}: {value}" for name, value in headers)]
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body


def part_names(parts: list[tuple[str, str | None, bytes]], *, cut: bool = False) -> set[str]:
    """The field names a server may read from these parts. A name with a quote, backslash, line
    break or NUL does not survive a Content-Disposition header whole (multipart() does not
    escape: that is part of the fuzzing), and a cut body may end inside a name. Werkzeug 3.1.4
    and later read a backslash in a quoted name as an escape (`0\\0` arrives as `00`)."""
    names = set()
    for sent, _, _ in parts:
        for name in {sent, re.sub(r"\\(.)", r"\1", sent, flags=re.DOTALL)}:
            pieces = re.split(r'["\\\r\n\x00]', name)
            names |= {name, *pieces} | ({""} if len(pieces) > 1 else set())
            if cut:
                names |= {name[:i] for i in range(len(name))}
    return names


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str) -> bytes:
    """A multipart/form-data body of (name, filename or None, payload) parts."""
    out = b""
    for name, filename, payload in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        # UTF-8 names, as browsers send them.
        out += (f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
                + payload + b"\r\n")
    return out + f"--{boundary}--\r\n".encode()


# -- strategies ----------------------------------------------------------------------------------

FIELD_NAMES = ("image", "mask_image", "strokes", "preset", "steps", "seeds", "seed", "prompt",
               "width", "precision", "mask", "filename", "start", "plot")
# Text that trips parsers: other scripts' digits and superscripts (str.isdigit() is true for
# "²", int() refuses it), signs, spaces, separators, controls, quotes, numbers too long for
# int() (over 4300 digits) or for SQLite (over 64 bits).
TRICKY = st.sampled_from(["²", "٣", "߀", "①", "+4", "-1", " 8 ", "4,", ",", "[4,8]", "1e3",
                          "0x10", "nan", "inf", "", " ", "\x00", "'", '"', "\\", "%", "9" * 40,
                          "9" * 5000, "1" + "0" * 19, "true", "null", "[]", "{}", "4\n8",
                          "\u202e", "𝟡", '[{"d": "M 1 1 L 5 5", "locked": true}]',
                          '[{"d": "M 1 1 A 9 9 0 1 1 1e9 0"}]', '[{"d": "M1 1", "x": 1}]'])
TEXT = st.one_of(TRICKY, TRICKY, st.text(max_size=40),
                 st.text(st.characters(categories=["Nd", "No", "Zs", "Cc"]), max_size=6))
# Whole numbers around every edge: small, the 64-bit ones, and far beyond.
NUMBERS = st.one_of(st.integers(-3, 300), st.integers(2**62, 2**66),
                    st.sampled_from([2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**4000]))
# Numbers as a form writes them, including more digits than int() reads (4300).
NUMBER_TEXT = st.one_of(NUMBERS.map(str), st.just("9" * 5000), st.just("-" + "9" * 4400))
JSON_VALUES = st.one_of(TEXT, NUMBERS, st.floats(), st.booleans(), st.none(),
                        st.lists(st.one_of(NUMBERS, TEXT), max_size=9),
                        st.dictionaries(TEXT, NUMBERS, max_size=2))


def cursors() -> st.SearchStrategy[str]:
    """Cursors in the list's own format ("v1:<number>", base64) around every edge, and text."""
    encoded = NUMBERS.map(
        lambda n: base64.urlsafe_b64encode(f"v1:{n}".encode()).decode().rstrip("="))
    return st.one_of(encoded, TEXT)
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                    exclude_characters="\x7f"), max_size=60).map(str.strip)
TOKEN_CHARS = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789-_!#$%&'*+.^`|~"), min_size=1, max_size=24)
CONTENT_TYPES = st.one_of(
    st.sampled_from(["application/json", "application/json; charset=utf-16",
                     "application/json; charset=nonsense", "multipart/form-data",
                     "multipart/form-data; boundary=", "multipart/form-data; boundary=\"x\"",
                     "multipart/mixed; boundary=x", "text/plain", "image/png",
                     "application/x-www-form-urlencoded", "application/octet-stream", "*/*",
                     ";;;", "APPLICATION/JSON", "application/json, text/plain"]),
    HEADER_TEXT,
)


def queries(names: Iterable[str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Query parameters: documented names or any text, with awkward values, repeats allowed."""
    name = st.one_of(st.sampled_from(sorted(names)), st.sampled_from(sorted(names)), TEXT)
    return st.lists(st.tuples(name, TEXT), max_size=4)


def part_payloads(image: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(st.just(image), st.binary(max_size=200), TEXT.map(str.encode),
                     st.integers(-5, 300).map(lambda n: str(n).encode()),
                     st.just(image[: len(image) // 2]))


def multipart_parts(image: bytes) -> st.SearchStrategy[list[tuple[str, str | None, bytes]]]:
    name = st.one_of(st.sampled_from(FIELD_NAMES), TOKEN_CHARS)
    filename = st.one_of(st.none(), st.sampled_from(["p.png", "", "../../x.png", "a" * 300,
                                                     "C:\\fakepath\\cat.jpg", "ü.png"]))
    return st.lists(st.tuples(name, filename, part_payloads(image)), max_size=6)


def health_ok(url: str, token: str) -> bool:
    response = requests.get(f"{url}/v1/health", headers={"Authorization": f"Bearer {token}"},
                            timeout=30)
    return response.status_code == 200 and response.json()["status"] == "ok"


def answer_problems(contract: Contract, method: str, url: str, answer: Answer,
                    sent: Iterable[str]) -> list[str]:
    """Every rule for one answer: the contract, no 5xx, the error body's rules."""
    found = contract.problems(method, url, answer.status, answer.headers, answer.body)
    if answer.status >= 500:
        found.append(f"{method} {url} answered {answer.status}: {answer.body[:300]!r}")
    if answer.status >= 400 and not found:
        template = contract.template(url)
        allowed = documented_names(contract.document, template, method) | set(sent)
        found += error_problems(answer.status, json.loads(answer.body), allowed)
    return found
