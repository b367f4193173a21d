"""Devices and frozen CLIP models (open_clip), with clear errors when weights are missing."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import threading
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

import open_clip
import torch
from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

from sketchify.core.clip.fast_resnet import fold_loss_model
from sketchify.core.errors import InputError, WeightsError, first_line

DEFAULT_WEIGHTS = "openai"
# Seconds to wait for the model hub before telling the user how to get the file by hand.
HUB_PROBE_TIMEOUT_S = 5.0


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then MPS, then the CPU; an explicit device must be available."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise InputError(
            f"Unknown device '{name}'; use auto, cpu, cuda, cuda:N or mps.", field="device"
        ) from exc
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(
                f"Device '{name}' is not available: no CUDA GPU found.", field="device"
            )
        if device.index is not None and device.index >= count:
            raise InputError(
                f"Device '{name}' is not available: only {count} CUDA GPU(s) found.",
                field="device",
            )
    elif device.type == "mps" and not _mps_available():
        raise InputError(f"Device '{name}' is not available on this machine.", field="device")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise InputError(
            f"Unsupported device '{name}'; use auto, cpu, cuda, cuda:N or mps.", field="device"
        )
    return device


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


_cache: dict[tuple[str, str, str], torch.nn.Module] = {}
_cache_lock = threading.Lock()


def load_clip(
    name: str,
    weights: str = DEFAULT_WEIGHTS,
    device: str | torch.device = "cpu",
    *,
    role: str | None = None,
) -> torch.nn.Module:
    """A frozen open_clip CLIP model in eval mode on ``device``.

    ``name`` is an open_clip model name ("RN101", "ViT-B-32") or the path of an open_clip
    model-config JSON. ``weights`` is a pretrained tag ("openai": taken from the Hugging Face
    cache, or downloaded into it with a progress bar) or the path of a local checkpoint; one of
    OpenAI's own TorchScript ``.pt`` files gets QuickGELU, the activation it was trained with.
    ``role`` ("loss" or "saliency") only words the errors: it names the CLI option and field.
    The same (name, weights, device) loaded twice in one process returns the same object.
    """
    return load_clips([(name, weights, role)], device)[0]


def load_clips(
    specs: Sequence[tuple[str, str, str | None]], device: str | torch.device = "cpu"
) -> list[torch.nn.Module]:
    """Several models, each ``(name, weights, role)`` as for :func:`load_clip`. Every model's
    weights are looked for before any is loaded, so one error names every missing file."""
    device = torch.device(device)
    planned: list[tuple[tuple[str, str, str], tuple[str, Path, dict] | None]] = []
    problems: list[WeightsError] = []
    unreachable: set[str] = set()  # a hub that did not answer is not asked twice
    for name, weights, role in specs:
        model_name = _register_config(name, role)
        local = _is_path(weights) or (
            os.path.isfile(weights) and not open_clip.get_pretrained_cfg(model_name, weights)
        )
        key = (
            model_name if not _is_path(name) else str(Path(name).resolve()),
            str(Path(weights).resolve()) if local else weights,
            str(device),
        )
        if key in _cache:
            planned.append((key, None))
            continue
        try:
            planned.append((key, (model_name, *_checkpoint(model_name, weights, local, role,
                                                           unreachable))))
        except WeightsError as exc:
            problems.append(exc)
    if problems:
        raise _one_error(problems)
    with _cache_lock:
        for key, plan in planned:
            if key not in _cache:
                _cache[key] = _create(*plan, device)
        return [_cache[key] for key, _ in planned]


def config_name(name: str) -> str:
    """The open_clip model name of ``name`` (a config JSON is known by its file stem)."""
    return _register_config(name, None)


def _is_path(value: str) -> bool:
    """Tags and model names never contain a path separator or a file suffix."""
    separators = (os.sep, os.altsep or os.sep)
    suffixes = (".json", ".pt", ".pth", ".bin", ".safetensors", ".ckpt")
    return any(s in value for s in separators) or value.endswith(suffixes)


def _register_config(name: str, role: str | None) -> str:
    """Make a model-config JSON known to open_clip under its file stem; return the model name."""
    field = f"{role}_model" if role else "model"
    if not _is_path(name):
        if open_clip.get_model_config(name) is None:
            raise InputError(
                f"Unknown CLIP model '{name}'; use an open_clip model name such as RN101 or "
                "ViT-B-32, or the path of an open_clip model-config JSON file.",
                field=field,
            )
        return name
    path = Path(name)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"Cannot read the model config {path}: {exc}.", field=field) from exc
    if not all(k in config for k in ("embed_dim", "vision_cfg", "text_cfg")):
        raise InputError(
            f"The model config {path} is not an open_clip config "
            "(it needs embed_dim, vision_cfg and text_cfg).",
            field=field,
        )
    if open_clip.get_model_config(path.stem) != config:
        open_clip.add_model_config(path)
    if open_clip.get_model_config(path.stem) != config:
        raise InputError(
            f"The model config {path} clashes with another config named '{path.stem}'.",
            field=field,
        )
    return path.stem


def _checkpoint(
    model_name: str, weights: str, local: bool, role: str | None, unreachable: set[str]
) -> tuple[Path, dict]:
    """The checkpoint file to load and the ``create_model`` options it needs."""
    if local:
        checkpoint = Path(weights)
        if not checkpoint.is_file():
            raise WeightsError(f"Weights file not found: {checkpoint}.")
        # OpenAI's own .pt files are TorchScript archives of models trained with QuickGELU, an
        # activation the plain configs (RN101, ViT-B-32) do not say. A bare state dict cannot
        # tell: it needs the -quickgelu model name (see --help).
        return checkpoint, {"force_quick_gelu": True} if _is_torchscript(checkpoint) else {}
    tag_cfg = open_clip.get_pretrained_cfg(model_name, weights)
    if not tag_cfg:
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(model_name)) or "none"
        raise WeightsError(
            f"'{weights}' is neither a weights file nor a pretrained tag of {model_name} "
            f"(known tags: {tags})."
        )
    checkpoint = Path(_hub_checkpoint(model_name, weights, tag_cfg, role, unreachable))
    options = {
        # The OpenAI weights were trained with QuickGELU, which the plain configs do not say.
        "force_quick_gelu": bool(tag_cfg.get("quick_gelu", False)),
        "force_preprocess_cfg": {
            k: tag_cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in tag_cfg
        },
    }
    return checkpoint, options


def _create(model_name: str, checkpoint: Path, options: dict, device: torch.device
            ) -> torch.nn.Module:
    try:
        if _is_torchscript(checkpoint):
            model = _from_torchscript(model_name, checkpoint, options)
        else:
            model = open_clip.create_model(model_name, pretrained=str(checkpoint), **options)
    except Exception as exc:  # torch.load / load_state_dict raise many types on a bad file.
        raise WeightsError(
            f"The weights file {checkpoint} could not be loaded as {model_name} "
            f"({_load_problem(exc)})."
        ) from exc
    model.eval().requires_grad_(False)
    # Frozen for good, so a CLIP ResNet's BatchNorms fold into its convolutions (same function).
    return fold_loss_model(model).to(device)


def _is_torchscript(path: Path) -> bool:
    """A TorchScript archive: a zip whose records include ``constants.pkl`` (torch's own test)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(n.rsplit("/", 1)[-1] == "constants.pkl" for n in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _from_torchscript(model_name: str, checkpoint: Path, options: dict) -> torch.nn.Module:
    """The open_clip model with the tensors of a TorchScript archive (its code never runs)."""
    quiet = _DropRandomInit()
    logging.getLogger().addFilter(quiet)
    try:
        model = open_clip.create_model(model_name, **options)  # random until loaded below
    finally:
        logging.getLogger().removeFilter(quiet)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "torch.jit.load is deprecated"
        tensors = torch.jit.load(str(checkpoint), map_location="cpu").state_dict()
    # OpenAI's archives keep these sizes as tensors beside the weights (open_clip drops them
    # too); a traced archive also keeps buffers the model derives, such as the text mask.
    derived = {name for name, _ in model.named_buffers()} - set(model.state_dict())
    for key in ("input_resolution", "context_length", "vocab_size", *derived):
        tensors.pop(key, None)
    model.load_state_dict(tensors)
    return model


class _DropRandomInit(logging.Filter):
    """open_clip warns that a model built without weights is random; ours get theirs next."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "initialized randomly" not in record.getMessage()


def _load_problem(exc: Exception) -> str:
    if isinstance(exc, RuntimeError) and "state_dict" in str(exc):
        return "its tensors do not match this model's architecture"
    if isinstance(exc, OSError):
        return first_line(exc)
    # Unpickling garbage fails in many ways; the details would only confuse.
    return "it is not a readable PyTorch or safetensors checkpoint"


class _HubMissing(WeightsError):
    """A pretrained tag's file is neither cached nor downloadable now. ``cause`` has a
    ``{what}`` slot for the weights' name, so that several combine into one sentence."""

    def __init__(self, cause: str, what: str, fix: str, cache: str) -> None:
        self.cause, self.what, self.fix, self.cache = cause, what, fix, cache
        super().__init__(f"{cause.replace('{what}', what)}: {fix}, "
                         f"or run once online to cache it in {cache}.")


def _one_error(problems: Sequence[WeightsError]) -> WeightsError:
    """Every model's missing weights in one message."""
    if len(problems) == 1:
        return problems[0]
    hub = [p for p in problems if isinstance(p, _HubMissing)]
    if len(hub) == len(problems) and len({p.cause for p in hub}) == 1:
        what = " and ".join(p.what for p in hub)
        fixes = "; ".join(p.fix for p in hub)
        return WeightsError(f"{hub[0].cause.replace('{what}', what)}: {fixes}; "
                            f"or run once online to cache them in {hub[0].cache}.")
    return WeightsError(" ".join(str(p) for p in problems))


def _hub_checkpoint(
    model_name: str, tag: str, tag_cfg: dict, role: str | None, unreachable: set[str]
) -> str:
    """The cached checkpoint of a pretrained tag, downloading it if the hub answers quickly.
    An endpoint in ``unreachable`` is not asked again; one that does not answer is added."""
    from huggingface_hub import constants, hf_hub_download, hf_hub_url, try_to_load_from_cache
    from huggingface_hub.file_download import get_hf_file_metadata

    hub = tag_cfg.get("hf_hub", "")
    if not hub:
        raise WeightsError(
            f"The {model_name} '{tag}' weights are not on the Hugging Face hub: download "
            f"{tag_cfg.get('url', 'them')} and {_how_to_pass(role, model_name, tag_cfg)}."
        )
    # open_clip's convention: "org/repo/" means the repo's default file, "org/repo/file" a file.
    repo_id, _, filename = hub.rpartition("/")
    filename = filename or HF_WEIGHTS_NAME
    # open_clip prefers the safetensors twin of its default file; so do we.
    candidates = [HF_SAFE_WEIGHTS_NAME, filename] if filename == HF_WEIGHTS_NAME else [filename]
    for candidate in candidates:
        cached = try_to_load_from_cache(repo_id, candidate)
        if isinstance(cached, str):
            return cached

    endpoint = os.environ.get("HF_ENDPOINT", constants.ENDPOINT).rstrip("/")
    offline = constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").upper() in (
        "1",
        "ON",
        "YES",
        "TRUE",
    )
    fix = (f"download {hf_hub_url(repo_id, filename, endpoint=endpoint)} and "
           f"{_how_to_pass(role, model_name, tag_cfg)}")

    def missing(cause: str) -> _HubMissing:
        return _HubMissing(cause, f"{model_name} '{tag}'", fix, constants.HF_HUB_CACHE)

    if offline:
        raise missing("The {what} weights are not cached and HF_HUB_OFFLINE is set")
    unanswered = f"Cannot reach {endpoint} to download the {{what}} weights"
    if endpoint in unreachable:
        raise missing(unanswered)
    for candidate in candidates:
        url = hf_hub_url(repo_id, candidate, endpoint=endpoint)
        try:
            get_hf_file_metadata(url, timeout=HUB_PROBE_TIMEOUT_S, endpoint=endpoint)
        except Exception as exc:
            if _is_missing_file(exc):
                continue
            unreachable.add(endpoint)
            raise missing(unanswered) from exc
        try:
            return hf_hub_download(repo_id, candidate, endpoint=endpoint)
        except Exception as exc:
            raise missing(f"Downloading the {{what}} weights failed ({first_line(exc)})") from exc
    raise missing("The hub has no {what} weights file")


def _is_missing_file(exc: Exception) -> bool:
    from huggingface_hub.errors import EntryNotFoundError

    return isinstance(exc, EntryNotFoundError)


def _how_to_pass(role: str | None, model_name: str, tag_cfg: dict) -> str:
    how = f"pass it with --{role}-weights FILE" if role else "pass its path as the weights"
    # A bare file carries no activation setting; these weights need the QuickGELU variant.
    quick = f"{model_name}-quickgelu"
    if tag_cfg.get("quick_gelu") and open_clip.get_model_config(quick) is not None:
        how += f" and --{role}-model {quick}" if role else f" with the model {quick}"
    return how


def openai_release(name: str, weights: str) -> str | None:
    """The OpenAI CLIP release ("RN101", "ViT-B-32", ...) that ``name`` with ``weights``
    loads: the ``openai`` tag of an open_clip model, or a file with the SHA-256 of one of
    OpenAI's published checkpoints. None for anything else, and for what cannot be told (a
    state dict saved elsewhere, such as the Hugging Face copy, has no published sum)."""
    if weights == DEFAULT_WEIGHTS and not _is_path(name):
        base = name.removesuffix("-quickgelu")
        return base if open_clip.get_pretrained_cfg(base, DEFAULT_WEIGHTS) else None
    path = Path(weights)
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return openai_sums().get(digest.hexdigest())


@functools.cache
def openai_sums() -> dict[str, str]:
    """SHA-256 -> release of OpenAI's published CLIP checkpoints. Their download addresses
    carry the sum (.../clip/models/<sha256>/RN101.pt), which OpenAI's own loader checks, and
    open_clip keeps those addresses in its pretrained configs."""
    sums = {}
    for model, tag in open_clip.list_pretrained():
        url = open_clip.get_pretrained_cfg(model, tag).get("url", "") if tag == "openai" else ""
        parts = url.split("/")
        if "openaipublic" in url and len(parts) > 2 and re.fullmatch(r"[0-9a-f]{64}", parts[-2]):
            sums.setdefault(parts[-2], model.removesuffix("-quickgelu"))
    return sums


def normalize(images: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    """CLIP input normalization of images [..., 3, H, W] in [0, 1] for ``model``."""
    mean, std = clip_mean_std(model)
    mean = images.new_tensor(mean).view(3, 1, 1)
    std = images.new_tensor(std).view(3, 1, 1)
    return (images - mean) / std


def clip_mean_std(model: torch.nn.Module) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The per-channel mean and std the model's weights were trained with."""
    cfg = getattr(model.visual, "preprocess_cfg", None) or {}
    mean = cfg.get("mean", open_clip.OPENAI_DATASET_MEAN)
    std = cfg.get("std", open_clip.OPENAI_DATASET_STD)
    return tuple(mean), tuple(std)
