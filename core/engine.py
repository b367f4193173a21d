"""The engine's front door: load the models once, then photo in, sketches out."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import torch
from PIL import Image

from sketchify.core.clip.models import load_clips, resolve_device
from sketchify.core.config import (
    Execution,
    Models,
    SketchConfig,
    resolved_precision,
    stroke_counts,
)
from sketchify.core.given.canvas import GivenOnCanvas, place, with_widths
from sketchify.core.given.strokes import Start
from sketchify.core.method.starts import init_strokes, saliency_map
from sketchify.core.optimize import CancelToken, Progress, Sketch, optimize
from sketchify.core.output import provenance
from sketchify.core.output.provenance import record
from sketchify.core.output.svg import to_svg
from sketchify.core.photo.geometry import Placement
from sketchify.core.photo.image import DEFAULT_MAX_PIXELS, load_image, open_image
from sketchify.core.photo.mask import ImageSource, ObjectMask, object_mask
from sketchify.core.photo.mask_model import SalientObjectModel
from sketchify.core.photo.target import Target, make_target


@dataclass
class SketchResult:
    """The best sketch per stroke count; ``canceled`` when it stopped early on request.
    ``settings`` is the provenance every count shares (see ``provenance``). With a ``start``
    (every width said), a sketch's strokes are the ones optimized: its free given strokes,
    then the new ones; the SVG puts the locked ones back in the given order."""

    sketches: dict[int, Sketch]
    placement: Placement
    canceled: bool
    steps: int
    settings: dict[str, Any]
    start: Start | None = None

    def provenance(self, count: int) -> dict[str, Any]:
        """What the ``count``-stroke SVG records about how it was made."""
        sketch = self.sketches[count]
        s = self.settings
        return record(
            preset=s["preset"], strokes=count, seed=sketch.seed, first_seed=s["first_seed"],
            seeds=s["seeds"], steps=s["steps"], steps_run=self.steps,
            loss=float(f"{sketch.loss:.6g}"), mask=s["mask"], prompt=s["prompt"], width=s["width"],
            loss_model=s["loss_model"], saliency_model=s["saliency_model"],
            precision=s["precision"], start=s["start"], plot=None,
        )

    def svg(self, count: int, **extra: Any) -> str:
        """The SVG of the ``count``-stroke sketch, in the photo's own pixel coordinates, with
        its provenance (and ``extra`` fields in it)."""
        return to_svg(self.sketches[count].strokes, self.placement,
                      {**self.provenance(count), **extra}, start=self.start)


class Sketcher:
    """Holds the loss model and the saliency model; ``sketch`` may be called many times.
    ``mask_model``: a local u2net ONNX file for ``auto`` masks (None: rembg's cache, filled on
    first use); it is read only when an ``auto`` mask is first asked for."""

    def __init__(
        self,
        device: str = "auto",
        loss_model: str = Models.loss_model,
        loss_weights: str = Models.loss_weights,
        saliency_model: str = Models.saliency_model,
        saliency_weights: str = Models.saliency_weights,
        mask_model: str | os.PathLike | None = None,
    ) -> None:
        self.device = resolve_device(device)
        self.mask_model = SalientObjectModel(mask_model)
        self.models = provenance.models(loss_model, loss_weights, saliency_model,
                                        saliency_weights)
        # Both at once: missing weights are reported for every model in one message.
        self.loss_model, self.saliency_model = load_clips(
            [(loss_model, loss_weights, "loss"), (saliency_model, saliency_weights, "saliency")],
            self.device,
        )

    def sketch(
        self,
        image: str | os.PathLike | bytes | Image.Image,
        strokes: int | Iterable[int] = (16,),
        config: SketchConfig | None = None,
        progress: Callable[[Progress], None] | None = None,
        cancel: CancelToken | None = None,
        mask: str | ObjectMask | None = None,
        mask_image: ImageSource | None = None,
        execution: Execution = Execution(),
        start: Start | None = None,
    ) -> SketchResult:
        """Sketch ``image`` at every count. ``mask``: ``none``/``alpha``/``file``/``auto`` (see
        ``sketchify.core.photo.mask``; a ``mask_image`` alone means ``file``) or an ObjectMask made
        beforehand; the background then turns white and no stroke starts on it. ``execution``:
        how CLIP runs on this Sketcher's device (precision, layout, batch bound). ``start``: the
        user's strokes (``sketchify.core.given.strokes``), part of every count: locked ones drawn
        into every view as they are, free ones where every seed starts, new ones away from both."""
        counts = stroke_counts(strokes)
        config = config or SketchConfig()
        # One direction: the photo decoded once (EXIF, checks, transparency kept), its object
        # mask made from it, then the target on the canvas, the stroke starts, the strokes.
        photo = open_image(image)
        picture = load_image(photo)
        # Before the mask: a start that does not fit is refused before U2-Net runs.
        if start is not None:
            start.check(picture.width, picture.height, counts)
        if not isinstance(mask, ObjectMask):
            mask = self.object_mask(photo, mask, mask_image, picture=picture)
        target = self.target(picture, mask, config.canvas)
        placed = None if start is None else with_widths(start, target.placement,
                                                        config.half_width)
        given = None if placed is None else place(placed, target.placement)
        starts = self.starts(target, counts, config, given)
        image = target.image.to(self.device)
        locked = 0 if given is None else given.locked
        outcome = optimize(
            self.loss_model,
            image,
            starts,
            config,
            progress=progress if not locked else _recounted(progress, locked),
            cancel=cancel,
            execution=execution,
            background=None if given is None or given.background is None
            else given.background.to(image),
        )
        sketches = {n + locked: sketch for n, sketch in outcome.sketches.items()}
        settings = provenance.settings(config, mask.mode if mask else "none", self.models,
                                       resolved_precision(execution.precision, self.device),
                                       None if start is None else start.summary())
        return SketchResult(sketches, target.placement, outcome.canceled, outcome.steps,
                            settings, placed)

    def object_mask(
        self,
        image: ImageSource,
        mask: str | None = None,
        mask_image: ImageSource | None = None,
        *,
        picture: Image.Image | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> ObjectMask | None:
        """The object mask a request asks for, ``auto`` run on this Sketcher's mask model."""
        return object_mask(mask, image, mask_image, model=self.mask_model, picture=picture,
                           max_pixels=max_pixels)

    @staticmethod
    def target(picture: Image.Image, mask: ObjectMask | None, canvas: int = 224) -> Target:
        """What the optimizer sees: the picture (RGB) on white, masked if a mask is given."""
        return make_target(picture, canvas, mask=mask)

    def starts(self, target: Target, counts: Iterable[int], config: SketchConfig,
               given: GivenOnCanvas | None = None) -> dict[int, torch.Tensor]:
        """Start strokes [seeds, n, 4, 2] per count, from the target's saliency; with a mask,
        every first point lies on the object. With ``given`` strokes, n counts the free ones
        but not the locked ones: every seed's first rows are the free ones, the rest start from
        saliency on pixels no given stroke covers."""
        saliency = saliency_map(target, self.saliency_model)
        if given is not None:
            return _around(given, saliency, target, counts, config)
        return {
            n: torch.stack([
                init_strokes(saliency, n, _generator(config.seed + s, n), config.canvas,
                             walk=config.walk, allowed=target.mask)
                for s in range(config.seeds)
            ])
            for n in counts
        }


def _around(given: GivenOnCanvas, saliency: torch.Tensor, target: Target, counts: Iterable[int],
            config: SketchConfig) -> dict[int, torch.Tensor]:
    """The starts of ``Sketcher.starts`` with given strokes, keyed by the number of strokes
    that move (the count less the locked ones)."""
    allowed = given.uncovered if target.mask is None else given.uncovered & (target.mask > 0)
    if not allowed.any():  # the given strokes cover every pixel a stroke may start on
        allowed = target.mask
    starts = {}
    for n in counts:
        new = n - given.given
        rows = [
            torch.cat([given.free] + ([init_strokes(saliency, new, _generator(config.seed + s, n),
                                                    config.canvas, walk=config.walk,
                                                    allowed=allowed)] if new else []))
            for s in range(config.seeds)
        ]
        starts[n - given.locked] = torch.stack(rows)
    return starts


def _recounted(progress: Callable[[Progress], None] | None, locked: int
               ) -> Callable[[Progress], None] | None:
    """``progress`` told each sketch's count, locked strokes included."""
    if progress is None:
        return None
    return lambda p: progress(replace(p, best={n + locked: b for n, b in p.best.items()}))


def _generator(seed: int, count: int) -> torch.Generator:
    # Each (seed, stroke count) run starts from its own reproducible draw; torch takes seeds
    # below 2**64, and the API allows any seed up to 2**63 - 1.
    return torch.Generator().manual_seed((seed * 1_000_003 + count) % 2**64)
