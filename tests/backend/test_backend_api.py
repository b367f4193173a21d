"""The HTTP API through Flask's test client: every validation rule and status code.

Jobs run on the real engine with tiny random-weight models; a ControlledSketcher around it
only decides *when* a job starts or moves on, so states like 'running' can be asserted.
"""

from __future__ import annotations

import base64
import io
import json
import os
import sqlite3
import struct
import threading
import time
import zlib
from typing import Any

import pytest
from backend_helpers import ControlledSketcher, example_image, png_bytes, wait_for
from lxml import etree

from sketchify.backend.app import create_app
from sketchify.backend.executors.protocol import QueueUnavailable
from sketchify.backend.storage.jobs import FINISHED
from sketchify.core.output import provenance

pytest_plugins = ["backend_fixtures"]
FAST = {"preset": "draft", "steps": "2", "seeds": "1"}


@pytest.fixture
def controlled(tiny_sketcher: Any) -> ControlledSketcher:
    return ControlledSketcher(tiny_sketcher)


@pytest.fixture
def make_app(tmp_path, controlled):
    apps = []

    def make(**config: Any):
        settings = {
            "DATA_DIR": tmp_path / f"data{len(apps)}",
            "SKETCHERS": [controlled],
            "PROGRESS_EVERY_S": 0.0,
            "MEASURE_STEP_COST": False,  # timed only where estimates are tested
            **config,
        }
        app = create_app(settings)
        apps.append(app)
        return app

    yield make
    controlled.open()
    for app in apps:
        app.extensions["sketchify"].close()


@pytest.fixture
def client(make_app):
    return make_app().test_client()


def submit(client, image: bytes | None = None, headers: dict | None = None, **fields: Any):
    data: dict[str, Any] = {**FAST, **fields}
    data["image"] = (io.BytesIO(png_bytes() if image is None else image), "picture.png")
    return client.post("/v1/sketches", data=data, headers=headers or {},
                       content_type="multipart/form-data")


def submit_json(client, body: dict[str, Any], headers: dict | None = None):
    body = {"image": base64.b64encode(png_bytes()).decode(), "preset": "draft", "steps": 2,
            "seeds": 1, **body}
    return client.post("/v1/sketches", json=body, headers=headers or {})


def finished(client, job_id: str) -> dict[str, Any]:
    def check():
        job = client.get(f"/v1/sketches/{job_id}").get_json()
        return job if job["status"] in FINISHED else None

    return wait_for(check)


def assert_error(response, status: int, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error", "field"}
    assert body["field"] == field
    assert body["error"] and "\n" not in body["error"]
    return body


# -- the happy path ------------------------------------------------------------------------------


def test_submit_runs_to_done_and_serves_one_svg_per_count(client):
    response = submit(client, image=example_image(), strokes="4,8")
    assert response.status_code == 202
    job = response.get_json()
    assert response.headers["Location"] == f"/v1/sketches/{job['id']}"
    assert job["status"] in ("queued", "running")
    assert job["strokes"] == [4, 8]
    assert job["params"]["steps"] == 2

    done = finished(client, job["id"])
    assert done["status"] == "done", done
    assert done["error"] is None
    assert done["progress"]["fraction"] == 1.0
    assert done["queue_position"] is None
    assert set(done["links"]["svg"]) == {"4", "8"}
    for count, link in done["links"]["svg"].items():
        svg = client.get(link)
        assert svg.status_code == 200
        assert svg.mimetype == "image/svg+xml"
        root = etree.fromstring(svg.data)
        assert root.get("width").startswith("451") and root.get("height").startswith("300")
        assert len(root.findall(".//{http://www.w3.org/2000/svg}path")) == int(count)


def test_json_submission_with_base64_and_data_uri(client):
    encoded = base64.b64encode(png_bytes()).decode()
    for image in (encoded, f"data:image/png;base64,{encoded}"):
        response = submit_json(client, {"image": image, "strokes": [8, 4, 8], "width": 2})
        assert response.status_code == 202, response.get_json()
        job = response.get_json()
        assert job["strokes"] == [4, 8]
        assert job["params"]["width"] == 2.0
    assert finished(client, job["id"])["status"] == "done"


@pytest.mark.parametrize(("asked", "ran"), [(None, "fp32"), ("fp32", "fp32"), ("fp16", "fp16")])
def test_the_svg_records_the_precision_the_job_ran(client, asked, ran):
    fields = {"strokes": "4"} if asked is None else {"strokes": "4", "precision": asked}
    job = submit(client, **fields).get_json()
    assert job["params"]["precision"] == (asked or "auto")
    done = finished(client, job["id"])
    svg = client.get(done["links"]["svg"]["4"]).data
    assert provenance.read(svg)["precision"] == ran  # `auto` on this CPU runs fp32


@pytest.mark.parametrize(
    ("strokes", "expected"),
    [("16", [16]), ("4,8,16", [4, 8, 16]), ("[8, 4]", [4, 8]), (["8", "4", "8"], [4, 8]),
     (" 32 , 4 ", [4, 32])],
)
def test_strokes_forms(client, controlled, strokes, expected):
    controlled.start_gate.clear()  # parsing is all this test is about
    response = submit(client, strokes=strokes)
    assert response.status_code == 202
    assert response.get_json()["strokes"] == expected


def test_defaults(client, controlled):
    controlled.start_gate.clear()
    job = submit_json(client, {"steps": None, "seeds": None, "preset": None}).get_json()
    assert job["strokes"] == [16]
    assert job["params"] == {"preset": "auto", "steps": None, "seeds": None, "seed": None,
                             "prompt": None, "width": 3.0, "precision": "auto", "mask": "none",
                             "start": None, "plot": None}


# -- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("strokes", "0"), ("strokes", "257"), ("strokes", "abc"), ("strokes", ""),
        ("strokes", "1,2,3,4,5,6,7,8,9"), ("strokes", "[1,"), ("strokes", "4.5"),
        ("preset", "ultra"), ("steps", "0"), ("steps", "10001"), ("steps", "ten"),
        ("steps", "2.5"), ("seeds", "0"), ("seeds", "17"), ("seed", "-1"), ("seed", "x"),
        ("prompt", "p" * 301), ("width", "0.4"), ("width", "21"), ("width", "nan"),
        ("width", "wide"), ("colour", "red"), ("precision", "bf16"), ("precision", "FP32"),
        # Found by fuzzing: more digits than int() reads (4300) were a 500.
        ("steps", "9" * 5000), ("strokes", "9" * 5000), ("seed", "-" + "9" * 4400),
        ("steps", "٣"),  # other scripts' digits are not the API's numbers
    ],
)
def test_bad_form_field_is_422_naming_it(client, field, value):
    assert_error(submit(client, **{field: value}), 422, field)


@pytest.mark.parametrize(
    ("field", "value"),
    [("strokes", True), ("strokes", [4, "x"]), ("strokes", {"n": 4}), ("steps", 2.5),
     ("steps", True), ("seeds", "many"), ("prompt", 5), ("width", False), ("width", "1e400"),
     ("preset", 3), ("extra", 1), ("seed", 10**4000), ("precision", 32),
     ("width", 2**1024)],  # found by fuzzing: a 500 (the float conversion overflowed)
)
def test_bad_json_field_is_422_naming_it(client, field, value):
    assert_error(submit_json(client, {field: value}), 422, field)


def test_field_given_twice_and_extra_file_part(client):
    data = {"image": (io.BytesIO(png_bytes()), "a.png"), "steps": ["2", "3"]}
    assert_error(client.post("/v1/sketches", data=data), 422, "steps")
    data = {"image": (io.BytesIO(png_bytes()), "a.png"), "mask": (io.BytesIO(b"x"), "m.png")}
    assert_error(client.post("/v1/sketches", data=data), 422, "mask")


def test_fields_in_the_query_string_are_refused(client):
    data = {"image": (io.BytesIO(png_bytes()), "a.png")}
    assert_error(client.post("/v1/sketches?strokes=4", data=data), 422, "strokes")


def test_a_nameless_field_is_422_naming_no_field(client):
    """Found by the fuzzer: `?=1`, a part named "" or a JSON key "" got `"field": ""`."""
    def form(**extra: Any) -> dict[str, Any]:
        return {"image": (io.BytesIO(png_bytes()), "a.png"), **extra}

    assert "''" in assert_error(client.post("/v1/sketches?=1", data=form()), 422,
                                None)["error"]
    assert_error(client.post("/v1/sketches", data=form(**{"": "4"})), 422, None)
    assert_error(client.post("/v1/sketches", data=form(**{"": (io.BytesIO(b"x"), "x")})), 422,
                 None)
    assert_error(submit_json(client, {"": 4}), 422, None)
    twice = client.post("/v1/sketches", data=form(**{"": ["4", "5"]}))
    assert assert_error(twice, 422, None)["error"] == ("A field without a name was given more "
                                                       "than once.")


def test_missing_or_malformed_image(client):
    multipart = "multipart/form-data"
    assert_error(client.post("/v1/sketches", data={"steps": "2"}, content_type=multipart),
                 422, "image")
    assert_error(client.post("/v1/sketches", data={"image": "text"}, content_type=multipart),
                 422, "image")
    assert_error(client.post("/v1/sketches", json={"steps": 2}), 422, "image")
    assert_error(submit_json(client, {"image": "not base64!"}), 422, "image")
    assert_error(submit_json(client, {"image": 12}), 422, "image")
    assert_error(submit(client, image=b""), 422, "image")


def test_non_image_and_unlisted_formats_are_415(client):
    assert_error(submit(client, image=b"%PDF-1.4 not a picture at all"), 415, "image")
    assert_error(submit(client, image=png_bytes(fmt="TIFF")), 415, "image")


def test_truncated_image_is_422(client):
    assert_error(submit(client, image=example_image()[:2000]), 422, "image")


def test_pixel_cap(make_app):
    client = make_app(MAX_PIXELS=100 * 100).test_client()
    assert_error(submit(client, image=png_bytes(101, 100)), 422, "image")
    assert submit(client, image=png_bytes(100, 100)).status_code == 202


def test_default_pixel_cap_refuses_huge_dimensions(client):
    # 4097 x 4097 bilevel compresses to a few kB but would be 16.8 MP decoded.
    assert_error(submit(client, image=png_bytes(4097, 4097, mode="1")), 422, "image")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims huge dimensions: a decompression bomb as far as a decoder can tell."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0"))


def test_decompression_bomb_is_422(client):
    assert_error(submit(client, image=_png_header_only(100_000, 100_000)), 422, "image")


def test_body_over_limit_is_413(make_app):
    client = make_app(MAX_CONTENT_LENGTH=2000).test_client()
    assert_error(submit(client, image=png_bytes(300, 300, mode="RGB") + b"\0" * 4000), 413, None)
    assert_error(client.post("/v1/sketches", json={"image": "A" * 5000}), 413, None)


def test_body_kinds(client):
    assert_error(client.post("/v1/sketches", data=b"hello", content_type="text/plain"), 415, None)
    assert_error(client.post("/v1/sketches", data=b"{nope", content_type="application/json"),
                 400, None)
    assert_error(client.post("/v1/sketches", json=[1, 2]), 400, None)


# -- start: the user's strokes ------------------------------------------------------------------

# A line, a cubic and an arc in the 64 x 48 test photo's pixels.
START = [{"d": "M 4.5 6.25 L 50 40", "locked": True},
         {"d": "M 10 30 C 20 5 40 5 50 30", "locked": False},
         {"d": "M 20 20 a 10 6 30 1 1 15 5", "locked": True}]


@pytest.mark.parametrize("encoding", ["json", "multipart"])
def test_a_start_runs_end_to_end_and_comes_back_first(client, encoding):
    from sketchify.core.given.strokes import from_items
    from sketchify.core.paths import parse_path

    if encoding == "json":
        response = submit_json(client, {"strokes": [4, 6], "start": START})
    else:
        response = submit(client, strokes="4,6", start=json.dumps(START))
    assert response.status_code == 202, response.get_data(as_text=True)
    job = response.get_json()
    summary = {"given": 3, "locked": 2, "sha256": from_items(START).summary()["sha256"]}
    assert job["params"]["start"] == summary
    done = finished(client, job["id"])
    assert done["status"] == "done", done["error"]
    for count in (4, 6):
        svg = client.get(done["links"]["svg"][str(count)]).data
        paths = etree.fromstring(svg).findall("{http://www.w3.org/2000/svg}path")
        assert len(paths) == count
        for element, item in ((paths[0], START[0]), (paths[2], START[2])):
            assert parse_path(element.get("d")) == parse_path(item["d"])  # exact, absolute
        assert paths[1].get("d").startswith("M ") and " C " in paths[1].get("d")
        assert provenance.read(svg)["start"] == summary


@pytest.mark.parametrize(
    ("start", "why"),
    [
        ([{"d": ""}], "draws nothing"),
        ([{"d": "M 1 1"}], "draws nothing"),
        ([{"d": "M 1 1 L 2"}], "number is missing"),
        ([{"d": "L 1 1 2 2"}], "moveto"),
        ([{"d": 5}], "path data"),
        ([{"d": "M 1 1 L 2 2", "locked": "yes"}], "locked"),
        ([{"d": "M 1 1 L 2 2", "locked": 1}], "locked"),
        ([{"d": "M 1 1 L 2 2", "colour": "red"}], "unknown key"),
        ([{"locked": True}], "path data"),
        (["M 1 1 L 2 2"], "object"),
        ([], "non-empty"),
        ({"d": "M 1 1 L 2 2"}, "list"),
        ([{"d": "M 1 1 L 2 2"}] * 257, "at most 256"),
        ([{"d": "M 1 1 " + "L 2 2 " * 20_000}], "at most 100000 characters"),
        ([{"d": "M 1 1 L 1e400 2"}], "finite"),
        ([{"d": "M 1 1 L 200 2"}], "outside"),  # the photo is 64 px wide
        ([{"d": "M 1 1 L 5 -50"}], "outside"),  # and 48 px high
        ([{"d": "M 0 0 A 1e12 1e12 0 1 1 10 0"}], "outside"),  # the ends are in, the arc is not
        ([{"d": "M 0 0 A 1e200 1e200 0 1 1 10 0"}], "too large"),
        ([{"d": "M 5 5 A 1 1 0 0 1 5 5"}], "draws nothing"),
        ([{"d": "M 1 1 L 2 2"}] * 5, "smallest count asked is 4"),
    ],
)
def test_start_refusals_name_the_field(client, controlled, start, why):
    controlled.start_gate.clear()
    body = assert_error(submit_json(client, {"strokes": [4, 8], "start": start}), 422, "start")
    assert why in body["error"]


def test_the_largest_start_fits_under_the_form_cap(client, controlled):
    """100 000 characters of path data in 256 items, as one multipart field: accepted."""
    from sketchify.backend import limits

    controlled.start_gate.clear()
    item = "M 1 1" + " L 2 2" * ((limits.MAX_START_CHARS // limits.MAX_START_ITEMS - 5) // 6)
    start = [{"d": item, "locked": True}] * limits.MAX_START_ITEMS
    assert sum(len(i["d"]) for i in start) <= limits.MAX_START_CHARS
    response = submit(client, strokes="256", start=json.dumps(start))
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.get_json()["params"]["start"]["given"] == limits.MAX_START_ITEMS


def test_a_multipart_start_must_be_a_json_list(client, controlled):
    controlled.start_gate.clear()
    body = assert_error(submit(client, strokes="4", start="M 1 1 L 2 2"), 422, "start")
    assert "JSON" in body["error"]


def test_a_start_of_only_locked_strokes_as_many_as_asked_is_done_at_once(client):
    locked = [dict(item, locked=True) for item in START]
    done = finished(client, submit_json(client, {"strokes": 3, "start": locked}).get_json()["id"])
    assert done["status"] == "done"
    svg = client.get(done["links"]["svg"]["3"]).data
    assert len(etree.fromstring(svg).findall("{http://www.w3.org/2000/svg}path")) == 3


# -- reading, svg, cancel ------------------------------------------------------------------------


def test_unknown_job_route_and_method(client):
    assert_error(client.get("/v1/sketches/" + "0" * 32), 404, None)
    assert_error(client.get("/v1/sketches/../../etc"), 404, None)
    assert_error(client.get("/v1/nothing"), 404, None)
    response = client.put("/v1/sketches")
    assert_error(response, 405, None)
    assert "POST" in response.headers["Allow"]


def test_queue_positions_and_svg_not_ready(client, controlled):
    controlled.start_gate.clear()
    first, second, third = (submit(client).get_json()["id"] for _ in range(3))
    wait_for(controlled.entered.is_set)
    jobs = [client.get(f"/v1/sketches/{i}").get_json() for i in (first, second, third)]
    assert [j["status"] for j in jobs] == ["running", "queued", "queued"]
    assert [j["queue_position"] for j in jobs] == [None, 0, 1]
    assert_error(client.get(f"/v1/sketches/{first}/svg?strokes=16"), 409, None)
    assert_error(client.get(f"/v1/sketches/{first}/svg?strokes=16&preview=1"), 409, None)
    assert_error(client.get(f"/v1/sketches/{second}/svg?strokes=16&preview=1"), 409, None)
    assert client.get("/v1/health").get_json()["queue_length"] == 2
    controlled.open()
    assert [finished(client, i)["status"] for i in (first, second, third)] == ["done"] * 3


def test_svg_query_rules(client):
    job_id = submit(client, strokes="4,8").get_json()["id"]
    assert finished(client, job_id)["status"] == "done"
    assert_error(client.get(f"/v1/sketches/{job_id}/svg"), 422, "strokes")
    assert_error(client.get(f"/v1/sketches/{job_id}/svg?strokes=x"), 422, "strokes")
    # Found by fuzzing: each was a 500 (str.isdigit() takes "²"; int() refuses 4300+ digits).
    for odd in ("%C2%B2", "%E2%91%A0", "9" * 5000):
        assert_error(client.get(f"/v1/sketches/{job_id}/svg?strokes={odd}"), 422, "strokes")
    assert client.get(f"/v1/sketches/{job_id}/svg?strokes=8&preview=true").status_code == 200
    assert client.get(f"/v1/sketches/{job_id}/svg?strokes=8&preview=no").status_code == 200
    assert_error(client.get(f"/v1/sketches/{job_id}/svg?strokes=8&preview=maybe"), 422,
                 "preview")
    assert_error(client.get(f"/v1/sketches/{job_id}/svg?strokes=16"), 404, "strokes")
    assert client.get(f"/v1/sketches/{job_id}/svg?strokes=8&preview=1").status_code == 200
    single = submit(client, strokes="4").get_json()["id"]
    finished(client, single)
    assert client.get(f"/v1/sketches/{single}/svg").status_code == 200  # one count: implied


def test_preview_while_running_then_cancel(client, controlled):
    controlled.step_gate.clear()
    job_id = submit(client, strokes="4,8", steps="50").get_json()["id"]
    wait_for(controlled.reported.is_set)
    job = wait_for(lambda: (j := client.get(f"/v1/sketches/{job_id}").get_json())["links"].get(
        "preview") and j)
    assert job["status"] == "running"
    assert job["progress"]["total"] == 50 and job["progress"]["step"] >= 1
    preview = client.get(job["links"]["preview"]["8"])
    assert preview.status_code == 200
    root = etree.fromstring(preview.data)
    assert len(root.findall(".//{http://www.w3.org/2000/svg}path")) == 8

    response = client.delete(f"/v1/sketches/{job_id}")
    assert response.status_code == 202
    assert response.get_json()["cancel_requested"] is True
    controlled.open()
    job = finished(client, job_id)
    assert job["status"] == "canceled"
    assert job["progress"]["step"] < 50
    assert_error(client.get(f"/v1/sketches/{job_id}/svg?strokes=8"), 409, None)
    assert client.get(f"/v1/sketches/{job_id}/svg?strokes=8&preview=1").status_code == 200
    assert client.delete(f"/v1/sketches/{job_id}").status_code == 200  # idempotent


def test_cancel_queued_job_never_runs(client, controlled):
    controlled.start_gate.clear()
    running = submit(client).get_json()["id"]
    queued = submit(client).get_json()["id"]
    response = client.delete(f"/v1/sketches/{queued}")
    assert response.status_code == 200
    assert response.get_json()["status"] == "canceled"
    controlled.open()
    assert finished(client, running)["status"] == "done"
    job = client.get(f"/v1/sketches/{queued}").get_json()
    assert job["status"] == "canceled" and job["started_at"] is None and job["attempts"] == 0


def test_cancel_finished_is_409_and_unknown_404(client):
    job_id = submit(client).get_json()["id"]
    assert finished(client, job_id)["status"] == "done"
    assert_error(client.delete(f"/v1/sketches/{job_id}"), 409, None)
    assert_error(client.delete("/v1/sketches/" + "f" * 32), 404, None)


def test_engine_failure_fails_one_job_and_the_worker_lives_on(client, controlled):
    controlled.fail_with = RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    failed = submit(client).get_json()["id"]
    job = finished(client, failed)
    assert job["status"] == "failed"
    assert "out of memory" in job["error"] and "fewer strokes" in job["error"]
    assert_error(client.get(f"/v1/sketches/{failed}/svg?strokes=16"), 409, None)
    controlled.fail_with = None
    assert finished(client, submit(client).get_json()["id"])["status"] == "done"


# -- idempotency ---------------------------------------------------------------------------------


def test_idempotency_key_returns_the_same_job(client, controlled):
    controlled.start_gate.clear()
    key = {"Idempotency-Key": "order-42"}
    first = submit(client, headers=key, strokes="4")
    again = submit(client, headers=key, strokes="4")
    assert first.status_code == 202 and again.status_code == 200
    assert first.get_json()["id"] == again.get_json()["id"]
    assert again.headers["Location"] == first.headers["Location"]
    other = submit(client, headers={"Idempotency-Key": "order-43"}, strokes="4")
    assert other.get_json()["id"] != first.get_json()["id"]
    assert_error(submit(client, headers=key, strokes="8"), 422, "Idempotency-Key")
    assert_error(submit(client, headers={"Idempotency-Key": "k" * 256}), 422, "Idempotency-Key")
    assert len(client.application.extensions["sketchify"].store.jobs()) == 2


def test_a_retry_gets_its_job_back_while_new_work_is_refused(client, controlled, monkeypatch):
    controlled.start_gate.clear()
    key = {"Idempotency-Key": "order-7"}
    first = submit(client, headers=key, strokes="4")

    def refuse() -> None:
        raise QueueUnavailable("The job queue is unreachable.", retry_after_s=10)

    monkeypatch.setattr(client.application.extensions["sketchify"].executor,
                        "check_accepting", refuse)
    again = submit(client, headers=key, strokes="4")
    assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]
    assert_error(submit(client, headers=key, strokes="8"), 422, "Idempotency-Key")
    refused = submit(client, headers={"Idempotency-Key": "order-8"})
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "10"
    assert refused.get_json() == {"error": "The job queue is unreachable.", "field": None}
    assert submit(client).status_code == 503


# -- security ------------------------------------------------------------------------------------


def test_token_required_when_configured(make_app):
    client = make_app(TOKEN="s3cret-token").test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"},
                    {"Authorization": "Basic s3cret-token"}):
        response = client.get("/v1/health", headers=headers)
        assert_error(response, 401, None)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(submit(client), 401, None)
    ok = client.get("/v1/health", headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "10.0.0.5:8765",
                                  "127.0.0.1.nip.io"])
def test_loopback_server_refuses_foreign_host_names(client, host):
    assert_error(client.get("/v1/health", headers={"Host": host}), 403, None)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:8765", "[::1]:8765", "LOCALHOST:1"])
def test_loopback_host_names_pass(client, host):
    assert client.get("/v1/health", headers={"Host": host}).status_code == 200


def test_public_server_accepts_any_host(make_app):
    client = make_app(HOST="0.0.0.0", TOKEN="t").test_client()
    response = client.get("/v1/health", headers={"Host": "gpu-box.lan:8765",
                                                 "Authorization": "Bearer t"})
    assert response.status_code == 200


def test_foreign_origin_refused_without_cors(client):
    for origin in ("https://evil.example", "null", "http://localhost:3000"):
        assert_error(client.get("/v1/health", headers={"Origin": origin}), 403, None)
        assert_error(submit(client, headers={"Origin": origin}), 403, None)
    same = client.get("/v1/health", headers={"Origin": "http://localhost"})
    assert same.status_code == 200
    assert "Access-Control-Allow-Origin" not in same.headers


def test_configured_cors_origin(make_app):
    client = make_app(CORS_ORIGIN="https://app.example", TOKEN="t").test_client()
    origin = {"Origin": "https://app.example"}
    preflight = client.options("/v1/sketches", headers={
        **origin, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    ok = client.get("/v1/health", headers={**origin, "Authorization": "Bearer t"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://app.example"
    other = client.get("/v1/health", headers={"Origin": "https://evil.example"})
    assert_error(other, 403, None)
    assert "Access-Control-Allow-Origin" not in other.headers


# -- health and retention ------------------------------------------------------------------------


def test_health(client, controlled):
    body = client.get("/v1/health").get_json()
    assert body["status"] == "ok"
    assert body["version"]
    assert body["devices"] == ["cpu"]
    assert body["executor"] == "in-process" and body["models_loaded"] is True
    assert body["queue_length"] == 0 and body["running"] == []
    assert "PNG" in body["limits"]["formats"]
    controlled.start_gate.clear()
    job_id = submit(client).get_json()["id"]
    wait_for(controlled.entered.is_set)
    assert client.get("/v1/health").get_json()["running"] == [job_id]


def test_clean_shutdown_puts_the_running_job_back_in_the_queue(make_app, controlled):
    app = make_app()
    client = app.test_client()
    controlled.step_gate.clear()
    job_id = submit(client, steps="50").get_json()["id"]
    wait_for(controlled.reported.is_set)
    service = app.extensions["sketchify"]
    closing = threading.Thread(target=service.close)
    closing.start()
    controlled.open()
    closing.join(30)
    job = service.store.get(job_id)
    assert (job.status, job.attempts, job.started_at) == ("queued", 0, None)


def test_orphaned_input_folders_are_swept(make_app):
    store = make_app().extensions["sketchify"].store
    orphan = store.jobs_dir / ("a" * 32)
    orphan.mkdir()
    (orphan / "input").write_bytes(b"x")
    store.purge_finished(3600)
    assert orphan.exists()  # it may be a submission being stored right now
    os.utime(orphan, (time.time() - 3600, time.time() - 3600))
    store.purge_finished(3600)
    assert not orphan.exists()


def test_finished_jobs_are_removed_after_retention(make_app):
    app = make_app(RETENTION_HOURS=1 / 3600)  # one second
    client = app.test_client()
    job_id = submit(client).get_json()["id"]
    finished(client, job_id)
    folder = app.extensions["sketchify"].store.job_dir(job_id)
    assert folder.exists()
    wait_for(lambda: client.get(f"/v1/sketches/{job_id}").status_code == 404, timeout=10)
    wait_for(lambda: not folder.exists(), timeout=5)



# -- plot-ready SVGs ---------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "said"), [
    ("{", "not valid JSON"), ("[150]", "must be an object"), ('{"size_mm": 0}', "more than 0"),
    ('{"page": "B5"}', "unknown page 'B5'"), ('{"page": "A4", "size_mm": 100}', "not both"),
    ('{"pen": 0.5}', "unknown keys pen"), ('{"size_mm": "wide"}', "must be a number"),
    ('{"size_mm": 1e999}', "at most 10000 mm"),
    ('{"pen_mm": 0.04}', "pen width must be from 0.05 to 5 mm"),
    ('{"size_mm": 100, "pen_mm": 5.01}', "pen width must be from 0.05 to 5 mm"),
])
def test_a_bad_plot_is_422_naming_plot(client, value, said):
    body = assert_error(submit(client, plot=value), 422, "plot")
    assert said in body["error"]
    assert_error(submit_json(client, {"plot": value}), 422, "plot")


def test_the_pen_limits_themselves_are_taken(client):
    for pen in (0.05, 5):
        job = submit_json(client, {"strokes": [4], "plot": {"pen_mm": pen}})
        assert job.status_code == 202, job.get_json()
        assert job.get_json()["params"]["plot"]["pen_mm"] == pen


def test_plot_is_echoed_normalized_and_served_once_done(client, controlled):
    controlled.start_gate.clear()
    job = submit_json(client, {"strokes": [4, 8], "plot": {"page": "a6", "pen_mm": 0.3}})
    job = job.get_json()
    assert job["params"]["plot"] == {"page": "A6", "pen_mm": 0.3, "margin_mm": 10.0}
    assert_error(client.get(f"/v1/sketches/{job['id']}/plot?strokes=4"), 409, None)
    controlled.open()
    done = finished(client, job["id"])
    assert set(done["links"]["plot"]) == {"4", "8"}
    for count, link in done["links"]["plot"].items():
        response = client.get(link)
        assert response.status_code == 200 and response.mimetype == "image/svg+xml"
        root = etree.fromstring(response.data)
        assert (root.get("width"), root.get("height")) == ("148mm", "105mm")  # turned to fit
        paths = root.findall("{http://www.w3.org/2000/svg}path")
        assert len(paths) == int(count) and {p.get("stroke-width") for p in paths} == {"0.3"}
        assert provenance.read(response.data)["plot"] == done["params"]["plot"]
        # The stored SVG is the job's own: in pixels, the optimizer's order.
        stored = etree.fromstring(client.get(done["links"]["svg"][count]).data)
        assert stored.get("width") == "64" and provenance.read(
            client.get(done["links"]["svg"][count]).data)["plot"] is None
    assert_error(client.get(f"/v1/sketches/{job['id']}/plot?strokes=5"), 404, "strokes")
    assert_error(client.get(f"/v1/sketches/{job['id']}/plot"), 422, "strokes")


@pytest.mark.parametrize("pen", [0.01, 10])
def test_a_job_stored_by_0_3_0_with_a_pen_now_refused_is_still_served(make_app, tmp_path, pen):
    """0.3.0 took any positive pen: its stored jobs stay readable, the limit is for new ones."""
    data = tmp_path / "upgraded"
    old = make_app(DATA_DIR=data)
    job = submit_json(old.test_client(), {"strokes": [4], "plot": {"size_mm": 64}}).get_json()
    assert finished(old.test_client(), job["id"])["status"] == "done"
    old.extensions["sketchify"].close()
    # The row as 0.3.0's front wrote it for this pen (its door only asked for a positive one).
    with sqlite3.connect(data / "jobs.sqlite3") as db:
        (raw,) = db.execute("SELECT params FROM jobs WHERE id = ?", (job["id"],)).fetchone()
        params = json.loads(raw)
        params["plot"]["pen_mm"] = pen
        db.execute("UPDATE jobs SET params = ? WHERE id = ?", (json.dumps(params), job["id"]))
    client = make_app(DATA_DIR=data).test_client()
    done = client.get(f"/v1/sketches/{job['id']}").get_json()
    assert done["params"]["plot"] == {"size_mm": 64.0, "pen_mm": pen, "margin_mm": 0.0}
    listed = client.get("/v1/sketches").get_json()["items"]
    assert [j["links"] for j in listed if j["id"] == job["id"]] == [done["links"]]
    response = client.get(done["links"]["plot"]["4"])
    assert response.status_code == 200, response.get_data(as_text=True)
    paths = etree.fromstring(response.data).findall("{http://www.w3.org/2000/svg}path")
    assert len(paths) == 4 and {p.get("stroke-width") for p in paths} == {f"{pen:g}"}
    assert provenance.read(response.data)["plot"]["pen_mm"] == pen
    assert client.get(f"/v1/sketches/{job['id']}/zip").status_code == 200
    # A new request with that pen meets the limit.
    assert_error(submit_json(client, {"plot": {"pen_mm": pen}}), 422, "plot")


def test_a_start_and_a_plot_together_plot_the_given_paths_whole(client):
    from path_geometry import geometry, same_geometry

    job = submit_json(client, {"strokes": [4], "start": START, "plot": {"size_mm": 64}})
    params = job.get_json()["params"]
    assert params["start"]["given"] == 3
    assert params["plot"] == {"size_mm": 64.0, "pen_mm": 0.5, "margin_mm": 0.0}
    done = finished(client, job.get_json()["id"])
    assert done["status"] == "done", done["error"]
    stored = client.get(done["links"]["svg"]["4"]).data
    plotted = client.get(done["links"]["plot"]["4"]).data
    found = etree.fromstring(plotted).findall("{http://www.w3.org/2000/svg}path")
    assert len(found) == 4 and {p.get("stroke-width") for p in found} == {"0.5"}
    own = etree.fromstring(stored).findall("{http://www.w3.org/2000/svg}path")
    assert same_geometry([geometry(p.get("d")) for p in found],  # 1 mm per photo pixel
                         [geometry(p.get("d")) for p in own])
    record = provenance.read(plotted)
    assert (record["start"], record["plot"]) == (params["start"], params["plot"])


def test_a_plot_asked_again_is_served_from_the_cache_not_planned_again(client, monkeypatch):
    from sketchify.backend.storage import plot_cache

    planned = []

    def counted(*args, **kwargs):
        planned.append(args)
        return plot_svg(*args, **kwargs)

    plot_svg = plot_cache.plot_svg
    monkeypatch.setattr(plot_cache, "plot_svg", counted)
    job = submit_json(client, {"strokes": [4, 8], "plot": {"size_mm": 100}}).get_json()
    assert finished(client, job["id"])["status"] == "done"
    url = f"/v1/sketches/{job['id']}/plot?strokes="
    first, again = client.get(url + "4"), client.get(url + "4")
    assert first.status_code == again.status_code == 200
    assert again.data == first.data and len(planned) == 1
    assert client.get(url + "8").status_code == 200 and len(planned) == 2  # another count
    # The stored SVG replaced (the 8-stroke one as the 4's): its digest is another key.
    store = client.application.extensions["sketchify"].store
    store.svg_path(job["id"], 4).write_bytes(store.svg_path(job["id"], 8).read_bytes())
    replaced = client.get(url + "4")
    assert len(planned) == 3 and replaced.data != first.data
    assert len(etree.fromstring(replaced.data).findall("{http://www.w3.org/2000/svg}path")) == 8


def test_the_plot_cache_forgets_the_least_recently_used(monkeypatch):
    from sketchify.backend.storage import plot_cache

    planned = []
    monkeypatch.setattr(plot_cache, "plot_svg",
                        lambda stored, settings: planned.append(stored) or PlotSvg(stored))
    cache = plot_cache.PlotCache(max_entries=2)
    plot = {"size_mm": 100.0, "pen_mm": 0.5, "margin_mm": 0.0}
    for stored in (b"a", b"b", b"a", b"c", b"a", b"b"):  # c pushes b out, a stays in use
        assert cache.plotted("job", 4, stored, plot) == stored
    assert planned == [b"a", b"b", b"c", b"b"]
    cache.plotted("job", 4, b"a", {**plot, "pen_mm": 0.3})  # other settings: planned anew
    assert planned[-1] == b"a" and len(planned) == 5


class PlotSvg:
    """What plot_svg returns, as far as the cache reads it."""

    def __init__(self, svg: bytes) -> None:
        self.svg = svg


def test_a_job_without_plot_has_no_plot_link_and_its_plot_is_404(client):
    job = submit(client, strokes="4").get_json()
    assert job["params"]["plot"] is None
    done = finished(client, job["id"])
    assert "plot" not in done["links"]
    assert_error(client.get(f"/v1/sketches/{job['id']}/plot"), 404, None)


def test_a_stored_sketch_the_plot_cannot_draw_is_409(client):
    job = submit_json(client, {"strokes": [4], "plot": {"size_mm": 100}}).get_json()
    assert finished(client, job["id"])["status"] == "done"
    stored = client.application.extensions["sketchify"].store.svg_path(job["id"], 4)
    stored.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="48">'
                      '<path d="M 0 0 Q 5 5"/></svg>')  # a broken stroke
    body = assert_error(client.get(f"/v1/sketches/{job['id']}/plot"), 409, None)
    assert "cannot be made plot-ready" in body["error"] and "number is missing" in body["error"]
