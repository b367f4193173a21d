"""What a job hands out besides single SVGs: all its SVGs in one zip, and its photo."""

from __future__ import annotations

import io
import time
import zipfile

import PIL.Image

from sketchify.backend.api.filenames import stem
from sketchify.backend.storage.jobs import Job, JobStore


def zip_name(job: Job) -> str:
    return f"{stem(job.filename, job.id)}.zip"


def svgs_zip(store: JobStore, job: Job) -> bytes:
    """A done job's SVGs as `<photo stem>.<count>.svg`, dated when the job finished (so the
    same job always gives the same bytes)."""
    name = stem(job.filename, job.id)
    date = time.gmtime(job.finished_at or 0)[:6]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for count in job.strokes:
            entry = zipfile.ZipInfo(f"{name}.{count}.svg", date_time=date)
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, store.svg_path(job.id, count).read_bytes())
    return out.getvalue()


def image_mimetype(data: bytes) -> str:
    """The media type of a stored photo (it was one of the accepted formats when submitted)."""
    with PIL.Image.open(io.BytesIO(data)) as image:
        return format_mimetype(image.format or "")


def format_mimetype(kind: str) -> str:
    """The media type a photo of Pillow's format ``kind`` is served with."""
    if kind == "MPO":  # a camera JPEG with a preview frame: browsers know it as a JPEG
        return "image/jpeg"
    PIL.Image.init()  # the table fills as Pillow's format plugins load
    return PIL.Image.MIME.get(kind, "application/octet-stream")
