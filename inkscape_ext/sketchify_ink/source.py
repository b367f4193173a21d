"""The pixels behind an ``<image>``: an embedded ``data:`` URI or a linked file (relative to
the document's own folder, absolute, or a ``file://`` URI)."""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from urllib.parse import unquote, unquote_to_bytes, urlparse
from urllib.request import url2pathname

import inkex

XLINK_HREF = inkex.addNS("href", "xlink")
ABSREF = inkex.addNS("absref", "sodipodi")
LABEL = inkex.addNS("label", "inkscape")


def link_folders(input_file: object) -> list[str]:
    """Folders a relative link may be relative to, best first.

    Inkscape runs extensions on a temporary copy of the document and rewrites relative links
    to be relative to that copy (Inkscape 1.2 does), so the input file's folder comes first;
    the real document's folder (``DOCUMENT_PATH``; inkex sets it to the input file when
    Inkscape does not) covers copies whose links were left as they were."""
    folders = []
    for path in (input_file, os.environ.get("DOCUMENT_PATH")):
        if isinstance(path, str) and path:
            folder = os.path.dirname(os.path.abspath(path))
            if folder not in folders:
                folders.append(folder)
    return folders


@dataclass(frozen=True)
class ImageSource:
    data: bytes
    filename: str  # what the upload is called
    label: str  # what the new layers are named after

    @classmethod
    def read(cls, image: inkex.BaseElement, folders: list[str]) -> ImageSource:
        href = (image.get(XLINK_HREF) or image.get("href") or "").strip()
        ident = image.get("id") or "image"
        label = image.get(LABEL)
        if href.startswith("data:"):
            data = _data_uri(href, label or ident)
            return cls(data, f"{ident}.{_extension(href)}", label or ident)
        if not href:
            raise inkex.AbortExtension(f"The image {label or ident} has no pixels (empty href).")
        path = _linked_path(href, image.get(ABSREF), folders, label or ident)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as err:
            raise inkex.AbortExtension(
                f"The linked image file {path} cannot be read: {err.strerror}."
            ) from None
        if not data:
            raise inkex.AbortExtension(f"The linked image file {path} is empty.")
        name = os.path.basename(path)
        return cls(data, name, label or name)


def _data_uri(href: str, name: str) -> bytes:
    header, sep, payload = href.partition(",")
    try:
        if not sep:
            raise ValueError
        if header.endswith(";base64"):
            # Inkscape wraps long base64 payloads over several lines.
            data = base64.b64decode("".join(payload.split()), validate=True)
        else:
            data = unquote_to_bytes(payload)
    except (ValueError, binascii.Error):
        raise inkex.AbortExtension(
            f"The embedded data of image {name} is unreadable (broken data: URI)."
        ) from None
    if not data:
        raise inkex.AbortExtension(f"The embedded data of image {name} is empty.")
    return data


def _extension(href: str) -> str:
    mime = href[5:].split(";", 1)[0].split(",", 1)[0]
    subtype = mime.partition("/")[2].lower()
    return {"jpeg": "jpg", "svg+xml": "svg", "": "bin"}.get(subtype, subtype)


def _linked_path(href: str, absref: str | None, folders: list[str], name: str) -> str:
    if href.startswith("file:"):
        path = url2pathname(unquote(urlparse(href).path))
    elif "://" in href:
        raise inkex.AbortExtension(
            f"The image {name} links to {href}; only embedded images and local files work."
        )
    else:
        path = os.path.expanduser(href)
    if os.path.isabs(path):
        candidates = [path]
    else:
        candidates = [os.path.join(folder, relative) for folder in folders
                      for relative in dict.fromkeys((path, unquote(path)))]
    # Inkscape keeps the absolute path it last saw in sodipodi:absref.
    if absref:
        candidates.append(absref)
    for candidate in candidates:
        if os.path.isfile(candidate):
            return os.path.normpath(candidate)
    if not candidates:
        raise inkex.AbortExtension(
            f"The image {name} links to the relative path {href}, but the document has not "
            "been saved yet: save it next to the image, or embed the image."
        )
    raise inkex.AbortExtension(
        f"The linked image file of {name} is missing: {os.path.normpath(candidates[0])}."
    )
