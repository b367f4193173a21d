"""The photo's original file name: taken from the client, made safe to keep and to name
downloads by (`<photo stem>.<count>.svg`)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from flask import Request
from werkzeug.datastructures import FileStorage

from sketchify.backend.api.errors import ApiError
from sketchify.core.output.provenance import name_only

MAX_LENGTH = 255  # what file systems allow for one name, so a longer one is not a real file name
# Characters a file name cannot hold on Windows (or that a zip tool would read as a folder).
_UNSAFE = re.compile(r'[<>:"/\\|?*]')
# A quoted ``filename`` parameter of a part's Content-Disposition, as written on the wire.
_QUOTED_FILENAME = re.compile(r';\s*filename\s*=\s*"((?:[^"\\]|\\.)*)"', re.IGNORECASE)
_EXTENDED_FILENAME = re.compile(r";\s*filename\*\s*=", re.IGNORECASE)


def clean(raw: str) -> str | None:
    """The last path component without control characters; None when nothing is left.
    Some browsers send a full path (`C:\\fakepath\\cat.jpg`), never useful to keep."""
    name = name_only(raw)
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return None if name in ("", ".", "..") else name


def sent_name(upload: FileStorage) -> str | None:
    """The part's file name as the client wrote it. Browsers write a path's backslashes as
    they are (`filename="C:\\fakepath\\cat.jpg"`); Werkzeug 3.1.4 and later read every
    backslash in a quoted value as an escape, which would glue such a path into one name, so the
    raw header is read here. Only an escaped quote is unescaped (curl writes `\\"`); an
    unquoted name or an RFC 5987 ``filename*`` (which wins) has no escapes and is taken as
    Werkzeug read it."""
    header = upload.headers.get("Content-Disposition", "")
    match = _QUOTED_FILENAME.search(header)
    if match is None or _EXTENDED_FILENAME.search(header):
        return upload.filename
    return match.group(1).replace('\\"', '"')


def submitted(request: Request, fields: dict[str, Any]) -> str | None:
    """The photo's file name of a submission: the image part's in multipart, the optional
    ``filename`` field in JSON (popped from ``fields``). 422 for one that cannot be a name."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("image")
        raw, field = (sent_name(upload) if upload is not None else None), "image"
    else:
        raw, field = fields.pop("filename", None), "filename"
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ApiError(422, "filename must be text.", field)
    if len(raw) > MAX_LENGTH:
        raise ApiError(422, f"The photo's file name is longer than {MAX_LENGTH} characters.",
                       field)
    return clean(raw)


def stem(filename: str | None, job_id: str) -> str:
    """What a job's downloads are named after: the photo's name without its suffix, or the
    job's id when the client sent no name."""
    base = PurePosixPath(filename).stem if filename else ""
    return _UNSAFE.sub("_", base) or f"sketch-{job_id[:8]}"
