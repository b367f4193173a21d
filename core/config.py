"""Every setting of the engine in one place, importing only the standard library: a usage
error, the service's limits and the API document read them without loading torch.

The method's knobs and their presets, the execution knobs apart from them, the names the loss
stages, precisions and mask modes go by, the largest stroke count, and the photo formats each
front door accepts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from sketchify.core.errors import InputError

MAX_STROKES = 256  # strokes in one sketch
# The CLIP ResNet stages whose activations the geometric loss compares, in order.
STAGES = ("stem", "layer1", "layer2", "layer3", "layer4")
# Stroke starts: the random walk's step from a sampled point, as a fraction of the canvas
# (the published CLIPasso value).
WALK = 0.025
# CLIP's precision: float32, or float16 autocast as the reference runs CLIP on a GPU. bfloat16
# is not offered: on a random-weight RN101 its stroke gradients meet the bar (cosine >= 0.99 to
# float32's) only with everything up to layer3 (~80 % of the work) kept in float32
# (docs/precision.md). `auto` is decided where the sketch runs (resolved_precision).
PRECISIONS = ("fp32", "fp16")
PRECISION_NAMES = ("auto", *PRECISIONS)
# The SketchConfig fields a command's flags or a job's fields may set over its preset.
OVERRIDES = ("steps", "seeds", "seed", "prompt")
# The Execution fields a command's flags or a job's fields may set.
EXECUTION_OVERRIDES = ("precision",)
# The device types whose `auto` preset is the full method (a CPU takes hours for it).
GPU_TYPES = ("cuda", "mps")
# The object mask: none, the photo's own transparency, a mask image, or the salient-object
# network. A command line names every mode but `file`: there the mask image's path stands.
MASK_MODES = ("none", "alpha", "file", "auto")
NAMED_MASK_MODES = tuple(mode for mode in MASK_MODES if mode != "file")
# A mask pixel is the object when its value is at least 0.5 of the 8-bit range: v / 255 >= 0.5.
MASK_HALF = 128
# Pillow's format names. MPO is how Pillow reads many camera JPEGs (they carry a preview frame).
# The command line reads the user's own files, TIFF included.
PHOTO_FORMATS: frozenset[str] = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF", "GIF"})
# The service takes uploads from anyone: only the formats a browser shows, not TIFF, whose many
# codecs are a decoder surface the web page never needs.
API_FORMATS = ("PNG", "JPEG", "MPO", "WEBP", "GIF", "BMP")
# What a folder is searched for: the suffixes of the photo formats.
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


@dataclass(frozen=True)
class SketchConfig:
    """Every knob of the method in one sketch run (how it runs on a device is ``Execution``).
    Defaults are the published CLIPasso settings."""

    # The preset this config came from, recorded in each SVG's provenance.
    preset: str = "custom"
    steps: int = 2000
    seeds: int = 3
    seed: int = 0
    lr: float = 1.0
    augmentations: int = 4
    eval_every: int = 10
    # None: every step runs, as the paper does. Otherwise a run stops once `patience`
    # evaluations in a row improved its best loss by less than `min_delta` (relative); the
    # whole batch stops when every run has.
    patience: int | None = None
    min_delta: float = 1e-3
    half_width: float = 1.5
    semantic_weight: float = 0.1
    geometric_weights: tuple[float, ...] = (0.0, 0.0, 1.0, 1.0, 0.0)
    prompt: str | None = None
    prompt_weight: float = 0.1
    optimize_width: bool = False
    width_lr: float = 0.1
    optimize_opacity: bool = False
    opacity_lr: float = 0.01
    walk: float = WALK
    canvas: int = 224
    distortion: float = 0.5
    crop_scale: tuple[float, float] = (0.8, 0.8)

    def __post_init__(self) -> None:
        positive = ("steps", "seeds", "lr", "eval_every", "half_width", "canvas")
        if self.patience is not None:
            positive += ("patience",)
        for name in positive:
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)}.", field=name)
        for name in ("augmentations", "min_delta", "semantic_weight", "prompt_weight",
                     "width_lr", "opacity_lr", "walk"):
            if not getattr(self, name) >= 0:
                raise InputError(f"{name} must not be negative, got {getattr(self, name)}.",
                                 field=name)
        if len(self.geometric_weights) != len(STAGES) or min(self.geometric_weights) < 0:
            raise InputError(
                f"geometric_weights needs {len(STAGES)} non-negative values ({', '.join(STAGES)}).",
                field="geometric_weights",
            )
        if not (any(self.geometric_weights) or self.semantic_weight
                or (self.prompt and self.prompt_weight)):
            raise InputError("At least one loss term needs a positive weight.",
                             field="geometric_weights")
        if not 0 <= self.distortion <= 1:
            raise InputError("distortion must be between 0 and 1.", field="distortion")
        low, high = self.crop_scale
        if not 0 < low <= high <= 1:
            raise InputError("crop_scale must satisfy 0 < low <= high <= 1.", field="crop_scale")


@dataclass(frozen=True)
class Execution:
    """The execution knobs of a sketch run: they change how the math runs on a device (its
    precision, memory layout and batching), not what the method is. The device itself is the
    Sketcher's."""

    # The precision CLIP runs in (the losses are always reduced in float32): "fp32", "fp16"
    # (autocast), or "auto": fp16 on CUDA (as the reference runs CLIP there), fp32 on a CPU
    # (IEEE float32; docs/precision.md) and on MPS (not measured there).
    precision: str = "auto"
    # Channels-last activations and weights. None: on for CPU (measured faster with oneDNN) and
    # CUDA (cuDNN's tensor-core kernels are NHWC), off on MPS (not measured there).
    channels_last: bool | None = None
    # Sketch images per CLIP forward: bounds memory (RN101 keeps ~0.2 GB of activations per
    # image for the backward pass). None: 16 on CPU and MPS; on CUDA as many as half the free
    # memory holds.
    max_batch: int | None = None

    def __post_init__(self) -> None:
        if self.max_batch is not None and self.max_batch < 1:
            raise InputError("max_batch must be positive.", field="max_batch")
        if self.precision not in PRECISION_NAMES:
            raise InputError(
                f"precision must be one of auto, {', '.join(PRECISIONS)}; got {self.precision!r}.",
                field="precision",
            )


@dataclass(frozen=True)
class Models:
    """The networks a Sketcher loads (open_clip names or config JSON files; pretrained tags or
    checkpoint files) and the u2net ONNX file for ``auto`` masks (None: rembg's cache)."""

    loss_model: str = "RN101"
    loss_weights: str = "openai"
    saliency_model: str = "ViT-B-32"
    saliency_weights: str = "openai"
    mask_model: str | None = None


# Named trade-offs between time and quality (measured times: docs/development.md).
PRESETS: dict[str, SketchConfig] = {
    # Laptop CPU: one seed, one augmentation, 150 steps, and it stops once the loss stalls.
    # A 16-stroke sketch of a 512 px photo in about a minute on a 2-core CPU with the real
    # model sizes (benchmarks/step.py --draft; docs/development.md has the figures).
    "draft": SketchConfig(preset="draft", steps=150, seeds=1, augmentations=1, eval_every=5,
                          patience=8),
    # The published CLIPasso defaults: every one of the 2000 steps runs, as in the paper.
    "standard": SketchConfig(preset="standard"),
    # More independent starts to choose from.
    "best": SketchConfig(preset="best", seeds=6),
}
# `auto` is resolved where the job runs: the device decides (see resolve_preset).
PRESET_NAMES: tuple[str, ...] = ("auto", *PRESETS)


def device_type(device: object) -> str:
    """The type of a device or its name: ``cuda:1`` -> ``cuda`` (a torch.device prints as its
    name, so either kind goes in without importing torch)."""
    return str(device).split(":", 1)[0]


def resolved_precision(precision: str, device: object) -> str:
    """The precision CLIP runs in for ``precision`` on ``device``: ``auto`` is fp16 on CUDA (as
    the reference runs CLIP there) and fp32 elsewhere."""
    if precision != "auto":
        return precision
    return "fp16" if device_type(device) == "cuda" else "fp32"


def resolve_preset(name: str, device: object = None) -> str:
    """The concrete preset for ``name``: ``auto`` is ``standard`` on a GPU (CUDA or MPS) and
    ``draft`` on a CPU, where the full method takes hours."""
    if name not in PRESET_NAMES:
        raise InputError(
            f"Unknown preset {name!r}; choose one of {', '.join(PRESET_NAMES)}.", field="preset"
        )
    if name != "auto":
        return name
    if device is None:
        raise ValueError("the auto preset needs the device the job runs on")
    return "standard" if device_type(device) in GPU_TYPES else "draft"


def preset(name: str, device: object = None, **overrides) -> SketchConfig:
    """The named preset (``auto`` resolved for ``device``), with any ``SketchConfig`` fields
    replaced by ``overrides``."""
    config = PRESETS[resolve_preset(name, device)]
    return replace(config, **overrides) if overrides else config


def stroke_counts(strokes: int | Iterable[int]) -> tuple[int, ...]:
    """Validated, de-duplicated, sorted stroke counts."""
    counts = (strokes,) if isinstance(strokes, int) else tuple(strokes)
    if not counts:
        raise InputError("Give at least one stroke count.", field="strokes")
    for n in counts:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_STROKES:
            raise InputError(
                f"Stroke counts must be whole numbers from 1 to {MAX_STROKES}, got {n!r}.",
                field="strokes",
            )
    return tuple(sorted(set(counts)))
