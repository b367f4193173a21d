"""The published contract, `GET /v1/openapi.json`, kept true: it is a valid OpenAPI 3.1
document, its limits are the validators' own, and real responses of a real `sketchify serve`
(every endpoint, success and error cases, jobs in every state) validate against it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
import requests
from api_contract.contract import Contract
from backend_helpers import Server, png_bytes, wait_for
from openapi_spec_validator import validate

from sketchify.backend import limits
from sketchify.backend.api import listing, openapi
from sketchify.backend.storage.jobs import JobStore
from sketchify.core.config import MASK_MODES, PRECISION_NAMES, PRESET_NAMES
from sketchify.core.output.plot_settings import MAX_LENGTH_MM, MAX_PEN_MM, MIN_PEN_MM, PAGES_MM

pytest_plugins = ["backend_fixtures"]
UPLOAD_MB = 1  # a small body limit, so that a 413 costs little to provoke


def _failed_job(data_dir) -> str:
    """A job the engine failed, stored before the server starts (the engine of tiny models
    does not fail on demand)."""
    store = JobStore(data_dir)
    params = {"strokes": [4], "preset": "draft", "steps": 2, "seeds": 1, "seed": None,
              "prompt": None, "width": 3.0, "mask": "none"}
    job, _ = store.add(params, png_bytes(), filename="failed.png")
    store.claim_next("cpu", lambda p: "draft")
    store.fail(job.id, "The engine failed: RuntimeError: out of luck.")
    store.close()
    return job.id


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_model_args) -> Iterator[tuple[Server, str]]:
    data = tmp_path_factory.mktemp("openapi") / "data"
    data.mkdir()
    failed = _failed_job(data)
    server = Server(data, tiny_model_args, "--max-upload-mb", str(UPLOAD_MB))
    yield server, failed
    server.stop()


@pytest.fixture(scope="module")
def server(served) -> Server:
    return served[0]


@pytest.fixture(scope="module")
def contract(server) -> Contract:
    response = requests.get(f"{server.url}/v1/openapi.json", timeout=30)  # no token: public
    assert response.status_code == 200
    return Contract(response.json())


def checked(contract: Contract, response: requests.Response, status: int) -> requests.Response:
    assert response.status_code == status, response.text
    contract.check(response)
    if status >= 400:
        assert response.json()["error"].endswith((".", ")")), response.json()
    return response


def test_the_document_is_valid_openapi_3_1(contract):
    validate(contract.document)
    assert contract.document["openapi"] == "3.1.0"
    paths = contract.document["paths"]
    assert set(paths) == {"/v1/sketches", "/v1/sketches/{id}", "/v1/sketches/{id}/svg",
                          "/v1/sketches/{id}/plot", "/v1/sketches/{id}/zip",
                          "/v1/sketches/{id}/image", "/v1/health", "/v1/openapi.json"}
    assert set(paths["/v1/sketches"]) == {"get", "post"}
    assert set(paths["/v1/sketches/{id}"]) == {"parameters", "get", "delete"}
    assert "/static/" in contract.document["info"]["description"]
    assert contract.document["security"] == [{"bearer": []}]  # this server has a token
    posted = paths["/v1/sketches"]["post"]["responses"]
    assert {"200", "202", "400", "401", "403", "413", "415", "422", "503", "507"} <= set(posted)


def test_the_limits_are_the_validators_own(contract):
    body = contract.document["paths"]["/v1/sketches"]["post"]["requestBody"]
    fields = body["content"]["multipart/form-data"]["schema"]["properties"]
    assert fields["steps"]["maximum"] == limits.MAX_STEPS
    assert fields["seeds"]["maximum"] == limits.MAX_SEEDS
    assert fields["strokes"]["anyOf"][0]["maximum"] == limits.MAX_STROKES
    assert fields["prompt"]["maxLength"] == limits.MAX_PROMPT
    assert (fields["width"]["minimum"], fields["width"]["maximum"]) == (limits.MIN_WIDTH,
                                                                         limits.MAX_WIDTH)
    assert fields["preset"]["enum"] == list(PRESET_NAMES)
    assert fields["mask"]["enum"] == list(MASK_MODES)
    assert fields["precision"]["enum"] == list(PRECISION_NAMES)
    as_json = body["content"]["application/json"]["schema"]["properties"]
    plot = as_json["plot"]["anyOf"][0]["anyOf"][0]["properties"]
    assert plot["page"]["enum"] == list(PAGES_MM)
    assert plot["size_mm"]["maximum"] == MAX_LENGTH_MM
    assert (plot["pen_mm"]["minimum"], plot["pen_mm"]["maximum"]) == (MIN_PEN_MM, MAX_PEN_MM)
    start = fields["start"]["anyOf"][0]
    assert start["maxItems"] == limits.MAX_START_ITEMS
    assert start["items"]["properties"]["d"]["maxLength"] == limits.MAX_START_CHARS
    assert f"at most {UPLOAD_MB * 2**20} bytes" in body["description"]  # the server's setting
    listed = {p["name"]: p for p in contract.document["paths"]["/v1/sketches"]["get"]
              ["parameters"]}
    assert listed["limit"]["schema"]["maximum"] == listing.MAX_LIMIT


def test_a_limit_changed_in_code_changes_the_document(monkeypatch):
    monkeypatch.setattr(limits, "MAX_STEPS", 77)
    monkeypatch.setattr(limits, "MAX_COUNTS", 3)
    document = openapi.document(version="test", max_upload_bytes=5, max_pixels=6,
                                formats=("PNG",), token=False)
    fields = (document["paths"]["/v1/sketches"]["post"]["requestBody"]["content"]
              ["multipart/form-data"]["schema"]["properties"])
    assert fields["steps"]["maximum"] == 77
    assert document["components"]["schemas"]["Job"]["properties"]["strokes"]["maxItems"] == 3
    assert {} in document["security"]  # no token: requests without one are fine too


def test_the_document_is_public_but_guarded(server, contract):
    checked(contract, requests.get(f"{server.url}/v1/openapi.json", timeout=30), 200)
    foreign = requests.get(f"{server.url}/v1/openapi.json", headers={"Origin": "https://x.example"},
                           timeout=30)
    checked(contract, foreign, 403)
    rebound = requests.get(f"{server.url}/v1/openapi.json", headers={"Host": "evil.example"},
                           timeout=30)
    checked(contract, rebound, 403)
    checked(contract, requests.get(f"{server.url}/v1/health", timeout=30), 401)


def test_health_and_unknown_routes(server, contract):
    checked(contract, server.http.get(f"{server.url}/v1/health", timeout=30), 200)
    checked(contract, server.http.get(f"{server.url}/v1/nothing", timeout=30), 404)
    checked(contract, server.http.put(f"{server.url}/v1/sketches", timeout=30), 405)


def test_submissions_and_their_refusals(server, contract):
    url = f"{server.url}/v1/sketches"
    created = checked(contract, server.submit(strokes="4", steps=1), 202)
    assert created.headers["Location"].endswith(created.json()["id"])
    as_json = {"image": base64.b64encode(png_bytes()).decode(), "strokes": [4, 8],
               "steps": 1, "filename": "disc.png", "width": None}
    checked(contract, server.http.post(url, json=as_json, timeout=30), 202)
    key = {"Idempotency-Key": "contract-test-1"}
    first = checked(contract, server.submit(headers=key, strokes="4", steps=1), 202)
    again = checked(contract, server.submit(headers=key, strokes="4", steps=1), 200)
    assert again.json()["id"] == first.json()["id"]
    assert checked(contract, server.submit(headers=key, strokes="8", steps=1),
                   422).json()["field"] == "Idempotency-Key"
    assert checked(contract, server.submit(steps=0), 422).json()["field"] == "steps"
    assert checked(contract, server.submit(colour="red"), 422).json()["field"] == "colour"
    assert checked(contract, server.submit(image=b"not a picture"), 415).json()["field"] == "image"
    checked(contract, server.http.post(url, data=b"{", timeout=30,
                                       headers={"Content-Type": "application/json"}), 400)
    checked(contract, server.http.post(url, data=b"x", timeout=30,
                                       headers={"Content-Type": "text/plain"}), 415)
    checked(contract, server.submit(image=b"\0" * (UPLOAD_MB * 2**20 + 1)), 413)
    anonymous = requests.post(url, json=as_json, timeout=30)
    assert "WWW-Authenticate" in checked(contract, anonymous, 401).headers
    foreign = server.http.post(url, json=as_json, headers={"Origin": "https://x.example"},
                               timeout=30)
    checked(contract, foreign, 403)


def test_a_full_disk_is_507(tmp_path, tiny_model_args, contract):
    full = Server(tmp_path / "data", tiny_model_args, "--min-free-mb", "1e12")  # > any disk
    try:
        checked(contract, full.submit(strokes="4", steps=1), 507)
    finally:
        full.stop()


def job_urls(server: Server, job_id: str) -> dict[str, str]:
    base = f"{server.url}/v1/sketches/{job_id}"
    return {"job": base, "svg": f"{base}/svg?strokes=4",
            "preview": f"{base}/svg?strokes=4&preview=1", "zip": f"{base}/zip",
            "image": f"{base}/image"}


def test_a_job_through_every_state(served, contract):
    server, failed = served
    get = lambda url: server.http.get(url, timeout=30)  # noqa: E731
    # Running: a long job, observed once it reported progress, then canceled.
    running = server.submit(strokes="4", steps=10000).json()["id"]
    wait_for(lambda: server.job(running)["links"].get("preview"), timeout=90)
    urls = job_urls(server, running)
    assert checked(contract, get(urls["job"]), 200).json()["status"] == "running"
    checked(contract, get(urls["preview"]), 200)
    checked(contract, get(urls["svg"]), 409)
    checked(contract, get(urls["zip"]), 409)
    checked(contract, get(urls["image"]), 200)
    checked(contract, server.http.delete(urls["job"], timeout=30), 202)
    assert server.finished(running)["status"] == "canceled"
    checked(contract, get(urls["job"]), 200)
    checked(contract, get(urls["preview"]), 200)
    checked(contract, get(urls["zip"]), 409)
    checked(contract, server.http.delete(urls["job"], timeout=30), 200)  # again: harmless
    # Done: a short one.
    done = server.submit(strokes="4,8", steps=2).json()["id"]
    assert server.finished(done)["status"] == "done"
    urls = job_urls(server, done)
    assert checked(contract, get(urls["job"]), 200).json()["links"]["svg"]
    checked(contract, get(urls["svg"]), 200)
    checked(contract, get(f"{server.url}/v1/sketches/{done}/svg?strokes=5"), 404)
    checked(contract, get(f"{server.url}/v1/sketches/{done}/svg?strokes=x"), 422)
    checked(contract, get(f"{server.url}/v1/sketches/{done}/svg"), 422)  # two counts: say which
    checked(contract, get(urls["zip"]), 200)
    checked(contract, server.http.delete(urls["job"], timeout=30), 409)
    # Failed (stored before the server started).
    urls = job_urls(server, failed)
    assert checked(contract, get(urls["job"]), 200).json()["error"]
    checked(contract, get(urls["svg"]), 409)
    checked(contract, get(urls["zip"]), 409)
    checked(contract, server.http.delete(urls["job"], timeout=30), 409)
    # Queued: behind a long job, then canceled at once (it never runs).
    blocker = server.submit(strokes="4", steps=10000).json()["id"]
    queued = server.submit(strokes="4", steps=1).json()["id"]
    urls = job_urls(server, queued)
    job = checked(contract, get(urls["job"]), 200).json()
    assert job["status"] == "queued" and job["queue_position"] == 0
    checked(contract, get(urls["preview"]), 409)
    checked(contract, server.http.delete(urls["job"], timeout=30), 200)
    server.http.delete(f"{server.url}/v1/sketches/{blocker}", timeout=30)
    server.finished(blocker)
    # Unknown jobs.
    for url in job_urls(server, "0" * 32).values():
        checked(contract, get(url), 404)
    checked(contract, server.http.delete(f"{server.url}/v1/sketches/{'0' * 32}", timeout=30), 404)
    checked(contract, get(f"{server.url}/v1/sketches/not-an-id"), 404)


def test_the_list_and_its_refusals(server, contract):
    server.submit(strokes="4", steps=1)
    server.submit(strokes="4", steps=1)
    url = f"{server.url}/v1/sketches"
    page = checked(contract, server.http.get(url, params={"limit": 1}, timeout=30), 200).json()
    assert page["next_cursor"] and len(page["items"]) == 1
    checked(contract, server.http.get(url, params={"cursor": page["next_cursor"],
                                                   "status": "queued,done"}, timeout=30), 200)
    checked(contract, server.http.get(url, params={"limit": 1000}, timeout=30), 422)
    checked(contract, server.http.get(url, params={"cursor": "bm9wZQ"}, timeout=30), 422)
    checked(contract, server.http.get(url, params={"status": "lost"}, timeout=30), 422)
    checked(contract, server.http.get(url, params={"colour": "red"}, timeout=30), 422)
    everything = checked(contract, server.http.get(url, params={"limit": 100}, timeout=30), 200)
    assert {job["status"] for job in everything.json()["items"]} >= {"done", "failed",
                                                                    "canceled"}


def test_the_contract_helper_notices_a_broken_response(contract):
    """The checks above can fail: a job without its progress, an undocumented status and an
    error that is not JSON are each reported."""
    job = {"id": "0" * 32, "status": "queued"}
    broken = contract.problems("GET", "http://h/v1/sketches/" + "0" * 32, 200,
                               {"Content-Type": "application/json"}, json.dumps(job).encode())
    assert any("progress" in problem for problem in broken)
    assert contract.problems("GET", "http://h/v1/health", 418, {}, b"")
    assert contract.problems("GET", "http://h/v1/sketches/" + "0" * 32, 404,
                             {"Content-Type": "text/html"}, b"<p>no</p>")


def test_plot_ready_svgs_over_real_http(server, contract):
    from lxml import etree

    from sketchify.core.output import provenance

    get = lambda url: server.http.get(url, timeout=30)  # noqa: E731
    refused = checked(contract, server.submit(strokes="4", steps=1, plot='{"page": "B5"}'), 422)
    assert refused.json()["field"] == "plot"
    as_json = {"image": base64.b64encode(png_bytes()).decode(), "strokes": [4], "steps": 1,
               "plot": {"size_mm": 100, "pen_mm": 0.8}}
    sent = checked(contract, server.http.post(f"{server.url}/v1/sketches", json=as_json,
                                              timeout=30), 202).json()
    assert sent["params"]["plot"] == {"size_mm": 100.0, "pen_mm": 0.8, "margin_mm": 0.0}
    multipart = checked(contract, server.submit(strokes="4", steps=1,
                                                plot=json.dumps({"page": "A4"})), 202).json()
    plain = checked(contract, server.submit(strokes="4", steps=1), 202).json()
    for job in (sent, multipart, plain):
        assert server.finished(job["id"])["status"] == "done"
    done = checked(contract, get(f"{server.url}/v1/sketches/{sent['id']}"), 200).json()
    plotted = checked(contract, get(server.url + done["links"]["plot"]["4"]), 200)
    root = etree.fromstring(plotted.content)
    assert root.get("width") == "100mm" and root.get("height") == "75mm"  # a 64 x 48 photo
    assert root.get("viewBox") == "0 0 100 75"
    assert provenance.read(plotted.content)["plot"] == done["params"]["plot"]
    a4 = etree.fromstring(get(f"{server.url}/v1/sketches/{multipart['id']}/plot").content)
    assert (a4.get("width"), a4.get("height")) == ("297mm", "210mm")
    checked(contract, get(f"{server.url}/v1/sketches/{plain['id']}/plot"), 404)
    checked(contract, get(f"{server.url}/v1/sketches/{sent['id']}/plot?strokes=8"), 404)
    checked(contract, get(f"{server.url}/v1/sketches/{sent['id']}/plot?strokes=x"), 422)
    checked(contract, get(f"{server.url}/v1/sketches/{'0' * 32}/plot"), 404)
