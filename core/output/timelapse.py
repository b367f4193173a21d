"""`--timelapse`: the optimization as a GIF, over the faded photo: the start strokes, the best
strokes at each evaluation, then the final ones.

The optimizer reports its best strokes after every step (``Progress.best``); those reported
right after an evaluation are that evaluation's (the first are the start strokes). A thin bar
along the bottom shows how far the optimization had gone, so that no two frames are alike (a
GIF writer merges equal frames) and even a one-step run has two.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

import numpy as np
from PIL import Image

from sketchify.core.method.strokes import Strokes
from sketchify.core.optimize import Progress
from sketchify.core.output.sheet import fade, photo_ink
from sketchify.core.photo.geometry import Placement

MAX_FRAMES = 100
MAX_SIDE = 512  # px, the longer side of a frame
FRAME_MS = 120
LAST_MS = 2000  # the finished sketch stays a while before the GIF loops
BAR = (200, 60, 40)
PALETTE_COLOURS = 64


class Recorder:
    """A progress callback that keeps, per stroke count, the strokes of each evaluation as
    (step, strokes), on the CPU."""

    def __init__(self, counts: Iterable[int], eval_every: int) -> None:
        self.eval_every = eval_every
        self.frames: dict[int, list[tuple[int, Strokes]]] = {n: [] for n in counts}

    def __call__(self, progress: Progress) -> None:
        if (progress.step - 1) % self.eval_every:
            return
        for count, frames in self.frames.items():
            best = progress.best[count]
            frames.append((progress.step - 1, Strokes(best.points.detach().cpu(),
                                                       best.half_width.detach().cpu(),
                                                       best.opacity.detach().cpu())))


def frame_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, MAX_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def timelapse_gif(photo: Image.Image, placement: Placement,
                  frames: list[tuple[int, Strokes]], final: tuple[int, Strokes],
                  fixed: Strokes | None = None) -> bytes:
    """The GIF of ``frames`` then ``final`` ((step, strokes on the canvas) each), at most
    ``MAX_FRAMES`` of them evenly chosen (the first and the last always), over ``photo``;
    ``fixed``: strokes in the photo's pixels every frame shows (a start's locked ones)."""
    shots = [*frames, final]
    keep = np.unique(np.round(np.linspace(0, len(shots) - 1, min(len(shots), MAX_FRAMES))))
    size = frame_size(photo.width, photo.height)
    paper = fade(np.asarray(photo.convert("RGB").resize(size, Image.Resampling.LANCZOS),
                            dtype=np.float32))
    if fixed is not None:
        paper = paper * photo_ink(fixed, (photo.width, photo.height), size)[..., None]
    last_step = max(final[0], 1)
    images = []
    for index in keep.astype(int):
        step, strokes = shots[index]
        in_photo = Strokes(placement.to_image(strokes.points.double()),
                           strokes.half_width.double() / placement.scale, strokes.opacity)
        pixels = paper * photo_ink(in_photo, (photo.width, photo.height), size)[..., None]
        # The bar: how far the optimization had gone; the final frame's is full.
        done = 1.0 if index == len(shots) - 1 else step / last_step
        pixels[-3:, : round(done * size[0])] = BAR
        images.append(Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8)))
    # One palette for every frame, from the finished one, undithered: the photo does not
    # shimmer from frame to frame, and the GIF stores only what changed.
    palette = images[-1].quantize(PALETTE_COLOURS, dither=Image.Dither.NONE)
    frames_p = [image.quantize(palette=palette, dither=Image.Dither.NONE) for image in images]
    out = io.BytesIO()
    frames_p[0].save(out, format="GIF", save_all=True, append_images=frames_p[1:], loop=0,
                     duration=[FRAME_MS] * (len(images) - 1) + [LAST_MS])
    return out.getvalue()
