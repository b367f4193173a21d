"""The job store: SQLite (WAL) rows for jobs, files beside it for inputs and SVG results.

It is the single source of truth for jobs: the HTTP layer reads it, executors move jobs through
their states with the methods here. Every state change is one guarded UPDATE, so a cancel and
a worker claiming the same job can race without corrupting anything.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sketchify.backend import limits
from sketchify.backend.storage.disk import (
    DiskFullError,
    DiskSpace,
    full_disk_as_error,
    write_atomic,
)
from sketchify.backend.storage.schema import DB_NAME, check_database, upgrade
from sketchify.core.output.files import fsync_dir

QUEUED, RUNNING, DONE, FAILED, CANCELED = "queued", "running", "done", "failed", "canceled"
FINISHED = (DONE, FAILED, CANCELED)

@dataclass(frozen=True)
class Job:
    """One row of the jobs table, as the rest of the backend sees it."""

    seq: int
    id: str
    status: str
    params: dict[str, Any]
    created_at: float
    started_at: float | None
    finished_at: float | None
    attempts: int
    step: int
    total: int | None
    eta_s: float | None
    has_preview: bool
    cancel_requested: bool
    error: str | None
    idempotency_key: str | None
    fingerprint: str | None
    worker: str | None = None
    filename: str | None = None
    resolved_preset: str | None = None
    device: str | None = None

    @property
    def strokes(self) -> list[int]:
        return self.params["strokes"]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        values = dict(row)
        values["params"] = json.loads(values["params"])
        values["has_preview"] = bool(values["has_preview"])
        values["cancel_requested"] = bool(values["cancel_requested"])
        return cls(**values)


class IdempotencyConflict(Exception):
    """The Idempotency-Key was already used for a different request."""

    def __init__(self, job: Job) -> None:
        super().__init__(job.id)
        self.job = job


class JobStore:
    """Jobs in ``<data_dir>/jobs.sqlite3``; files of job X in ``<data_dir>/jobs/X/``.

    New jobs are refused (DiskFullError) while the data folder has less than
    ``min_free_bytes`` free; a job's outcome is still recorded on a full disk (see disk.py).
    """

    def __init__(self, data_dir: str | os.PathLike[str], *,
                 min_free_bytes: int = limits.MIN_FREE_BYTES) -> None:
        self.data_dir = Path(data_dir)
        self.jobs_dir = self.data_dir / "jobs"
        self._db_path = self.data_dir / DB_NAME
        self._local = threading.local()
        check_database(self.data_dir)  # before anything could write to a newer release's file
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        with self._write() as db:
            upgrade(db, self._db_path)
        self.space = DiskSpace(self.data_dir, min_free_bytes)
        self.space.accepting()  # puts the reserve in place when there is room for it

    # -- connections ---------------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        # One connection per thread: waitress threads read while worker threads write (WAL).
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._db_path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # a 202 promises the row survives power loss
            self._local.db = db
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        with full_disk_as_error():
            db.execute("BEGIN IMMEDIATE")  # take the write lock up front: no upgrade deadlocks
            try:
                yield db
                db.execute("COMMIT")  # inside: a failed COMMIT must not leave it open
            except BaseException:
                if db.in_transaction:  # SQLite may have rolled back by itself (e.g. disk full)
                    db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close this thread's connection (other threads' close when their thread ends)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- files ---------------------------------------------------------------------------------

    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def read_input(self, job_id: str) -> bytes:
        return (self.job_dir(job_id) / "input").read_bytes()

    def read_mask(self, job_id: str) -> bytes | None:
        """The mask image sent with the job (beside its input), or None when it has none."""
        try:
            return (self.job_dir(job_id) / "mask").read_bytes()
        except FileNotFoundError:
            return None

    def svg_path(self, job_id: str, count: int, *, preview: bool = False) -> Path:
        return self.job_dir(job_id) / f"{'preview' if preview else 'result'}-{count}.svg"

    def _write_svgs(self, job_id: str, svgs: dict[int, str], *, preview: bool) -> list[Path]:
        written = []
        try:
            for count, text in svgs.items():
                path = self.svg_path(job_id, count, preview=preview)
                write_atomic(path, text.encode())
                written.append(path)
        except BaseException:
            if not preview:  # results are all there or none is: nothing half-written
                for path in written:
                    path.unlink(missing_ok=True)
            raise
        return written

    # -- submission and reading ----------------------------------------------------------------

    def add(
        self,
        params: dict[str, Any],
        image: bytes,
        *,
        filename: str | None = None,
        mask_image: bytes | None = None,
        idempotency_key: str | None = None,
        fingerprint: str | None = None,
    ) -> tuple[Job, bool]:
        """Store a new queued job durably (its input, and mask image if any, beside the row);
        returns (job, created).

        With an idempotency key already in use, returns the existing job (created False) when
        the fingerprint matches and raises IdempotencyConflict when it does not.
        """
        existing = self.by_key(idempotency_key, fingerprint)
        if existing is not None:
            return existing, False
        self.space.check()
        job_id = uuid.uuid4().hex
        folder = self.job_dir(job_id)
        try:
            with full_disk_as_error():
                folder.mkdir()
                write_atomic(folder / "input", image)
                if mask_image is not None:
                    write_atomic(folder / "mask", mask_image)
                fsync_dir(self.jobs_dir)
            with self._write() as db:
                row = db.execute(
                    "INSERT INTO jobs (id, status, params, created_at, idempotency_key,"
                    " fingerprint, filename) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
                    (job_id, QUEUED, json.dumps(params), time.time(), idempotency_key,
                     fingerprint, filename),
                ).fetchone()
        except sqlite3.IntegrityError:
            # Another request with the same key won the race; it owns the job.
            shutil.rmtree(folder, ignore_errors=True)
            existing = self.by_key(idempotency_key, fingerprint)
            if existing is None:
                raise
            return existing, False
        except BaseException:  # e.g. a full disk: no folder without a row
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return Job.from_row(row), True

    def by_key(self, key: str | None, fingerprint: str | None) -> Job | None:
        """The job stored under an idempotency key (None without one); IdempotencyConflict when
        it was stored for a different request."""
        if key is None:
            return None
        row = self._db().execute("SELECT * FROM jobs WHERE idempotency_key = ?", (key,)).fetchone()
        if row is None:
            return None
        job = Job.from_row(row)
        if job.fingerprint != fingerprint:
            raise IdempotencyConflict(job)
        return job

    def get(self, job_id: str) -> Job | None:
        row = self._db().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else Job.from_row(row)

    def jobs(self, *statuses: str) -> list[Job]:
        """All jobs (or those in any of ``statuses``) in queue order, read at one moment."""
        sql = "SELECT * FROM jobs"
        if statuses:
            sql += f" WHERE status IN ({','.join('?' * len(statuses))})"
        return [Job.from_row(r) for r in self._db().execute(sql + " ORDER BY seq", statuses)]

    def recent(
        self, *, statuses: tuple[str, ...] = (), limit: int, before_seq: int | None = None
    ) -> list[Job]:
        """Up to ``limit`` jobs newest first (in any of ``statuses``, all when empty), only
        those submitted before the job numbered ``before_seq``: the next page of a listing."""
        clauses, args = [], []
        if statuses:
            clauses.append(f"status IN ({','.join('?' * len(statuses))})")
            args.extend(statuses)
        if before_seq is not None:
            clauses.append("seq < ?")
            args.append(before_seq)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db().execute(
            f"SELECT * FROM jobs{where} ORDER BY seq DESC LIMIT ?", (*args, limit)
        )
        return [Job.from_row(r) for r in rows]

    def count(self, status: str) -> int:
        sql = "SELECT COUNT(*) FROM jobs WHERE status = ?"
        return self._db().execute(sql, (status,)).fetchone()[0]

    # -- state changes -------------------------------------------------------------------------

    def claim_next(
        self,
        device: str | None = None,
        resolve: Callable[[dict[str, Any]], str | None] | None = None,
    ) -> Job | None:
        """Move the oldest queued job to running (one more attempt) on ``device`` and return
        it; ``resolve(params)`` names the preset it runs with there (recorded in the same
        transaction, so a running job always says what it runs)."""
        with self._write() as db:
            row = db.execute(
                "SELECT * FROM jobs WHERE seq = (SELECT MIN(seq) FROM jobs WHERE status = ?)",
                (QUEUED,),
            ).fetchone()
            if row is None:
                return None
            resolved = resolve(json.loads(row["params"])) if resolve else None
            row = db.execute(
                "UPDATE jobs SET status = ?, started_at = ?, attempts = attempts + 1,"
                " step = 0, total = NULL, eta_s = NULL, device = ?, resolved_preset = ?"
                " WHERE seq = ? RETURNING *",
                (RUNNING, time.time(), device, resolved, row["seq"]),
            ).fetchone()
        return Job.from_row(row)

    def mark_started(
        self,
        job_id: str,
        attempt: int,
        worker: str | None,
        *,
        device: str | None = None,
        resolved_preset: str | None = None,
    ) -> Job | None:
        """A remote worker started (or restarted) this job; None if the job is no longer
        queued or running (canceled or finished meanwhile)."""
        with self._write() as db:
            row = db.execute(
                "UPDATE jobs SET status = ?, started_at = ?, attempts = ?, worker = ?,"
                " step = 0, total = NULL, eta_s = NULL, device = ?, resolved_preset = ?"
                " WHERE id = ? AND status IN (?, ?) RETURNING *",
                (RUNNING, time.time(), attempt, worker, device, resolved_preset, job_id,
                 QUEUED, RUNNING),
            ).fetchone()
        return None if row is None else Job.from_row(row)

    # A queued job has not run anywhere yet: what it ran with last time no longer holds.
    _BACK_IN_QUEUE = "status = ?, started_at = NULL, device = NULL, resolved_preset = NULL"

    def requeue(self, job_id: str, *, refund_attempt: bool = False) -> None:
        """Put a running job back at its old place in the queue (e.g. on a clean shutdown)."""
        self._execute_essential(
            f"UPDATE jobs SET {self._BACK_IN_QUEUE}, attempts = attempts - ?"
            " WHERE id = ? AND status = ?",
            (QUEUED, int(refund_attempt), job_id, RUNNING),
        )

    def recover_interrupted(self, max_attempts: int) -> tuple[list[str], list[str]]:
        """Jobs left 'running' by a process that died: requeue them, or fail those that have
        used up their attempts (cancel those the user canceled). Returns (requeued, failed) ids."""
        return self.space.essential(lambda: self._recover(max_attempts))

    def _recover(self, max_attempts: int) -> tuple[list[str], list[str]]:
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET status = ?, finished_at = ? WHERE status = ? AND cancel_requested",
                (CANCELED, time.time(), RUNNING),
            )
            failed = [r[0] for r in db.execute(
                "UPDATE jobs SET status = ?, finished_at = ?, error = ?"
                " WHERE status = ? AND attempts >= ? RETURNING id",
                (FAILED, time.time(),
                 f"The service stopped while running this job {max_attempts} times; giving up.",
                 RUNNING, max_attempts),
            )]
            requeued = [r[0] for r in db.execute(
                f"UPDATE jobs SET {self._BACK_IN_QUEUE} WHERE status = ? RETURNING id",
                (QUEUED, RUNNING),
            )]
        return requeued, failed

    def set_progress(
        self,
        job_id: str,
        step: int,
        total: int,
        eta_s: float | None,
        previews: dict[int, str] | None = None,
    ) -> None:
        if previews:
            self._write_svgs(job_id, previews, preview=True)
        if eta_s is not None and not math.isfinite(eta_s):
            eta_s = None  # no estimate yet; JSON has no Infinity
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET step = ?, total = ?, eta_s = ?,"
                " has_preview = has_preview OR ? WHERE id = ? AND status = ?",
                (step, total, eta_s, bool(previews), job_id, RUNNING),
            )

    def finish(self, job_id: str, svgs: dict[int, str], steps: int) -> None:
        """Results on disk first, then the row says done: a crash in between only reruns it.
        On a full disk (DiskFullError) no result is left behind and the row is unchanged."""
        written = self._write_svgs(job_id, svgs, preview=False)
        try:
            self._end(job_id, DONE, step=steps, total=steps, eta_s=0.0)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise

    def mark_canceled(self, job_id: str, previews: dict[int, str] | None = None) -> None:
        """A running job stopped on request; its best strokes so far stay as the preview
        (on a full disk, the last preview that could be stored)."""
        stored = False
        if previews:
            try:
                stored = bool(self._write_svgs(job_id, previews, preview=True))
            except DiskFullError:  # each preview file is the old one or the new one
                stored = False
        # Only ever sets the flag: previews written by earlier progress reports stay readable.
        self._end(job_id, CANCELED, essential=True, **({"has_preview": True} if stored else {}))

    def fail(self, job_id: str, message: str) -> None:
        """Recorded even on a full disk (the reserve makes room for it)."""
        self._end(job_id, FAILED, essential=True, error=message)

    def _end(self, job_id: str, status: str, *, essential: bool = False, **fields: Any) -> None:
        fields["status"], fields["finished_at"] = status, time.time()
        assignments = ", ".join(f"{name} = ?" for name in fields)
        sql = f"UPDATE jobs SET {assignments} WHERE id = ? AND status = ?"
        args = (*fields.values(), job_id, RUNNING)
        if essential:
            self._execute_essential(sql, args)
        else:
            with self._write() as db:
                db.execute(sql, args)

    def _execute_essential(self, sql: str, args: tuple[Any, ...]) -> None:
        """One UPDATE that must land even on a full disk (a job's outcome)."""

        def write() -> None:
            with self._write() as db:
                db.execute(sql, args)

        self.space.essential(write)

    def cancel(self, job_id: str) -> Job | None:
        """Cancel at once if queued; flag it if running (the executor stops it cooperatively).
        Finished jobs are left as they are. Returns the job afterwards (None if unknown)."""

        def write() -> None:
            with self._write() as db:
                db.execute(
                    "UPDATE jobs SET status = ?, finished_at = ? WHERE id = ? AND status = ?",
                    (CANCELED, time.time(), job_id, QUEUED),
                )
                db.execute(
                    "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND status = ?",
                    (job_id, RUNNING),
                )

        self.space.essential(write)  # a user's cancel works on a full disk too
        return self.get(job_id)

    def purge_finished(self, older_than_s: float) -> int:
        """Remove finished jobs (rows and files) that ended more than ``older_than_s`` ago."""

        def delete() -> list[str]:  # essential: on a full disk, this is what frees space
            with self._write() as db:
                return [r[0] for r in db.execute(
                    f"DELETE FROM jobs WHERE status IN ({','.join('?' * len(FINISHED))})"
                    " AND finished_at < ? RETURNING id",
                    (*FINISHED, time.time() - older_than_s),
                )]

        ids = self.space.essential(delete)
        for job_id in ids:
            shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
        self._purge_orphans()
        return len(ids)

    def _purge_orphans(self, grace_s: float = 600.0) -> None:
        """Input folders with no row: a crash hit between the file write and the INSERT.
        The grace period keeps folders of submissions that are being stored right now."""
        known = {r[0] for r in self._db().execute("SELECT id FROM jobs")}
        cutoff = time.time() - grace_s
        for folder in self.jobs_dir.iterdir():
            if folder.name in known:
                continue
            try:
                mtime = folder.stat().st_mtime
            except FileNotFoundError:  # removed meanwhile (add() losing an idempotency race)
                continue
            if mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
