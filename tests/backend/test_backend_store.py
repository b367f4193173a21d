"""The SQLite job store on its own: crash recovery, attempts, idempotency races, atomic files."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from sketchify.backend.api.estimates import QueueSnapshot
from sketchify.backend.storage.jobs import CANCELED, FAILED, QUEUED, IdempotencyConflict, JobStore

PARAMS = {"strokes": [4], "preset": "draft"}


@pytest.fixture
def store(tmp_path) -> JobStore:
    return JobStore(tmp_path / "data")


def test_interrupted_job_is_requeued_then_failed_after_max_attempts(store):
    job, _ = store.add(PARAMS, b"image")
    for attempt in (1, 2):
        claimed = store.claim_next()
        assert (claimed.id, claimed.attempts) == (job.id, attempt)
        # The process dies here; the next start recovers.
        reopened = JobStore(store.data_dir)
        requeued, failed = reopened.recover_interrupted(max_attempts=2)
        if attempt == 1:
            assert (requeued, failed) == ([job.id], [])
            assert reopened.get(job.id).status == QUEUED
    assert (requeued, failed) == ([], [job.id])
    dead = reopened.get(job.id)
    assert dead.status == FAILED and "2 times" in dead.error and dead.finished_at is not None


def test_job_canceled_while_running_stays_canceled_after_a_crash(store):
    job, _ = store.add(PARAMS, b"image")
    store.claim_next()
    assert store.cancel(job.id).cancel_requested
    assert store.recover_interrupted(max_attempts=3) == ([], [])
    assert store.get(job.id).status == CANCELED


def test_requeued_job_keeps_its_place_at_the_front(store):
    first, _ = store.add(PARAMS, b"1")
    second, _ = store.add(PARAMS, b"2")
    store.claim_next()
    store.recover_interrupted(max_attempts=3)
    assert QueueSnapshot(store, {}).position(store.get(first.id)) == 0
    assert QueueSnapshot(store, {}).position(store.get(second.id)) == 1
    assert store.claim_next().id == first.id


def test_concurrent_submissions_with_one_key_make_one_job(store):
    ids, errors = [], []

    def submit() -> None:
        try:
            ids.append(store.add(PARAMS, b"same", idempotency_key="k", fingerprint="f")[0].id)
        except Exception as error:  # collected: an assert in a thread would go unseen
            errors.append(error)
        finally:
            store.close()

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(ids) == 8 and len(set(ids)) == 1
    assert len(store.jobs()) == 1
    assert [p.name for p in store.jobs_dir.iterdir()] == ids[:1]  # losers left no files
    with pytest.raises(IdempotencyConflict):
        store.add(PARAMS, b"other", idempotency_key="k", fingerprint="g")


def test_results_are_written_before_the_row_says_done_and_leave_no_temp_files(store):
    job, _ = store.add(PARAMS, b"image")
    store.claim_next()
    store.set_progress(job.id, 1, 10, float("inf"), {4: "<svg>preview</svg>"})
    assert store.get(job.id).eta_s is None  # no estimate yet, and JSON has no Infinity
    store.finish(job.id, {4: "<svg>final</svg>"}, steps=10)
    assert store.svg_path(job.id, 4).read_text() == "<svg>final</svg>"
    assert sorted(p.name for p in store.job_dir(job.id).iterdir()) == [
        "input", "preview-4.svg", "result-4.svg"]
    done = store.get(job.id)
    assert (done.status, done.step, done.total) == ("done", 10, 10)


def test_cancel_without_new_strokes_keeps_the_earlier_preview(store):
    job, _ = store.add(PARAMS, b"image")
    store.claim_next()
    store.set_progress(job.id, 5, 25, 1.0, {4: "<svg/>"})
    store.mark_canceled(job.id, {})
    canceled = store.get(job.id)
    assert canceled.status == CANCELED and canceled.has_preview


def test_a_failed_commit_rolls_back_and_the_connection_stays_usable(store):
    db = store._db()
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    db.execute("CREATE TABLE child (parent REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)")
    with pytest.raises(sqlite3.IntegrityError), store._write() as tx:
        tx.execute("INSERT INTO child VALUES (1)")  # the deferred check fails at COMMIT
    assert not db.in_transaction
    job, created = store.add(PARAMS, b"image")
    assert created and JobStore(store.data_dir).get(job.id) is not None
