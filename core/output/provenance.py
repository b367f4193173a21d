"""Where a sketch came from, kept inside its SVG as ``<metadata id="sketchify">JSON</metadata>``.

A batch run reads it back to skip sketches already made with the same settings, and
`sketchify evaluate` to report which weights made them. The JSON carries a format number: an SVG
written by a newer release is refused rather than misread; one without metadata (release 0.1.0
wrote none) simply has no provenance.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from lxml import etree

from sketchify.core.errors import InputError

FORMAT = 2  # 2: `start` (the given strokes) and `plot` (the plot settings) among the settings
METADATA_ID = "sketchify"
SVG_NS = "http://www.w3.org/2000/svg"
# What was asked for: two sketches with equal settings are the same job done twice.
SETTINGS = ("preset", "strokes", "first_seed", "seeds", "steps", "mask", "prompt", "width",
            "loss_model", "saliency_model", "precision", "start", "plot")
# Settings recorded since a later release than the format's first: an SVG without one was made
# with that setting's default (`precision` auto: float32 on CPUs, float16 on GPUs; no `start`;
# `plot` null, photo pixels: format 1 wrote no plot-ready SVG), so it is no job to redo when the
# default is what is asked for again. A null default is known from the value wanted
# (NULL_DEFAULTS); `precision`'s caller says when it asked the default.
LATER_SETTINGS = ("precision", "start", "plot")
NULL_DEFAULTS = ("start", "plot")


def package_version() -> str:
    try:
        return version("sketchify-clipasso")
    except PackageNotFoundError:
        return "unknown"


def model_label(name: str, weights: str) -> str:
    """"RN101 openai" for a pretrained tag; file names, never a path of this machine."""
    return " ".join(name_only(value.rstrip("/\\")) for value in (name, weights))


def models(loss_model: str, loss_weights: str, saliency_model: str, saliency_weights: str
           ) -> dict[str, str]:
    """The models as a sketch's provenance names them."""
    return {"loss_model": model_label(loss_model, loss_weights),
            "saliency_model": model_label(saliency_model, saliency_weights)}


def settings(config: Any, mask: str, models: dict[str, str], precision: str,
             start: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a sketch's provenance records of how it was made (a ``SketchConfig``'s schedule,
    the mask mode, the models, the precision CLIP ran in, ``auto`` resolved, and the summary
    of the given strokes, ``Start.summary()``), all but its stroke count."""
    return {"preset": config.preset, "first_seed": config.seed, "seeds": config.seeds,
            "steps": config.steps, "mask": mask, "prompt": config.prompt,
            "width": round(2 * config.half_width, 6), **models, "precision": precision,
            "start": start}


def name_only(path: str) -> str:
    """The last component of a path, never its folders. Either separator: a Windows path must
    not leak its folders on a Linux server either."""
    return re.split(r"[\\/]", path)[-1]


def record(**fields: Any) -> dict[str, Any]:
    """The provenance JSON for one SVG: ``format`` and ``version`` first, then ``fields``."""
    return {"format": FORMAT, "version": package_version(), **fields}


def metadata_element(data: dict[str, Any]) -> etree._Element:
    element = etree.Element(f"{{{SVG_NS}}}metadata", id=METADATA_ID)
    element.text = json.dumps(data, sort_keys=False, separators=(", ", ": "))
    return element


def svg_root(svg: str | bytes) -> etree._Element:
    """An SVG document's root, read without entities or network (``InputError``, field
    ``svg``, when it is not XML)."""
    try:
        data = svg.encode() if isinstance(svg, str) else svg
        return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise InputError(f"not a readable SVG document: {exc}", field="svg") from exc


def read(svg: str | bytes | etree._Element) -> dict[str, Any] | None:
    """The provenance of an SVG written by Sketchify, None if it has none.

    ``InputError`` (field ``svg``) when the SVG is unreadable, the JSON malformed, or its format
    newer than this release understands.
    """
    root = svg if isinstance(svg, etree._Element) else svg_root(svg)
    found = root.find(f".//{{{SVG_NS}}}metadata[@id='{METADATA_ID}']")
    if found is None:
        return None
    try:
        data = json.loads(found.text or "")
    except ValueError:
        raise InputError("the SVG's Sketchify metadata is not valid JSON", field="svg") from None
    fmt = data.get("format") if isinstance(data, dict) else None
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
        raise InputError("the SVG's Sketchify metadata has no valid format number", field="svg")
    if fmt > FORMAT:
        raise InputError(
            f"the SVG was written by a newer Sketchify (metadata format {fmt}, version "
            f"{data.get('version', 'unknown')}); this release reads format {FORMAT} or older: "
            "upgrade Sketchify",
            field="svg",
        )
    return data


def settings_match(existing: dict[str, Any] | None, wanted: dict[str, Any],
                   defaults: Iterable[str] = LATER_SETTINGS) -> bool:
    """Whether a sketch with provenance ``existing`` was made with the settings ``wanted``.
    ``defaults``: the later settings asked at their default, which an SVG from before they
    were recorded matches; those of NULL_DEFAULTS are at their default when wanted null."""
    lenient = {k for k in LATER_SETTINGS
               if (wanted.get(k) is None if k in NULL_DEFAULTS else k in defaults)}
    return existing is not None and all(
        existing.get(k) == wanted.get(k) for k in SETTINGS if k in existing or k not in lenient
    )
