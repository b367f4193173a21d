"""A full disk: new submissions get 507, a job whose result does not fit fails with that
message and leaves nothing half-written, nothing stored is lost, and work resumes once space
is freed, without a restart. Once on a real 4 MB tmpfs (needs root to mount), always with an
injected ENOSPC."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from backend_helpers import ControlledSketcher, Server, png_bytes, wait_for

from sketchify.backend.app import create_app
from sketchify.backend.storage import disk
from sketchify.backend.storage.disk import RESERVE_NAME, RESULT_NOT_STORED, DiskFullError, DiskSpace
from sketchify.backend.storage.jobs import FINISHED
from sketchify.core.output import files

pytest_plugins = ["backend_fixtures"]
FAST = {"preset": "draft", "steps": "2", "seeds": "1", "strokes": "4"}


class _FullDiskFile:
    """An open file on which the disk fills: half of the first write lands, then ENOSPC."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __enter__(self) -> _FullDiskFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.inner.close()

    def write(self, data: bytes) -> int:
        self.inner.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def fill_disk_for(monkeypatch: pytest.MonkeyPatch, name_part: str) -> None:
    """Every file the backend writes whose name contains ``name_part`` hits a full disk."""
    real_open = open

    def opener(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        f = real_open(path, mode, *args, **kwargs)
        writes = "w" in mode or "x" in mode
        return _FullDiskFile(f) if name_part in Path(path).name and writes else f

    monkeypatch.setattr(files, "open", opener, raising=False)


def leftovers(folder: Path) -> list[str]:
    """Temporary files a write left behind (there must be none)."""
    return sorted(p.name for p in folder.rglob("*.tmp"))


@pytest.fixture
def controlled(tiny_sketcher: Any) -> ControlledSketcher:
    return ControlledSketcher(tiny_sketcher)


@pytest.fixture
def app(tmp_path, controlled) -> Iterator[Any]:
    app = create_app({"DATA_DIR": tmp_path / "data", "SKETCHERS": [controlled],
                      "PROGRESS_EVERY_S": 0.0, "MIN_FREE_BYTES": 0})
    yield app
    controlled.open()
    app.extensions["sketchify"].close()


def submit(client: Any, **fields: str) -> Any:
    data: dict[str, Any] = {**FAST, **fields, "image": (io.BytesIO(png_bytes()), "p.png")}
    return client.post("/v1/sketches", data=data, content_type="multipart/form-data")


def finished(client: Any, job_id: str, timeout: float = 60) -> dict[str, Any]:
    return wait_for(lambda: (j := client.get(f"/v1/sketches/{job_id}").get_json())["status"]
                    in FINISHED and j, timeout=timeout)


def test_a_submission_that_hits_a_full_disk_is_507_and_leaves_nothing(app, monkeypatch):
    client = app.test_client()
    store = app.extensions["sketchify"].store
    fill_disk_for(monkeypatch, "input")
    response = submit(client)
    assert response.status_code == 507
    body = response.get_json()
    assert body["field"] is None and "disk is full" in body["error"]
    assert store.jobs() == [] and list(store.jobs_dir.iterdir()) == []
    assert leftovers(store.data_dir) == []
    monkeypatch.undo()  # space freed: the next submission is taken, no restart
    assert submit(client).status_code == 202


def test_below_the_free_space_threshold_new_work_is_refused_and_queued_jobs_wait(
        app, controlled):
    client = app.test_client()
    space = app.extensions["sketchify"].store.space
    health = client.get("/v1/health").get_json()
    assert health["disk"]["accepting"] is True
    assert isinstance(health["disk"]["free_bytes"], int) and health["disk"]["free_bytes"] > 0
    controlled.start_gate.clear()  # the one worker holds the first job ...
    first = submit(client).get_json()["id"]
    assert controlled.entered.wait(30)
    waiting = submit(client).get_json()["id"]  # ... so this one is queued
    space.min_free_bytes = health["disk"]["free_bytes"] * 1000  # the disk "fills up"
    response = submit(client)
    assert response.status_code == 507
    assert "MB free in its data folder" in response.get_json()["error"]
    assert client.get("/v1/health").get_json()["disk"]["accepting"] is False
    controlled.open()
    assert finished(client, first)["status"] == "done"  # a running job still stores its result
    time.sleep(1.0)  # the worker looked at the disk (and the queue) meanwhile
    assert client.get(f"/v1/sketches/{waiting}").get_json()["status"] == "queued"
    space.min_free_bytes = 0  # space freed: it runs, without a restart
    assert finished(client, waiting)["status"] == "done"
    assert client.get("/v1/health").get_json()["disk"]["accepting"] is True
    assert submit(client).status_code == 202


def test_a_result_that_does_not_fit_fails_the_job_and_keeps_what_was_stored(
        app, controlled, monkeypatch):
    client = app.test_client()
    store = app.extensions["sketchify"].store
    done = submit(client).get_json()["id"]
    assert finished(client, done)["status"] == "done"
    kept = client.get(f"/v1/sketches/{done}/svg").data
    controlled.step_gate.clear()  # the next job stops after its first progress report
    job_id = submit(client, steps="3").get_json()["id"]
    wait_for(lambda: client.get(f"/v1/sketches/{job_id}").get_json()["links"].get("preview"))
    preview = client.get(f"/v1/sketches/{job_id}/svg?preview=1").data
    fill_disk_for(monkeypatch, "result-")
    controlled.open()
    failed = finished(client, job_id)
    assert failed["status"] == "failed" and failed["error"] == RESULT_NOT_STORED
    assert sorted(p.name for p in store.job_dir(job_id).iterdir()) == ["input", "preview-4.svg"]
    assert leftovers(store.data_dir) == []
    # The best strokes stored before the disk filled are still there to fetch.
    assert client.get(f"/v1/sketches/{job_id}/svg?preview=1").data == preview
    assert client.get(f"/v1/sketches/{done}/svg").data == kept  # nothing stored is lost
    monkeypatch.undo()
    again = submit(client).get_json()["id"]
    assert finished(client, again)["status"] == "done"


def test_the_reserve_makes_room_for_an_outcome_and_comes_back(tmp_path):
    space = DiskSpace(tmp_path, min_free_bytes=0)
    assert space.accepting() and (tmp_path / RESERVE_NAME).stat().st_size == disk.RESERVE_BYTES
    calls = []

    def outcome() -> str:
        calls.append(len(calls))
        if len(calls) == 1:
            raise DiskFullError("full")
        return "recorded"

    assert space.essential(outcome) == "recorded" and calls == [0, 1]
    assert not (tmp_path / RESERVE_NAME).exists()  # given up to record it
    with pytest.raises(DiskFullError):  # no reserve left: the next one cannot be helped
        space.essential(lambda: (_ for _ in ()).throw(DiskFullError("full")))
    # ...but it is tried once more: an outcome written beside the one that took the reserve
    # may fit in what that freed.
    calls.clear()
    assert space.essential(outcome) == "recorded" and calls == [0, 1]
    assert space.accepting() and (tmp_path / RESERVE_NAME).exists()  # room again: re-made


# -- a real full filesystem ---------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs mounted for this test (root only), unmounted afterwards."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the injected-ENOSPC tests above still ran")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(path: Path) -> None:
    """Write to ``path`` until its filesystem is full."""
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\1" * 65536)
                f.flush()
        except OSError as error:
            assert error.errno == errno.ENOSPC


def test_a_full_tmpfs_refuses_work_fails_the_unstorable_job_and_recovers(
        small_disk, tmp_path, tiny_model_args):
    server = Server(small_disk / "data", tiny_model_args, "--min-free-mb", "0.5",
                    log=tmp_path / "serve.log")
    try:
        done = server.submit(strokes=4, steps=2).json()["id"]
        assert server.finished(done)["status"] == "done"
        kept = server.http.get(f"{server.url}/v1/sketches/{done}/svg", timeout=30).content
        # `standard` has no early stop: 15 steps of 5 views last seconds even on a fast CPU.
        running = server.submit(strokes=4, steps=15, preset="standard").json()["id"]
        wait_for(lambda: server.job(running)["links"].get("preview"), timeout=60)
        fill(small_disk / "filler")
        refused = server.submit(strokes=4, steps=2)
        assert refused.status_code == 507, refused.text
        assert "disk is full" in refused.json()["error"]
        health = server.http.get(f"{server.url}/v1/health", timeout=30).json()["disk"]
        assert health["accepting"] is False and health["free_bytes"] < 2**19
        failed = server.finished(running, timeout=120)
        assert failed["status"] == "failed" and failed["error"] == RESULT_NOT_STORED
        folder = small_disk / "data" / "jobs" / running
        assert sorted(p.name for p in folder.iterdir()) == ["input", "preview-4.svg"]
        assert leftovers(small_disk / "data") == []
        assert server.http.get(f"{server.url}/v1/sketches/{done}/svg",
                               timeout=30).content == kept
        (small_disk / "filler").unlink()  # space freed: the same process takes work again
        wait_for(lambda: server.http.get(f"{server.url}/v1/health", timeout=30).json()[
            "disk"]["accepting"], timeout=30)
        again = server.submit(strokes=4, steps=2)
        assert again.status_code == 202, again.text
        assert server.finished(again.json()["id"])["status"] == "done"
        assert server.proc.poll() is None
    finally:
        server.stop()
