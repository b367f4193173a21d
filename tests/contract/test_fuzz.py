"""Fuzzing a real `sketchify serve` (tiny models, 127.0.0.1) from its contract, on bounded
budgets: Schemathesis driven by /v1/openapi.json, then hand-written Hypothesis strategies over
raw HTTP (odd queries, random bodies and Content-Types, broken and truncated multipart,
oversized bodies, odd headers, bytes that are not HTTP at all). Every answer must keep the
document, never be a 5xx, and every error must be a JSON sentence naming its field; the server
must be healthy after. `benchmarks/fuzz.py` runs the same for longer.

The server runs with --hold-jobs: valid submissions (the fuzzer finds 10000-step, 16-seed,
256-stroke ones) are accepted and stored but never computed, so the suite's CPU goes to the
fuzzing, not to sketches of random photos.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
import requests
from api_contract.contract import Contract
from api_contract.fuzzing import (
    CONTENT_TYPES,
    FIELD_NAMES,
    HEADER_TEXT,
    JSON_VALUES,
    NUMBER_TEXT,
    TEXT,
    TOKEN_CHARS,
    answer_problems,
    cursors,
    error_problems,
    health_ok,
    multipart,
    multipart_parts,
    part_names,
    queries,
    request_bytes,
    run_schemathesis,
    send_raw,
    sent_as_left_out,
)
from backend_helpers import TOKEN, Server, png_bytes
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from schemathesis.core.failures import AcceptedNegativeData, ServerError

pytest_plugins = ["backend_fixtures"]
# The suite's budgets; benchmarks/fuzz.py raises them through the environment.
SCHEMATHESIS_SECONDS = int(os.environ.get("SKETCHIFY_FUZZ_SECONDS", "60"))  # the whole run
EXAMPLES = int(os.environ.get("SKETCHIFY_FUZZ_EXAMPLES", "120"))  # per raw-HTTP test
UPLOAD_MB = 1
RAW = settings(max_examples=EXAMPLES, deadline=None, database=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture,
                                      HealthCheck.too_slow])


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_args) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("fuzz") / "data", tiny_model_args, "--hold-jobs",
                     "--max-upload-mb", str(UPLOAD_MB))
    yield running
    assert running.proc.poll() is None, "the server died during the fuzzing"
    assert health_ok(running.url, TOKEN)
    running.stop()
    accepted = running.log.read_text(errors="replace").count(" received")
    print(f"the fuzzing submitted {accepted} valid jobs (held, never run)")


@pytest.fixture(scope="module")
def contract(server) -> Contract:
    return Contract(requests.get(f"{server.url}/v1/openapi.json", timeout=30).json())


@pytest.fixture(scope="module")
def job_id(server) -> str:
    """A held (queued) job for the id-taking routes."""
    response = server.submit(strokes="4,8", steps=5)
    assert response.status_code == 202
    return response.json()["id"]


def assert_keeps_the_rules(contract: Contract, method: str, url: str, answer, sent) -> None:
    assert answer is not None, f"{method} {url}: the server closed without an answer"
    found = answer_problems(contract, method, url, answer, sent)
    assert not found, "\n".join(found)


def test_schemathesis_finds_nothing(server, tmp_path):
    run = run_schemathesis(server.url, TOKEN, SCHEMATHESIS_SECONDS, seed=None, workdir=tmp_path)
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    assert " passed" in run.stdout and "No test cases" not in run.stdout
    print(run.stdout[run.stdout.rfind("SUMMARY"):])  # shown by benchmarks/fuzz.py (-rP)
    assert health_ok(server.url, TOKEN)


def test_only_the_empty_multipart_list_is_forgiven():
    """The one Schemathesis finding the hooks drop, and nothing like it."""
    accepted = AcceptedNegativeData(operation="POST /v1/sketches", message="accepted",
                                    status_code=202, expected_statuses=["422"])
    case = SimpleNamespace(media_type="multipart/form-data", body={"image": b"x", "seed": []})
    assert sent_as_left_out(accepted, case)
    assert not sent_as_left_out(accepted, SimpleNamespace(media_type="application/json",
                                                          body={"image": "x", "seed": []}))
    assert not sent_as_left_out(accepted, SimpleNamespace(media_type="multipart/form-data",
                                                          body={"image": b"x", "seed": "x"}))
    assert not sent_as_left_out(ServerError(operation="POST /v1/sketches", status_code=500), case)


@pytest.mark.parametrize("route", ["/v1/sketches", "/v1/sketches/{id}", "/v1/sketches/{id}/svg",
                                   "/v1/sketches/{id}/zip", "/v1/sketches/{id}/image",
                                   "/v1/health", "/v1/openapi.json"])
@RAW
@given(query=queries(["status", "limit", "cursor", "strokes", "preview"]),
       real=st.integers(0, 9), other_id=TEXT)
def test_odd_queries_on_every_route(server, contract, job_id, route, query, real, other_id):
    """Every route with odd query parameters, on a real job id (mostly) or any text."""
    chosen = job_id if real else (other_id.replace("/", "").replace(".", "") or "x")
    path = route.format(id=requests.utils.quote(chosen, safe=""))
    url = f"{server.url}{path}?{urlencode(query)}"
    data = request_bytes("GET", url, [("Authorization", f"Bearer {TOKEN}")], b"")
    assert_keeps_the_rules(contract, "GET", url, send_raw(url, data), {name for name, _ in query})


@RAW
@given(cursor=cursors(), limit=st.one_of(st.none(), TEXT))
def test_list_cursors(server, contract, cursor, limit):
    query = {"cursor": cursor, **({} if limit is None else {"limit": limit})}
    url = f"{server.url}/v1/sketches?{urlencode(query)}"
    answer = send_raw(url, request_bytes("GET", url, [("Authorization", f"Bearer {TOKEN}")], b""))
    assert_keeps_the_rules(contract, "GET", url, answer, set(query))


FIELDS = st.sampled_from([name for name in FIELD_NAMES if name != "image"])


@RAW
@given(fields=st.dictionaries(st.one_of(FIELDS, FIELDS, TEXT), st.one_of(TEXT, NUMBER_TEXT),
                              max_size=3))
@example(fields={"0\\0": "4"})  # found by the fuzzer: Werkzeug 3.1.4+ reads it as "00"
def test_odd_form_field_values(server, contract, fields):
    """A real photo with odd text in the other fields, as a form sends them."""
    parts = [("image", "p.png", png_bytes()), *((k, None, v.encode()) for k, v in fields.items())]
    post_multipart(server, contract, parts)


@RAW
@given(fields=st.dictionaries(st.one_of(FIELDS, FIELDS, TEXT), JSON_VALUES, max_size=3))
def test_odd_json_field_values(server, contract, fields):
    """A real photo with odd JSON values (huge numbers, floats, lists, objects) in the fields."""
    body = json.dumps({"image": base64.b64encode(png_bytes()).decode(), **fields}).encode()
    url = f"{server.url}/v1/sketches"
    headers = [("Authorization", f"Bearer {TOKEN}"), ("Content-Type", "application/json"),
               ("Content-Length", str(len(body)))]
    answer = send_raw(url, request_bytes("POST", url, headers, body))
    assert_keeps_the_rules(contract, "POST", url, answer, set(fields))


def post_multipart(server, contract, parts, boundary: str = "b0undary") -> None:
    body = multipart(parts, boundary)
    url = f"{server.url}/v1/sketches"
    headers = [("Authorization", f"Bearer {TOKEN}"),
               ("Content-Type", f"multipart/form-data; boundary={boundary}"),
               ("Content-Length", str(len(body)))]
    answer = send_raw(url, request_bytes("POST", url, headers, body))
    assert_keeps_the_rules(contract, "POST", url, answer, part_names(parts))


@RAW
@given(body=st.binary(max_size=400), content_type=CONTENT_TYPES)
def test_random_bodies_and_content_types(server, contract, body, content_type):
    url = f"{server.url}/v1/sketches"
    headers = [("Authorization", f"Bearer {TOKEN}"), ("Content-Type", content_type),
               ("Content-Length", str(len(body)))]
    answer = send_raw(url, request_bytes("POST", url, headers, body))
    assert_keeps_the_rules(contract, "POST", url, answer, set())


@RAW
@given(parts=multipart_parts(png_bytes()), cut=st.one_of(st.none(), st.integers(0, 2000)),
       boundary=st.sampled_from(["b0undary", "x", "-" * 70, "ü"]),
       declared=st.sampled_from(["same", "other", "none"]))
def test_broken_and_truncated_multipart(server, contract, parts, cut, boundary, declared):
    body = multipart(parts, boundary)
    if cut is not None:
        body = body[:cut]  # a body that ends early, with an honest Content-Length
    header = {"same": boundary, "other": "not-the-boundary", "none": ""}[declared]
    content_type = "multipart/form-data" + (f"; boundary={header}" if header else "")
    url = f"{server.url}/v1/sketches"
    headers = [("Authorization", f"Bearer {TOKEN}"), ("Content-Type", content_type),
               ("Content-Length", str(len(body)))]
    answer = send_raw(url, request_bytes("POST", url, headers, body))
    assert_keeps_the_rules(contract, "POST", url, answer, part_names(parts, cut=True))


@RAW
@given(extra=st.lists(st.tuples(TOKEN_CHARS, HEADER_TEXT), max_size=5),
       auth=st.one_of(st.sampled_from([f"Bearer {TOKEN}", f"bearer {TOKEN}",
                                       f"Bearer  {TOKEN} ", "Bearer", "Basic dTpw", "",
                                       f"Bearer {TOKEN}x", f"Token {TOKEN}"]), HEADER_TEXT),
       origin=st.one_of(st.none(), st.sampled_from(["null", "http://127.0.0.1", "file://",
                                                    "http://[::1]:1"]), HEADER_TEXT),
       path=st.sampled_from(["/v1/health", "/v1/sketches", "/v1/openapi.json", "/",
                             "/v1/sketches/" + "0" * 32]))
def test_odd_headers(server, contract, extra, auth, origin, path):
    url = f"{server.url}{path}"
    skip = {"host", "content-length", "transfer-encoding", "connection", "expect"}
    headers = [(name, value) for name, value in extra if name.lower() not in skip]
    headers.append(("Authorization", auth))
    if origin is not None:
        headers.append(("Origin", origin))
    answer = send_raw(url, request_bytes("GET", url, headers, b""))
    if path == "/":  # the page: not in the document (an error there is still JSON)
        assert answer is not None and answer.status < 500
        return
    assert_keeps_the_rules(contract, "GET", url, answer, set())


def test_oversized_bodies_are_413_json(server, contract):
    url = f"{server.url}/v1/sketches"
    auth = ("Authorization", f"Bearer {TOKEN}")
    big = multipart([("image", "p.png", b"\0" * (UPLOAD_MB * 2**20 + 1))], "b")
    for headers, body in [
        ([auth, ("Content-Type", "multipart/form-data; boundary=b"),
          ("Content-Length", str(len(big)))], big),
        # Declared too large: refused from the header, before any of the body is read.
        ([auth, ("Content-Type", "application/json"), ("Content-Length", str(2**31))], b"{}"),
        # Chunked: no length to read up front, so the limit applies as the body streams in.
        ([auth, ("Content-Type", "multipart/form-data; boundary=b"),
          ("Transfer-Encoding", "chunked")],
         f"{len(big):x}\r\n".encode() + big + b"\r\n0\r\n\r\n"),
    ]:
        answer = send_raw(url, request_bytes("POST", url, headers, body))
        assert answer is not None and answer.status == 413, answer
        assert_keeps_the_rules(contract, "POST", url, answer, set())
    assert health_ok(server.url, TOKEN)


@settings(max_examples=EXAMPLES // 3, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sent=st.integers(0, 3000), declared=st.integers(1, 5000))
def test_bodies_cut_short_by_the_client(server, sent, declared):
    """The client declares a length, sends less and gives up: the server neither hangs on to
    a worker for good nor falls over."""
    body = multipart([("image", "p.png", png_bytes()), ("strokes", None, b"4")], "b")[:sent]
    url = f"{server.url}/v1/sketches"
    headers = [("Authorization", f"Bearer {TOKEN}"),
               ("Content-Type", "multipart/form-data; boundary=b"),
               ("Content-Length", str(max(declared, len(body) + 1)))]
    send_raw(url, request_bytes("POST", url, headers, body), timeout=30, half_close=True)
    assert health_ok(server.url, TOKEN)


@settings(max_examples=EXAMPLES // 2, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(noise=st.one_of(st.binary(min_size=1, max_size=600),
                       st.text(max_size=200).map(lambda t: (t + "\r\n\r\n").encode())))
def test_bytes_that_are_not_http(server, noise):
    """The HTTP server answers what is not HTTP itself (a 400, or it closes); the app is
    never reached, yet the answer is the API's JSON error, and the server lives on."""
    answer = send_raw(server.url, noise, timeout=30, half_close=True)
    if answer is not None:
        assert answer.status < 500 or answer.status == 501, answer
        found = error_problems(answer.status, json.loads(answer.body), ()) \
            if answer.status >= 400 else []
        assert not found, found
    assert health_ok(server.url, TOKEN)
