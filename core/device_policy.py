"""How the loss runs on a device: CLIP's precision and the loss scale that goes with it,
channels-last, and how many sketch views one CLIP forward takes (a memory probe on CUDA)."""

from __future__ import annotations

import torch

from sketchify.core.config import resolved_precision
from sketchify.core.method.losses import ClipLoss

# The dtype CLIP runs in for each of config.PRECISIONS (None: float32, no autocast).
PRECISION_DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "fp16": torch.float16}
# float16 gradients of a mean over ~10^5 activations fall below its normal range; scaling the
# loss (and dividing the gradient back in float32) keeps them representable, with a wide
# margin below float16's overflow for these losses.
FP16_LOSS_SCALE = 2.0**10


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype CLIP runs in for ``precision`` on ``device`` (None: float32, no autocast)."""
    return PRECISION_DTYPES[resolved_precision(precision, device)]


def loss_scale(autocast: torch.dtype | None) -> float:
    """What the loss is multiplied by before its backward pass (and the gradient divided by)."""
    return FP16_LOSS_SCALE if autocast == torch.float16 else 1.0


def channels_last(asked: bool | None, device: torch.device) -> bool:
    """The config's choice, or by default: on for CPU and CUDA, off on MPS (not measured)."""
    return device.type != "mps" if asked is None else asked


def chunk_size(loss_fn: ClipLoss, views: int) -> int:
    """Sketch views per CLIP forward when the config leaves it open: 16 on a CPU or MPS
    (~3 GB of activations); on CUDA as many as half the free memory holds, from the memory one
    view was measured to take."""
    device = loss_fn.device
    if device.type != "cuda":
        return 16
    free, _ = torch.cuda.mem_get_info(device)
    free += torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    return max(1, min(views, int(0.5 * free / _view_bytes(loss_fn))))


def _view_bytes(loss_fn: ClipLoss) -> int:
    """Peak CUDA memory that one sketch view's forward and backward add."""
    device = loss_fn.device
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    view = torch.ones(1, 1, loss_fn.size, loss_fn.size, device=device, requires_grad=True)
    loss_fn.terms(loss_fn.encode(view), loss_fn.clean)["total"].sum().backward()
    torch.cuda.synchronize(device)
    return max(1, torch.cuda.max_memory_allocated(device) - before)
