"""Versioned job data: the data folders left by releases 0.1.0 and 0.2.0 (each killed mid-job)
open in this one, and one from a newer release is refused untouched. The fixtures were made by
the real releases' code (tests/fixtures/release-0.1.0/README.md says how)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from backend_helpers import Server, sketchify_command, wait_for
from lxml import etree

from sketchify.backend.api.estimates import QueueSnapshot
from sketchify.backend.storage import schema
from sketchify.backend.storage.disk import DiskFullError
from sketchify.backend.storage.jobs import CANCELED, DONE, QUEUED, JobStore
from sketchify.backend.storage.schema import SCHEMA_VERSION, DatabaseVersionError

pytest_plugins = ["backend_fixtures"]
FIXTURES = Path(__file__).parents[1] / "fixtures"
RELEASES = ("0.1.0", "0.2.0")
# The schema each release wrote (0.1.0 wrote no user_version: 0).
WROTE = {"0.1.0": 0, "0.2.0": 2}
SVG_PATH = "{http://www.w3.org/2000/svg}path"


def fixture(release: str) -> Path:
    return FIXTURES / f"release-{release}"


def ids(release: str) -> dict[str, str]:
    return json.loads((fixture(release) / "jobs.json").read_text())


@pytest.fixture(params=RELEASES)
def release(request) -> str:
    return request.param


@pytest.fixture
def old_data(tmp_path: Path, release: str) -> Path:
    """A copy of a release's data folder (the test must never change the one in the
    repository)."""
    return Path(shutil.copytree(fixture(release) / "data", tmp_path / "data"))


def user_version(path: Path) -> int:
    with sqlite3.connect(path / "jobs.sqlite3") as db:
        return db.execute("PRAGMA user_version").fetchone()[0]


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder``: content hash and modification time (but SQLite's -shm
    index, which any reader rebuilds from the log and which holds no data)."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                         p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith("-shm")}


def test_the_fixture_is_what_the_release_left(old_data, release):
    """Guards the fixtures themselves: the release's version and columns, one job running,
    no job with a start."""
    known = ids(release)
    with sqlite3.connect(old_data / "jobs.sqlite3") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == WROTE[release]
        columns = [row[1] for row in db.execute("PRAGMA table_info(jobs)")]
        statuses = dict(db.execute("SELECT id, status FROM jobs"))
        params = [json.loads(raw) for (raw,) in db.execute("SELECT params FROM jobs")]
    assert ("filename" in columns and "device" in columns) == (release == "0.2.0")
    assert not any("start" in p or "precision" in p for p in params)
    assert statuses == {known["done_one_count"]: DONE, known["done_two_counts"]: DONE,
                        known["canceled_with_preview"]: CANCELED,
                        known["running_when_killed"]: "running", known["queued"]: QUEUED}


def test_a_new_database_is_created_at_the_current_version(tmp_path):
    store = JobStore(tmp_path / "data")
    job, _ = store.add({"strokes": [4]}, b"image", filename="cat.jpg", mask_image=b"mask")
    assert user_version(tmp_path / "data") == SCHEMA_VERSION == 3
    assert store.get(job.id).filename == "cat.jpg"
    assert store.read_mask(job.id) == b"mask"
    assert store.read_mask(store.add({"strokes": [4]}, b"image")[0].id) is None
    JobStore(tmp_path / "data")  # opening again changes nothing
    assert user_version(tmp_path / "data") == SCHEMA_VERSION


def test_an_old_database_migrates_in_place_keeping_every_job(old_data, release):
    known = ids(release)
    before = {p.relative_to(old_data): p.read_bytes() for p in (old_data / "jobs").rglob("*")
              if p.is_file()}
    store = JobStore(old_data)
    assert user_version(old_data) == SCHEMA_VERSION
    jobs = {job.id: job for job in store.jobs()}
    assert set(jobs) == set(known.values())
    for job in jobs.values():
        assert job.params["mask"] == "none"  # what 0.1.0 did, now said
        # What the releases before schema 3 ran: no start, the default precision.
        assert job.params["start"] is None and job.params["precision"] == "auto"
        assert job.filename is None  # the fixtures' clients sent none
        assert job.device == (None if release == "0.1.0" or job.status == QUEUED else "cpu")
    done = jobs[known["done_two_counts"]]
    assert (done.status, done.params["preset"], done.resolved_preset) == (DONE, "standard",
                                                                          "standard")
    assert done.params["prompt"] == "a box" and done.params["width"] == 2.5
    assert done.idempotency_key == "fixture-key"
    assert store.by_key("fixture-key", done.fingerprint).id == done.id
    assert jobs[known["queued"]].resolved_preset is None
    # Every file is still there, byte for byte.
    after = {p.relative_to(old_data): p.read_bytes() for p in (old_data / "jobs").rglob("*")
             if p.is_file()}
    assert after == before
    assert len(before) == 13  # 5 inputs, 3 results, 5 previews
    for job_id in known.values():
        assert store.read_input(job_id) == before[Path("jobs", job_id, "input")]
    assert store.svg_path(done.id, 8).read_bytes() == before[Path("jobs", done.id,
                                                                  "result-8.svg")]
    # The job that was running when 0.1.0 was killed goes back to the front of the queue.
    assert store.recover_interrupted(max_attempts=3) == ([known["running_when_killed"]], [])
    requeued = store.get(known["running_when_killed"])
    assert requeued.status == QUEUED and requeued.attempts == 1
    assert QueueSnapshot(store, {}).position(requeued) == 0
    assert store.claim_next("cpu", lambda params: "draft").id == requeued.id


def test_a_migration_that_fails_half_way_leaves_the_old_database(old_data, release,
                                                                 monkeypatch):
    def broken(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE jobs ADD COLUMN extra TEXT")
        db.execute("UPDATE jobs SET params = '{}'")
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setitem(schema.MIGRATIONS, max(WROTE[release], 1), broken)
    with pytest.raises(DiskFullError):
        JobStore(old_data)
    with sqlite3.connect(old_data / "jobs.sqlite3") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == WROTE[release]
        assert "extra" not in [row[1] for row in db.execute("PRAGMA table_info(jobs)")]
        params = json.loads(db.execute("SELECT params FROM jobs LIMIT 1").fetchone()[0])
    assert params["strokes"] and "start" not in params
    monkeypatch.undo()
    assert len(JobStore(old_data).jobs()) == len(ids(release))  # a later start migrates it


def newer_database(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    store = JobStore(data)
    store.add({"strokes": [4]}, b"image")
    store.close()
    with sqlite3.connect(data / "jobs.sqlite3") as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    return data


def test_a_newer_database_is_refused_and_left_untouched(tmp_path):
    data = newer_database(tmp_path)
    before = snapshot(data)
    with pytest.raises(DatabaseVersionError, match="newer Sketchify"):
        JobStore(data)
    assert snapshot(data) == before


def test_serve_refuses_a_newer_database_with_exit_2_and_one_sentence(tmp_path,
                                                                      tiny_model_args):
    data = newer_database(tmp_path)
    before = snapshot(data)
    args = [*sketchify_command(), "serve", "--port", "0", "--data-dir", str(data),
            "--device", "cpu"]
    for name, value in tiny_model_args.items():
        args += [f"--{name.replace('_', '-')}", value]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "newer Sketchify" in lines[0]
    assert f"version {SCHEMA_VERSION + 1}" in lines[0]
    assert snapshot(data) == before


def test_serve_opens_an_old_data_folder_and_serves_every_job(old_data, release,
                                                             tiny_model_args):
    known, folder = ids(release), fixture(release)
    # The fixture's jobs finished long ago: a retention sweep must not remove them here.
    server = Server(old_data, tiny_model_args, "--retention-hours", "1000000")
    try:
        def get_svg(link: str) -> bytes:
            response = server.http.get(server.url + link, timeout=30)
            assert response.status_code == 200, response.text
            return response.content

        for name in ("done_one_count", "done_two_counts"):
            job = server.job(known[name])
            assert job["status"] == "done" and job["resolved_preset"] == job["params"]["preset"]
            for count, link in job["links"]["svg"].items():
                stored = folder / "data" / "jobs" / job["id"] / f"result-{count}.svg"
                assert get_svg(link) == stored.read_bytes()
                assert len(etree.fromstring(get_svg(link)).findall(f".//{SVG_PATH}")) == int(
                    count)
        canceled = server.job(known["canceled_with_preview"])
        assert canceled["status"] == "canceled"
        preview = folder / "data" / "jobs" / canceled["id"] / "preview-4.svg"
        assert get_svg(canceled["links"]["preview"]["4"]) == preview.read_bytes()
        # Requeued at start-up and run again by this release (the only one ahead of `queued`).
        interrupted = wait_for(lambda: (j := server.job(known["running_when_killed"]))[
            "attempts"] == 2 and j, timeout=60)
        assert interrupted["status"] == "running"
        assert (interrupted["device"], interrupted["resolved_preset"]) == ("cpu", "standard")
        assert server.job(known["queued"])["queue_position"] == 0
        assert server.http.delete(f"{server.url}/v1/sketches/{known['running_when_killed']}",
                                  timeout=30).status_code == 202
        assert server.finished(known["running_when_killed"], timeout=60)["status"] == "canceled"
        # The job 0.1.0 left queued runs here (its "draft" is what it asked for).
        queued = server.finished(known["queued"], timeout=120)
        assert queued["status"] == "done" and queued["params"]["mask"] == "none"
        assert queued["params"]["precision"] == "auto"  # what it ran, stored before the field
        assert queued["params"]["start"] is None
        assert sorted(queued["links"]["svg"]) == ["16", "8"]
        assert server.stop() == 0
    finally:
        server.stop()
