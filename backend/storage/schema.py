"""The jobs database's format and its migrations, kept in SQLite's `PRAGMA user_version`.

Release 0.1.0 wrote no version (0) with what is schema 1 here; 0.2.0 wrote schema 2. A database
is migrated one version at a time, in place and in one transaction; one from a newer release is
refused and left exactly as it was (it is only ever read, through a read-only connection).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

SCHEMA_VERSION = 3
DB_NAME = "jobs.sqlite3"
# PARAM_DEFAULTS[n]: the params keys that schema n added, with the value jobs stored before it
# behaved as.
PARAM_DEFAULTS: dict[int, dict[str, object]] = {2: {"mask": "none"},
                                                3: {"precision": "auto", "start": None}}

SCHEMA = """
CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- queue order
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    params TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    step INTEGER NOT NULL DEFAULT 0,
    total INTEGER,
    eta_s REAL,
    has_preview INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    idempotency_key TEXT UNIQUE,
    fingerprint TEXT,
    worker TEXT,  -- who runs/ran it (remote executors)
    filename TEXT,  -- the photo's original file name, as the client sent it
    resolved_preset TEXT,  -- what `auto` became where the job ran (null while queued)
    device TEXT  -- the device running/that ran it
);
CREATE INDEX jobs_status ON jobs (status, seq);
"""


class DatabaseVersionError(Exception):
    """The jobs database was written by a newer release (or is not one of ours); one
    sentence for the user. Nothing was changed in the file."""


def _migrate_1_to_2(db: sqlite3.Connection) -> None:
    for column in ("filename", "resolved_preset", "device"):
        db.execute(f"ALTER TABLE jobs ADD COLUMN {column} TEXT")
    _fill_params(db, PARAM_DEFAULTS[2])
    # 0.1.0 had no `auto`: a job that started there ran exactly the preset it asked for.
    for seq, raw in db.execute("SELECT seq, params FROM jobs "
                               "WHERE status NOT IN ('queued', 'running')").fetchall():
        db.execute("UPDATE jobs SET resolved_preset = ? WHERE seq = ?",
                   (json.loads(raw).get("preset"), seq))


def _migrate_2_to_3(db: sqlite3.Connection) -> None:
    _fill_params(db, PARAM_DEFAULTS[3])


def _fill_params(db: sqlite3.Connection, defaults: dict[str, object]) -> None:
    """Every row's params with the keys of ``defaults`` it lacks."""
    for seq, raw in db.execute("SELECT seq, params FROM jobs").fetchall():
        params = json.loads(raw)
        missing = {k: v for k, v in defaults.items() if k not in params}
        if missing:
            db.execute("UPDATE jobs SET params = ? WHERE seq = ?",
                       (json.dumps({**params, **missing}), seq))


# MIGRATIONS[n] turns a version-n database into version n + 1.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_1_to_2,
                                                                2: _migrate_2_to_3}


def stored_version(db: sqlite3.Connection) -> int:
    """The schema version in the file: 0 for an empty database, 1 for 0.1.0's (no version)."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version == 0:
        tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        if tables:
            version = 1
    return version


def check_database(data_dir: str | os.PathLike[str]) -> None:
    """Raise DatabaseVersionError if ``data_dir`` holds a jobs database this release must not
    open. Reads the file only (a read-only connection), so a refused file stays as it was."""
    path = Path(data_dir) / DB_NAME
    if not path.exists():
        return
    # Without a write-ahead log beside it the file alone is the database: read it as immutable,
    # so not even the -wal/-shm files are created. With one, read through it (read-only).
    wal = path.with_name(path.name + "-wal").exists()
    mode = "mode=ro" if wal else "immutable=1"
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?{mode}", uri=True, timeout=30)) as db:
            version = stored_version(db)
    except sqlite3.DatabaseError as error:
        raise DatabaseVersionError(
            f"{path} is not a Sketchify jobs database ({error}); move it away or pass "
            "another --data-dir.") from None
    if version > SCHEMA_VERSION:
        raise DatabaseVersionError(
            f"{path} was written by a newer Sketchify (database version {version}, this "
            f"release reads up to {SCHEMA_VERSION}); upgrade Sketchify or pass another "
            "--data-dir.")


def upgrade(db: sqlite3.Connection, path: Path) -> None:
    """Create the schema, or migrate an older one, inside the caller's write transaction: a
    crash or a full disk mid-way leaves the old database exactly as it was."""
    # Read again under the write lock: another process may have migrated it meanwhile.
    version = stored_version(db)
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise DatabaseVersionError(f"{path} was just upgraded by a newer Sketchify; "
                                   "upgrade this one too.")
    if version == 0:  # a new database (executescript would commit mid-transaction)
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
    else:
        for step in range(version, SCHEMA_VERSION):
            MIGRATIONS[step](db)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
