"""CLIPasso's loss: the sketch must look like the photo to a CLIP ResNet, layer by layer
(geometric) and as a whole (semantic), optionally also like a text prompt."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import open_clip
import torch
import torch.nn.functional as F
from open_clip.modified_resnet import ModifiedResNet

from sketchify.core.clip.models import clip_mean_std
from sketchify.core.config import STAGES
from sketchify.core.errors import InputError
from sketchify.core.method.augment import resize

# Leading stages kept in float32 under autocast: their high-resolution activations carry the
# strokes' sub-pixel positions. With the stem in float16, the stroke gradients of 2 seeds x
# 8 strokes x 3 views had a cosine of 0.987 to float32's, 0.994 with it kept
# (tests/engine/test_speed_paths.py); it is ~5 % of RN101's work.
EXACT_STAGES = 1


@dataclass
class Features:
    """What the loss compares: activations of the weighted ResNet stages and the embedding."""

    stages: list[torch.Tensor]
    embedding: torch.Tensor | None

    @property
    def rows(self) -> int:
        return (self.stages or [self.embedding])[0].shape[0]

    def slice(self, start: int, stop: int) -> Features:
        """Rows start..stop-1, as views (no copy)."""
        embedding = None if self.embedding is None else self.embedding[start:stop]
        return Features([s[start:stop] for s in self.stages], embedding)

    def row(self, index: int) -> Features:
        """One row, kept as a batch of one so it broadcasts against many."""
        return self.slice(index, index + 1)


def input_size(model: torch.nn.Module) -> int:
    size = model.visual.image_size
    return size if isinstance(size, int) else size[0]


class ClipLoss:
    """The loss against one fixed target. Everything that does not depend on the strokes (the
    clean photo's activations and embedding, the prompt's text embedding) is computed here once.

    ``geometric_weights`` holds one weight per ResNet stage (stem, layer1 .. layer4).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        target: torch.Tensor,
        *,
        geometric_weights: Sequence[float] = (0.0, 0.0, 1.0, 1.0, 0.0),
        semantic_weight: float = 0.1,
        prompt: str | None = None,
        prompt_weight: float = 0.1,
        autocast: torch.dtype | None = None,
        exact_stages: int = EXACT_STAGES,
        channels_last: bool = False,
    ) -> None:
        if not isinstance(model.visual, ModifiedResNet):
            raise InputError(
                "The loss model must be a CLIP ResNet (for example RN101 or RN50).",
                field="loss_model",
            )
        self.model = model
        self.size = input_size(model)
        self.device = next(model.parameters()).device
        self.autocast = autocast
        # benchmarks/precision.py tries other counts.
        self.exact_stages = exact_stages
        self.channels_last = channels_last
        # The weights follow the activations' layout (cuDNN and oneDNN would otherwise convert
        # them on every call). In place on the shared model: the layout changes, the function
        # does not; a no-op when they already have it.
        model.visual.to(memory_format=torch.channels_last if channels_last
                        else torch.contiguous_format)
        mean, std = clip_mean_std(model)
        dtype = target.dtype
        self.mean = torch.tensor(mean, device=self.device, dtype=dtype).view(3, 1, 1)
        self.std = torch.tensor(std, device=self.device, dtype=dtype).view(3, 1, 1)
        self.weighted = [(i, w) for i, w in enumerate(geometric_weights) if w]
        self.semantic_weight = semantic_weight
        self.prompt_weight = prompt_weight if prompt else 0.0
        self.needs_embedding = bool(semantic_weight or self.prompt_weight)
        # Stages past the last one needed are skipped unless the embedding is wanted.
        last_weighted = max((i for i, _ in self.weighted), default=-1)
        self.depth = len(STAGES) if self.needs_embedding else last_weighted + 1
        with torch.no_grad():
            self.clean = self.encode(resize(target, self.size)[None])
            self.text = self._encode_text(prompt) if prompt else None

    def _encode_text(self, prompt: str) -> torch.Tensor:
        tokens = open_clip.tokenize([prompt], context_length=self.model.context_length)
        return F.normalize(self.model.encode_text(tokens.to(self.device)), dim=-1)

    def encode(self, images: torch.Tensor) -> Features:
        """Images [M, 1 or 3, S, S] in [0, 1] -> the features the loss compares, in the images'
        dtype (float32) whatever precision the network ran in: the losses are reduced in it."""
        visual = self.model.visual
        x = (images.expand(-1, 3, -1, -1) - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        stages = []
        for index, name in enumerate(STAGES[: self.depth]):
            with self._precision(index >= self.exact_stages):
                x = getattr(visual, name)(x)
            stages.append(x)
        with self._precision():
            pooled = visual.attnpool(x) if self.needs_embedding else None
        embedding = None if pooled is None else F.normalize(pooled.to(images.dtype), dim=-1)
        return Features([stages[i].to(images.dtype) for i, _ in self.weighted], embedding)

    def _precision(self, lowered: bool = True):
        if self.autocast is None or not lowered:
            return nullcontext()
        return torch.autocast(self.device.type, self.autocast)

    def photo_views(self, views: torch.Tensor) -> Features:
        """Features of the augmented photo views [K, 3, S, S] with the clean one in front."""
        if not len(views):
            return self.clean
        with torch.no_grad():
            aug = self.encode(views)
        stages = [torch.cat([c, a]) for c, a in zip(self.clean.stages, aug.stages, strict=True)]
        embedding = (
            torch.cat([self.clean.embedding, aug.embedding]) if self.needs_embedding else None
        )
        return Features(stages, embedding)

    def terms(self, sketch: Features, photo: Features) -> dict[str, torch.Tensor]:
        """Loss terms per row [R]: sketch row r against photo row r, or against the one photo
        row, broadcast (never copied) to every sketch row."""
        out = {}
        if self.weighted:
            out["geometric"] = sum(
                w * (s - p).square().mean((1, 2, 3))
                for (_, w), s, p in zip(self.weighted, sketch.stages, photo.stages, strict=True)
            )
        if self.needs_embedding:
            cos = (sketch.embedding * photo.embedding).sum(-1)
            out["semantic"] = self.semantic_weight * (1 - cos)
            if self.text is not None:
                out["text"] = self.prompt_weight * (1 - sketch.embedding @ self.text[0])
        out["total"] = sum(out.values())
        return out
