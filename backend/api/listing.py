"""The job list's query (`GET /v1/sketches?status=&limit=&cursor=`) and its paging cursor.

The cursor is opaque to clients: it names the last job of a page by its queue number, so a
page never repeats or skips a job while new ones arrive at the top. The "v1:" inside leaves
room to change what a cursor holds without misreading old ones.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from werkzeug.datastructures import MultiDict

from sketchify.backend.api.errors import ApiError
from sketchify.backend.storage.jobs import CANCELED, DONE, FAILED, QUEUED, RUNNING

STATUSES = (QUEUED, RUNNING, DONE, FAILED, CANCELED)
DEFAULT_LIMIT, MAX_LIMIT = 20, 100
_PARAMS = ("status", "limit", "cursor")
_PREFIX = "v1:"
_MAX_SEQ = 2**63 - 1


@dataclass(frozen=True)
class ListQuery:
    statuses: tuple[str, ...]  # empty: every status
    limit: int
    before_seq: int | None  # None: the first page


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    bad = ApiError(422, "cursor is not one this server gave out; start again without it.",
                   "cursor")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise bad from None
    number = text.removeprefix(_PREFIX)
    if not text.startswith(_PREFIX) or not number.isdigit() or not number.isascii():
        raise bad
    # Queue numbers are SQLite integers (64-bit); a larger one was never given out.
    if len(number) > 19 or int(number) > _MAX_SEQ:
        raise bad
    return int(number)


def _statuses(raw: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in raw.split(",")))
    if not all(name in STATUSES for name in names):
        raise ApiError(422, f"status must be one or more of {', '.join(STATUSES)}, "
                            "separated by commas.", "status")
    return names


def _limit(raw: str) -> int:
    # The length first: int() refuses more than 4300 digits.
    if not raw.isdigit() or not raw.isascii() or len(raw) > 9 or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(422, f"limit must be a whole number from 1 to {MAX_LIMIT}.", "limit")
    return int(raw)


def parse_query(args: MultiDict[str, str]) -> ListQuery:
    """The listing's parameters from the URL query; 422 naming the parameter that is wrong."""
    for name in args:
        if name not in _PARAMS:
            raise ApiError(422, f"Unknown query parameter {name!r}; the list takes "
                                f"{', '.join(_PARAMS)}.", name or None)  # `?=1`: no name
        if len(args.getlist(name)) > 1:
            raise ApiError(422, f"{name} was given more than once.", name)
    status, limit, cursor = (args.get(name) for name in _PARAMS)
    return ListQuery(
        statuses=() if status is None else _statuses(status),
        limit=DEFAULT_LIMIT if limit is None else _limit(limit),
        before_seq=None if cursor is None else _decode_cursor(cursor),
    )
