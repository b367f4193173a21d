"""The endpoints behind the web page, through Flask's test client: the job list and its
cursor, the photo's file name, the zip of a job's SVGs and its photo.

The executor is not started, so jobs stay where a test puts them; states move through the real
JobStore's own methods, as an executor moves them.
"""

from __future__ import annotations

import base64
import io
import zipfile
from typing import Any

import pytest
from backend_helpers import example_image, png_bytes

pytest_plugins = ["backend_fixtures", "web_fixtures"]
TOKEN = "web-api-token"


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


def submit(client, name: str = "photo.png", image: bytes | None = None, **fields: Any) -> str:
    data: dict[str, Any] = {"strokes": "4", "preset": "draft", **fields}
    data["image"] = (io.BytesIO(png_bytes() if image is None else image), name)
    response = client.post("/v1/sketches", data=data, content_type="multipart/form-data")
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def run_to(app, status: str, svgs: dict[int, str] | None = None) -> str:
    """Move the oldest queued job to ``status`` as an executor would; returns its id."""
    store = app.extensions["sketchify"].store
    job = store.claim_next()
    if status == "done":
        store.finish(job.id, svgs or {n: f"<svg id='{n}'/>" for n in job.strokes}, 2)
    elif status == "failed":
        store.fail(job.id, "The engine failed.")
    elif status == "canceled":
        store.cancel(job.id)
        store.mark_canceled(job.id)
    return job.id


def assert_error(response, status: int, field: str | None) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["field"] == field and body["error"]
    return body["error"]


# -- the job list ---------------------------------------------------------------------------


def test_list_is_newest_first_twenty_by_default(client):
    ids = [submit(client) for _ in range(23)]
    page = client.get("/v1/sketches")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    body = page.get_json()
    assert set(body) == {"items", "next_cursor"}
    assert [job["id"] for job in body["items"]] == ids[::-1][:20]
    assert isinstance(body["next_cursor"], str)


def test_cursor_pages_through_every_job_once_while_new_ones_arrive(client):
    ids = [submit(client) for _ in range(12)]
    seen, cursor, pages = [], None, 0
    while True:
        query = "limit=5" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(f"/v1/sketches?{query}").get_json()
        seen += [job["id"] for job in body["items"]]
        pages += 1
        if pages == 1:
            submit(client)  # a newer job must not shift the pages that follow
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    assert pages == 3


def test_last_page_has_no_cursor(client):
    ids = [submit(client) for _ in range(3)]
    body = client.get("/v1/sketches?limit=3").get_json()
    assert [job["id"] for job in body["items"]] == ids[::-1]
    assert body["next_cursor"] is None
    assert client.get("/v1/sketches?limit=100").get_json()["next_cursor"] is None


def test_an_empty_server_lists_nothing(client):
    assert client.get("/v1/sketches").get_json() == {"items": [], "next_cursor": None}


def test_status_filter_takes_one_or_several_statuses(app, client):
    for _ in range(5):
        submit(client)
    done, failed, canceled = (run_to(app, status) for status in ("done", "failed", "canceled"))
    running = run_to(app, "running")
    queued = client.get("/v1/sketches?status=queued").get_json()["items"]
    assert [job["status"] for job in queued] == ["queued"]

    def listed(status: str) -> list[str]:
        items = client.get(f"/v1/sketches?status={status}").get_json()["items"]
        return [job["id"] for job in items]

    assert listed("done") == [done]
    assert listed("failed,canceled") == [canceled, failed]
    assert listed("running,queued") == [queued[0]["id"], running]


def test_items_are_the_jobs_own_json(app, client):
    submit(client, name="cat.png", strokes="4,8")
    run_to(app, "done")
    submit(client, name="dog.png")
    for item in client.get("/v1/sketches").get_json()["items"]:
        assert item == client.get(f"/v1/sketches/{item['id']}").get_json()


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=101", "limit"), ("limit=abc", "limit"), ("limit=-1", "limit"),
     ("limit=", "limit"), ("limit=2.5", "limit"), ("limit=%D9%A3", "limit"),
     ("limit=5&limit=6", "limit"), ("status=bogus", "status"), ("status=", "status"),
     ("status=done,nope", "status"), ("cursor=garbage!", "cursor"), ("cursor=", "cursor"),
     (f"cursor={base64.urlsafe_b64encode(b'v1:x').decode()}", "cursor"),
     (f"cursor={base64.urlsafe_b64encode(b'12').decode()}", "cursor"),
     (f"cursor={base64.urlsafe_b64encode(bytes([255, 0])).decode()}", "cursor"),
     ("page=2", "page"), ("=2", None),  # a nameless parameter names no field (fuzzer)
     # Found by fuzzing, each a 500: a queue number beyond SQLite's 64 bits, 5000 digits.
     (f"cursor={base64.urlsafe_b64encode(f'v1:{2**63}'.encode()).decode()}", "cursor"),
     (f"cursor={base64.urlsafe_b64encode(('v1:' + '9' * 5000).encode()).decode()}", "cursor"),
     ("limit=" + "9" * 5000, "limit")],
)
def test_bad_list_query_is_422_naming_the_parameter(client, query, field):
    submit(client)
    assert_error(client.get(f"/v1/sketches?{query}"), 422, field)


# -- the photo's file name ------------------------------------------------------------------


def test_multipart_keeps_the_image_parts_file_name_without_its_path(client):
    job_id = submit(client, name="C:\\fakepath\\My cat.png")
    assert client.get(f"/v1/sketches/{job_id}").get_json()["filename"] == "My cat.png"


@pytest.mark.parametrize(("disposition", "kept"), [
    # What browsers write: a bare name, or (old ones) a path with its backslashes as they are,
    # which Werkzeug 3.1.4+ alone would read as escapes ("C:fakepathMy cat.png").
    ('filename="cat.jpg"', "cat.jpg"),
    ('filename="C:\\fakepath\\My cat.png"', "My cat.png"),
    ('filename="photos/2024/dog.png"', "dog.png"),
    # curl escapes a quote; RFC 5987's extended form wins over the plain one; a bare token.
    ('filename="say \\"cheese\\".png"', 'say "cheese".png'),
    ("filename=\"fallback.png\"; filename*=UTF-8''%C3%BC%20b.png", "ü b.png"),
    ("filename=plain.png", "plain.png"),
])
def test_the_image_parts_file_name_is_read_from_the_raw_header(client, disposition, kept):
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"strokes\"\r\n\r\n4\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=\"image\"; "
            + disposition.encode() + b"\r\nContent-Type: image/png\r\n\r\n"
            + png_bytes() + b"\r\n--XyZ--\r\n")
    response = client.post("/v1/sketches", data=body,
                           content_type="multipart/form-data; boundary=XyZ")
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["filename"] == kept


def test_json_takes_an_optional_filename(client):
    image = base64.b64encode(png_bytes()).decode()
    named = client.post("/v1/sketches", json={"image": image, "filename": "shots/dog.png"})
    assert named.status_code == 202 and named.get_json()["filename"] == "dog.png"
    anonymous = client.post("/v1/sketches", json={"image": image})
    assert anonymous.status_code == 202 and anonymous.get_json()["filename"] is None


@pytest.mark.parametrize("value", [5, ["a.png"], "x" * 256])
def test_bad_json_filename_is_422(client, value):
    image = base64.b64encode(png_bytes()).decode()
    assert_error(client.post("/v1/sketches", json={"image": image, "filename": value}), 422,
                 "filename")


def test_multipart_has_no_filename_field(client):
    data = {"image": (io.BytesIO(png_bytes()), "a.png"), "filename": "b.png"}
    assert_error(client.post("/v1/sketches", data=data, content_type="multipart/form-data"),
                 422, "filename")


def test_a_file_name_too_long_to_exist_is_422_for_the_image(client):
    data = {"image": (io.BytesIO(png_bytes()), "y" * 252 + ".png")}
    assert_error(client.post("/v1/sketches", data=data, content_type="multipart/form-data"),
                 422, "image")


# -- the zip --------------------------------------------------------------------------------


def test_zip_is_409_until_done(app, client):
    job_id = submit(client)
    assert "queued" in assert_error(client.get(f"/v1/sketches/{job_id}/zip"), 409, None)
    run_to(app, "running")
    assert "running" in assert_error(client.get(f"/v1/sketches/{job_id}/zip"), 409, None)
    for status in ("failed", "canceled"):
        submit(client)
        other = run_to(app, status)
        assert status[:5] in assert_error(client.get(f"/v1/sketches/{other}/zip"), 409, None)


def test_zip_holds_every_svg_named_after_the_photo(app, client):
    job_id = submit(client, name="my cat.v2.jpg", image=example_image(), strokes="4,16")
    run_to(app, "done", {4: "<svg>four</svg>", 16: "<svg>sixteen</svg>"})
    response = client.get(f"/v1/sketches/{job_id}/zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"] == 'attachment; filename="my cat.v2.zip"'
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert archive.namelist() == ["my cat.v2.4.svg", "my cat.v2.16.svg"]
    for count in (4, 16):
        served = client.get(f"/v1/sketches/{job_id}/svg?strokes={count}").data
        assert archive.read(f"my cat.v2.{count}.svg") == served
    assert client.get(f"/v1/sketches/{job_id}/zip").data == response.data  # same bytes again


def test_zip_names_are_safe_and_fall_back_to_the_job(app, client):
    unsafe = submit(client, name="a:b?|c.png")
    run_to(app, "done")
    names = zipfile.ZipFile(io.BytesIO(client.get(f"/v1/sketches/{unsafe}/zip").data)).namelist()
    assert names == ["a_b__c.4.svg"]
    image = base64.b64encode(png_bytes()).decode()
    anonymous = client.post("/v1/sketches", json={"image": image, "strokes": 8}).get_json()["id"]
    run_to(app, "done")
    response = client.get(f"/v1/sketches/{anonymous}/zip")
    assert zipfile.ZipFile(io.BytesIO(response.data)).namelist() == [
        f"sketch-{anonymous[:8]}.8.svg"]
    assert f"sketch-{anonymous[:8]}.zip" in response.headers["Content-Disposition"]


def test_zip_and_image_of_an_unknown_job_are_404(client):
    for what in ("zip", "image"):
        assert_error(client.get(f"/v1/sketches/{'0' * 32}/{what}"), 404, None)
        assert_error(client.get(f"/v1/sketches/nope/{what}"), 404, None)


# -- the photo ------------------------------------------------------------------------------


@pytest.mark.parametrize(("image", "mimetype"), [
    (png_bytes(), "image/png"), (example_image(), "image/jpeg"),
    (png_bytes(fmt="WEBP"), "image/webp"), (png_bytes(fmt="GIF", mode="P"), "image/gif"),
])
def test_image_is_the_photo_exactly_as_submitted(client, image, mimetype):
    job_id = submit(client, image=image)
    response = client.get(f"/v1/sketches/{job_id}/image")
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.data == image


# -- guards ---------------------------------------------------------------------------------


def test_new_endpoints_need_the_token(make_app):
    client = make_app(TOKEN=TOKEN).test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    data = {"image": (io.BytesIO(png_bytes()), "a.png"), "strokes": "4"}
    job_id = client.post("/v1/sketches", data=data, headers=auth).get_json()["id"]
    for path in ("/v1/sketches", f"/v1/sketches/{job_id}/zip", f"/v1/sketches/{job_id}/image"):
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = client.get(path, headers=headers)
            assert_error(response, 401, None)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/v1/sketches", headers=auth).status_code == 200
    assert client.get(f"/v1/sketches/{job_id}/image", headers=auth).status_code == 200


def test_new_endpoints_keep_the_origin_and_host_guards(client):
    submit(client)
    assert_error(client.get("/v1/sketches", headers={"Origin": "https://evil.example"}), 403, None)
    assert_error(client.get("/v1/sketches", headers={"Host": "evil.example"}), 403, None)
    same_origin = client.get("/v1/sketches", headers={"Origin": "http://localhost"})
    assert same_origin.status_code == 200
