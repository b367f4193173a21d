"""`sketchify evaluate`: the paper's recognition protocol, for anyone who has the weights.

Every photo of a class-folder data set is sketched at every stroke count through the batch
runner (so a second run only classifies), then each sketch is rendered as the optimizer sees it
(224 px, black on white) and classified zero-shot by the saliency model, CLIP ViT-B/32, a
different network from the RN101 that drew it, among all the class names, each put in
``PROMPT``. Per stroke count: top-1 and top-3 accuracy, the mean cosine between the sketch's and
its photo's image embeddings, and the number of sketches.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import open_clip
import torch

from sketchify.core.clip.models import (
    config_name,
    load_clip,
    normalize,
    openai_release,
    resolve_device,
)
from sketchify.core.commands import batch
from sketchify.core.commands.preflight import PhotoJob
from sketchify.core.config import Models
from sketchify.core.method.render import rasterize
from sketchify.core.output.files import write_all
from sketchify.core.output.svg import parse_svg
from sketchify.core.photo.geometry import Placement
from sketchify.core.photo.image import load_image
from sketchify.core.photo.target import make_target

# CLIP's own zero-shot recipe puts each class name in a sentence; this one says what is shown.
PROMPT = "a sketch of a {}."
# The published models the paper's figures were made with: the loss and the classifier.
PAPER_MODELS = {"loss_model": "RN101", "saliency_model": "ViT-B-32"}
CHUNK = 32  # images per CLIP forward


def zero_shot(sketches: torch.Tensor, photos: torch.Tensor, labels: torch.Tensor,
              classes: torch.Tensor) -> dict[str, float | int]:
    """Top-1 / top-3 accuracy and the mean sketch-photo cosine of N sketches.

    ``sketches`` and ``photos`` are [N, D] image embeddings (row i: a sketch and its photo),
    ``labels`` [N] the true class indices, ``classes`` [C, D] the text embeddings. A sketch is
    right at k when fewer than k other classes score at least as high as its own (a tie counts
    against it).
    """
    s, p, t = (torch.nn.functional.normalize(x.double(), dim=-1)
               for x in (sketches, photos, classes))
    scores = s @ t.T
    own = scores.gather(1, labels[:, None])
    rivals = (scores >= own).sum(1) - 1
    return {"top1": float((rivals < 1).double().mean()),
            "top3": float((rivals < 3).double().mean()),
            "cosine": float((s * p).sum(1).mean()), "sketches": len(labels)}


def sketch_view(svg: bytes, canvas: int = 224) -> torch.Tensor:
    """An SVG as the optimizer saw it: [3, canvas, canvas] in [0, 1], black ink on white."""
    strokes, width, height = parse_svg(svg)
    placement = Placement(width, height, canvas)
    points = placement.to_canvas(strokes.points).float()
    ink = rasterize(points, (strokes.half_width * placement.scale).float(),
                    strokes.opacity.float(), canvas)
    return ink.expand(3, -1, -1)


def embed_images(model: torch.nn.Module, images: Sequence[torch.Tensor]) -> torch.Tensor:
    device = next(model.parameters()).device
    parts = []
    with torch.no_grad():
        for start in range(0, len(images), CHUNK):
            chunk = torch.stack(list(images[start:start + CHUNK])).to(device)
            parts.append(model.encode_image(normalize(chunk, model)).float().cpu())
    return torch.cat(parts)


def embed_classes(model: torch.nn.Module, name: str, classes: Sequence[str]) -> torch.Tensor:
    tokens = open_clip.get_tokenizer(name)([PROMPT.format(c) for c in classes])
    with torch.no_grad():
        return model.encode_text(tokens.to(next(model.parameters()).device)).float().cpu()


def evaluate(jobs: Sequence[PhotoJob], request: batch.Request, counts: Sequence[int],
             json_path: Path | None = None) -> batch.BatchOutcome:
    """Sketch what is missing, classify every sketch (unless the sketching was stopped), print
    the table, write the JSON to ``json_path``."""
    outcome = batch.run(jobs, request, batch=True)
    print(outcome.summary(), file=sys.stderr)
    if outcome.canceled:
        return outcome
    failed = {id(job) for job, _ in outcome.failed}
    usable = [job for job in jobs if id(job) not in failed]
    models = request.models
    model = (outcome.sketcher.saliency_model if outcome.sketcher is not None else
             load_clip(models.saliency_model, models.saliency_weights,
                       resolve_device(request.device), role="saliency"))
    classes = sorted({job.label for job in jobs})
    report = {"weights": weights_report(models), "prompt": PROMPT, "classes": classes,
              "counts": figures(model, config_name(models.saliency_model), usable, classes,
                                counts)}
    print(table(report["counts"]))
    if not report["weights"]["published"]:
        print("sketchify evaluate: these are not the published OpenAI weights "
              f"({', '.join(f'{v} openai' for v in PAPER_MODELS.values())}, or OpenAI's own .pt "
              "files): the figures say nothing about sketch quality.", file=sys.stderr)
    if json_path is not None:
        write_all({json_path: json.dumps(report, indent=2) + "\n"})
    return outcome


def figures(model: torch.nn.Module, name: str, jobs: Sequence[PhotoJob], classes: Sequence[str],
            counts: Sequence[int]) -> dict[str, dict[str, float | int]]:
    if not jobs:
        return {}
    texts = embed_classes(model, name, classes)
    photos = embed_images(model, [make_target(load_image(job.photo)).image for job in jobs])
    labels = torch.tensor([classes.index(job.label) for job in jobs])
    return {str(n): zero_shot(embed_images(model, [sketch_view(job.outputs[n].read_bytes())
                                                  for job in jobs]), photos, labels, texts)
            for n in counts}


def weights_report(models: Models) -> dict[str, Any]:
    """Which weights made and judged the sketches, and whether they are the paper's."""
    labels = batch.model_labels(models)
    releases = {"loss_model": openai_release(models.loss_model, models.loss_weights),
                "saliency_model": openai_release(models.saliency_model,
                                                 models.saliency_weights)}
    return {**labels, "published": releases == PAPER_MODELS}


def table(counts: dict[str, dict[str, float | int]]) -> str:
    lines = [f"{'strokes':>7}  {'sketches':>8}  {'top-1':>5}  {'top-3':>5}  {'cosine':>6}"]
    for n, f in counts.items():
        lines.append(f"{n:>7}  {f['sketches']:>8}  {f['top1']:>5.3f}  {f['top3']:>5.3f}  "
                     f"{f['cosine']:>6.3f}")
    return "\n".join(lines)
