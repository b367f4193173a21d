"""Where strokes start: CLIP ViT attention restricted to XDoG edges, sampled into short strokes.

The recipe is the published CLIPasso one; the constants below (and config.WALK) are its values.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from skimage.color import rgb2gray
from skimage.filters import gaussian, threshold_otsu

from sketchify.core.clip.models import normalize
from sketchify.core.config import WALK
from sketchify.core.photo.geometry import Placement
from sketchify.core.photo.target import Target

XDOG_GAMMA = 0.98
XDOG_PHI = 200.0
XDOG_EPS = -0.1
XDOG_SIGMA = 0.8
XDOG_K = 10.0
SOFTMAX_TEMPERATURE = 0.3


def xdog(gray: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Binary XDoG line map of a grey image [H, W]: **1 = ink (edge), 0 = paper**.

    Difference of Gaussians (sigma and k*sigma, the wide one weighted by gamma), soft-thresholded
    with eps and phi, rescaled to [0, 1] and binarized with Otsu's threshold; the dark class is
    ink. With phi = 200 that class is, in effect, the pixels darker than their wide surround:
    the dark side of every edge and the inside of small dark shapes. (The published code keeps
    the inverse, white-is-1 image and multiplies by ``1 - xdog``.) A featureless image has no ink.
    Returns float32 [H, W] on the CPU.
    """
    g = gray.detach().cpu().double().numpy() if isinstance(gray, torch.Tensor) else gray
    g = np.asarray(g, dtype=np.float64)
    if g.ndim != 2:
        raise ValueError(f"xdog expects a grey image [H, W], got shape {list(g.shape)}")
    wide = gaussian(g, sigma=XDOG_SIGMA * XDOG_K, mode="reflect")
    diff = gaussian(g, sigma=XDOG_SIGMA, mode="reflect") - XDOG_GAMMA * wide
    tone = np.where(diff < XDOG_EPS, 1.0, 1.0 + np.tanh(XDOG_PHI * diff))
    low, high = tone.min(), tone.max()
    if high - low < 1e-9:
        return torch.zeros(g.shape, dtype=torch.float32)
    tone = (tone - low) / (high - low)
    return torch.from_numpy(tone < threshold_otsu(tone)).float()


def attention_map(vit_model: torch.nn.Module, image: torch.Tensor) -> torch.Tensor:
    """Attention of the class token to the image patches, averaged over every head of every
    layer, upsampled (bicubic) to the image's size and min-max normalized to [0, 1].

    ``vit_model`` is an open_clip CLIP model with a ViT image tower (any patch grid);
    ``image`` is [3, H, W] RGB in [0, 1]. Returns [H, W] float32 on the CPU.
    """
    visual = vit_model.visual
    blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
    if blocks is None or not hasattr(visual, "grid_size"):
        raise ValueError("attention_map needs an open_clip model with a ViT image tower")
    attns = [block.attn for block in blocks]
    if not all(isinstance(a, torch.nn.MultiheadAttention) for a in attns):
        raise ValueError("attention_map needs ViT blocks built on nn.MultiheadAttention")

    height, width = image.shape[-2:]
    device = next(visual.parameters()).device
    x = image.to(device=device, dtype=torch.float32)[None]
    size = visual.image_size if isinstance(visual.image_size, tuple) else (visual.image_size,) * 2
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bicubic", align_corners=False).clamp(0, 1)

    weights: list[torch.Tensor] = []

    def ask_for_weights(module, args, kwargs):
        # The blocks call attention with need_weights=False; ask for per-head weights instead.
        return args, {**kwargs, "need_weights": True, "average_attn_weights": False}

    def keep_weights(module, args, output):
        weights.append(output[1])  # [batch, heads, queries, keys]

    handles = []
    try:
        for attn in attns:
            handles.append(attn.register_forward_pre_hook(ask_for_weights, with_kwargs=True))
            handles.append(attn.register_forward_hook(keep_weights))
        with torch.no_grad():
            visual(normalize(x, vit_model))
    finally:
        for handle in handles:
            handle.remove()

    grid_h, grid_w = visual.grid_size
    # Layers x heads, class-token query (row 0), patch keys (after the class token).
    cls_to_patches = torch.stack(weights)[:, 0, :, 0, 1:].float()
    if cls_to_patches.shape[-1] != grid_h * grid_w:
        raise ValueError(f"expected {grid_h * grid_w} patch tokens, got {cls_to_patches.shape[-1]}")
    grid = cls_to_patches.mean(dim=(0, 1)).view(1, 1, grid_h, grid_w)
    attention = F.interpolate(grid, size=(height, width), mode="bicubic", align_corners=False)[0, 0]
    attention = attention - attention.min()
    return (attention / attention.max().clamp_min(1e-12)).cpu()


def saliency_map(target: Target, vit_model: torch.nn.Module) -> torch.Tensor:
    """Attention restricted to the XDoG edges of the target: [canvas, canvas], >= 0, zero off
    the edges, so strokes start on lines the model finds important. As published, XDoG sees
    the CLIP-normalized image (its eps threshold is tuned to that scale). With an object mask
    it is zero off the object too."""
    image = target.image.detach().cpu()
    edges = xdog(rgb2gray(normalize(image, vit_model).permute(1, 2, 0).numpy()))
    saliency = attention_map(vit_model, image) * edges * _photo_mask(target.placement)
    return saliency if target.mask is None else saliency * target.mask.cpu()


def _photo_mask(placement: Placement, margin: float = 2.0) -> torch.Tensor:
    """1 on canvas pixels inside the photo, 0 on the white padding and a thin rim around the
    photo: the photo's own frame is an XDoG edge on a non-square image, but not the object's."""
    c = placement.canvas
    corners = torch.tensor([[0.0, 0.0], [placement.width, placement.height]], dtype=torch.float64)
    (x0, y0), (x1, y1) = placement.to_canvas(corners).tolist()
    centres = torch.arange(c, dtype=torch.float64) + 0.5
    inside_x = (centres >= x0 + margin) & (centres <= x1 - margin)
    inside_y = (centres >= y0 + margin) & (centres <= y1 - margin)
    return (inside_y[:, None] & inside_x[None, :]).float()


def init_strokes(
    saliency: torch.Tensor,
    n: int,
    generator: torch.Generator,
    canvas: int = 224,
    walk: float = WALK,
    allowed: torch.Tensor | None = None,
) -> torch.Tensor:
    """Start points for ``n`` strokes: [n, 4, 2] in canvas pixels, float32, on the generator's
    device.

    Among the pixels with positive saliency, ``n`` distinct pixels are drawn with probabilities
    softmax(saliency / 0.3). A stroke's first control point is its pixel's centre, the next three
    a random walk with steps uniform in +-walk*canvas per axis (not clipped to the canvas).
    If fewer than ``n`` pixels are positive, all of them are used and the rest are drawn
    uniformly from the other pixels. ``allowed`` (an object mask, [rows, cols], > 0 on the
    object) confines every start to it: the rest are drawn from its other pixels, and when it
    has fewer than ``n`` pixels in all, from all of its pixels with replacement (strokes may then
    share a first point; their random walks differ). The same generator state gives the same
    strokes.
    """
    if n < 1:
        raise ValueError(f"init_strokes needs n >= 1, got {n}")
    rows, cols = saliency.shape
    if n > rows * cols:
        raise ValueError(f"cannot start {n} strokes on {rows}x{cols} pixels")
    values = saliency.detach().to(device=generator.device, dtype=torch.float32).flatten()
    pool = None if allowed is None else allowed.detach().to(values.device).flatten() > 0
    if pool is not None and not pool.any():
        raise ValueError("init_strokes needs at least one allowed pixel")
    positive = values > 0 if pool is None else (values > 0) & pool
    if pool is not None and int(pool.sum()) < n:
        picked = torch.multinomial(pool.float(), n, replacement=True, generator=generator)
    elif int(positive.sum()) >= n:
        probs = torch.zeros_like(values)
        probs[positive] = torch.softmax(values[positive] / SOFTMAX_TEMPERATURE, dim=0)
        picked = torch.multinomial(probs, n, replacement=False, generator=generator)
    else:
        salient = positive.nonzero().flatten()
        salient = salient[torch.randperm(len(salient), generator=generator, device=values.device)]
        others = torch.multinomial(
            (~positive if pool is None else pool & ~positive).float(), n - len(salient),
            replacement=False, generator=generator,
        )
        picked = torch.cat([salient, others])

    scale = torch.tensor([canvas / cols, canvas / rows], device=values.device)
    start = torch.stack([picked % cols, picked // cols], dim=-1).float().add(0.5) * scale
    steps = (torch.rand(n, 3, 2, generator=generator, device=values.device) * 2 - 1) * (
        walk * canvas
    )
    return torch.cat([start[:, None], start[:, None] + steps.cumsum(dim=1)], dim=1)
