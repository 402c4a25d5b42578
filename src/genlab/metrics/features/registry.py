"""Registry of feature extractors, and the loop that runs one over images.

A feature extractor is any object with

- ``name: str`` and ``dim: int`` (features per image),
- ``__call__(images) -> features``: uint8 N×C×H×W tensor in, floating (N, dim) tensor out,
- ``protocol() -> dict``: everything that changes its output (name, weights SHA-256, resize mode,
  input size, ...), JSON-serialisable, used in cache keys and stored with feature statistics,

and may declare what more it gives in ``capabilities`` (an `ExtractorCapabilities`): class logits
from ``logits(images, features=None)`` (the Inception Score needs them), and whether those are
the classes of a classifier of the data set (mode coverage counts them). Metrics check these
declarations (`capabilities`) before any image is read; an extractor that declares nothing gives
features only.

Extractors are registered by name with a factory ``factory(**options) -> extractor``. The built-in
entries are registered as "module:attribute" strings and imported on first use, so importing this
registry (for example to list names in the CLI) loads no network code.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch

from genlab.arrays import check_integer
from genlab.data.imageio import check_uint8_images
from genlab.errors import GenlabError, did_you_mean
from genlab.metrics.registry import load
from genlab.progress import Progress

#: Images per extractor call in `extract_features`.
DEFAULT_BATCH_SIZE = 256


@runtime_checkable
class FeatureExtractor(Protocol):
    """What `extract_features` and the evaluation code need from an extractor."""

    name: str
    dim: int

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...

    def protocol(self) -> dict[str, Any]: ...


ExtractorFactory = Callable[..., FeatureExtractor]


@dataclass(frozen=True)
class ExtractorCapabilities:
    """What an extractor gives beyond features.

    ``logits``: ``extractor.logits(images, features=None)`` returns (N, K) class logits; given the
    batch's features, an extractor whose logits follow from them (Inception: pool3 · Wᵀ) may use
    them instead of a second forward pass. ``classes``: K when the logits are the classes of a
    classifier of the data set (mode coverage counts them), else None. ``no_logits``: why there
    are no logits, when the extractor knows (FID weights without the fc layer).
    ``clip_embedding``: the features are CLIP image embeddings (CMMD is defined on them).
    """

    logits: bool = False
    classes: int | None = None
    no_logits: str | None = None
    clip_embedding: bool = False


#: What an extractor that declares nothing gives: features only.
FEATURES_ONLY = ExtractorCapabilities()


def capabilities(extractor: FeatureExtractor) -> ExtractorCapabilities:
    """The capabilities ``extractor`` declares in its ``capabilities`` attribute, else none."""
    declared = getattr(extractor, "capabilities", FEATURES_ONLY)
    if not isinstance(declared, ExtractorCapabilities):
        raise GenlabError(
            f"extractor {extractor.name!r} declares capabilities {declared!r}; they must be an "
            "ExtractorCapabilities"
        )
    return declared


@dataclass(frozen=True)
class _Entry:
    factory: ExtractorFactory | str  # a "module:attribute" string is imported on first use
    description: str


_EXTRACTORS: dict[str, _Entry] = {
    "pixels": _Entry(
        "genlab.metrics.features.pixels:PixelExtractor",
        "raw pixels in [0, 1], optionally area-downsampled to size×size (option: size)",
    ),
    "inception": _Entry(
        "genlab.metrics.features.inception:InceptionExtractor",
        "2048-D pool3 features of the FID Inception-v3 network (options: weights, device, "
        "batch_size, resize: legacy TF1 bilinear or clean PIL bicubic, precision: fp32 or bf16)",
    ),
    "classifier-mnist": _Entry(
        "genlab.metrics.features.classifier:ClassifierExtractor",
        "128-D penultimate features of genlab's MNIST classifier, 1×28×28 input (options: "
        "weights, sha256, rgb, resize, batch_size, device)",
    ),
    "classifier-digits": _Entry(
        "genlab.metrics.features.classifier:DigitsClassifierExtractor",
        "64-D penultimate features of genlab's 8×8 digits classifier, 1×8×8 input (options: "
        "weights, sha256, rgb, resize, batch_size, device)",
    ),
    **{
        f"dinov2-vit-{size}14": _Entry(
            f"genlab.metrics.features.dinov2:vit{size}14",
            f"{dim}-D DINOv2 ViT-{size.upper()}/14 class token as dgm-eval uses it, 224×224 PIL "
            "bicubic input (options: weights, device, batch_size)",
        )
        for size, dim in (("s", 384), ("b", 768), ("l", 1024), ("g", 1536))
    },
    "clip-vit-b32": _Entry(
        "genlab.metrics.features.clip:ViTB32",
        "512-D CLIP ViT-B/32 image embedding, clean-fid's CLIP-FID space (options: weights, "
        "device, batch_size)",
    ),
    "clip-vit-l14-336": _Entry(
        "genlab.metrics.features.clip:ViTL14336",
        "768-D CLIP ViT-L/14@336px image embedding, CMMD's space (options: weights, device, "
        "batch_size)",
    ),
}


def register_extractor(
    name: str,
    factory: ExtractorFactory | str,
    *,
    description: str,
    replace: bool = False,
) -> None:
    """Register a feature extractor under ``name``.

    Parameters
    ----------
    name : str
        Registry key, as used by `get_extractor` and the CLI.
    factory : callable or str
        ``factory(**options) -> extractor``, or a ``"package.module:attribute"`` string naming one,
        imported only when the extractor is first requested.
    description : str
        One line shown by `list_extractors`.
    replace : bool
        Allow replacing an existing entry (otherwise a duplicate name is an error).
    """
    if not isinstance(name, str) or not name:
        raise GenlabError(f"extractor name must be a non-empty string, got {name!r}")
    if name in _EXTRACTORS and not replace:
        raise GenlabError(
            f"an extractor named {name!r} is already registered; choose another name or pass "
            "replace=True"
        )
    if isinstance(factory, str) and ":" not in factory:
        raise GenlabError(
            f"factory string must look like 'package.module:attribute', got {factory!r}"
        )
    if not isinstance(factory, str) and not callable(factory):
        raise GenlabError(
            f"factory must be callable or a 'module:attribute' string, got {factory!r}"
        )
    _EXTRACTORS[name] = _Entry(factory, description)


def list_extractors() -> dict[str, str]:
    """Registered extractor names and their one-line descriptions, sorted by name."""
    return {name: _EXTRACTORS[name].description for name in sorted(_EXTRACTORS)}


def get_extractor(name: str, **options: Any) -> FeatureExtractor:
    """Build the extractor registered as ``name`` with keyword ``options``.

    Raises
    ------
    GenlabError
        If no extractor has that name (the message lists the known ones), or an option is not
        accepted by its factory (the message lists the accepted ones).
    """
    check_extractor_name(name)
    entry = _EXTRACTORS[name]
    factory = load(entry.factory, what=f"extractor {name!r}")
    _check_options(name, factory, options)
    return factory(**options)


def check_extractor_name(name: str) -> None:
    """Raise unless ``name`` is registered; the message suggests the closest name and lists all.

    Cheap (nothing is imported or built), so a command can check a name before any work.
    """
    if name not in _EXTRACTORS:
        known = ", ".join(sorted(_EXTRACTORS))
        raise GenlabError(
            f"unknown feature extractor {name!r}{did_you_mean(str(name), _EXTRACTORS)}; "
            f"known extractors: {known}"
        )


def extract_features(
    extractor: FeatureExtractor,
    images: torch.Tensor | Iterable[Any],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = True,
) -> torch.Tensor:
    """Run ``extractor`` over images in batches and return all features, (N, dim) on the CPU.

    Parameters
    ----------
    extractor : FeatureExtractor
        The extractor to run.
    images : torch.Tensor or iterable
        A uint8 N×C×H×W tensor, or an iterable of such batches (for example a data loader).
        An item that is a tuple or list, like ``(images, labels)`` from a labelled loader, uses
        its first element. Batches larger than ``batch_size`` are split.
    batch_size : int
        Most images handed to the extractor at once.
    progress : bool
        Show progress counting images, with the rate in images per second
        (`genlab.progress.Progress`: a bar on a terminal, a few plain lines in a log file).

    Returns
    -------
    torch.Tensor
        Features in the extractor's floating dtype, one row per image, in input order.

    Raises
    ------
    GenlabError
        If there are no images, a batch is not uint8 N×C×H×W, or the extractor returns the wrong
        shape.
    """
    check_integer(batch_size, "batch_size")
    total = images.shape[0] if isinstance(images, torch.Tensor) else None
    batches = [images] if isinstance(images, torch.Tensor) else images
    parts: list[torch.Tensor] = []
    with Progress(
        total=total, unit="img", desc=f"{extractor.name} features", enabled=progress
    ) as bar:
        for item in batches:
            batch = check_uint8_images(_images_of(item), "image batch")
            for start in range(0, batch.shape[0], batch_size):
                chunk = batch[start : start + batch_size]
                parts.append(_run(extractor, chunk))
                bar.update(chunk.shape[0])
    if not parts:
        raise GenlabError("no images to extract features from; pass at least one image")
    return torch.cat(parts)


def _images_of(item: Any) -> Any:
    return item[0] if isinstance(item, tuple | list) and item else item


def _run(extractor: FeatureExtractor, images: torch.Tensor) -> torch.Tensor:
    features = extractor(images)
    expected = (images.shape[0], extractor.dim)
    if (
        not isinstance(features, torch.Tensor)
        or not features.is_floating_point()
        or tuple(features.shape) != expected
    ):
        shape = tuple(features.shape) if hasattr(features, "shape") else type(features).__name__
        raise GenlabError(
            f"extractor {extractor.name!r} returned {getattr(features, 'dtype', '?')} {shape} for "
            f"{images.shape[0]} images; it must return floating features of shape {expected}"
        )
    return features.detach().cpu()


def _check_options(name: str, factory: ExtractorFactory, options: dict[str, Any]) -> None:
    """Reject misspelt or unknown options before building anything (no silent ignoring)."""
    try:
        parameters = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return  # no introspectable signature (a builtin): the call itself will complain
    if any(parameter.kind is parameter.VAR_KEYWORD for parameter in parameters):
        return
    accepted = [
        parameter.name
        for parameter in parameters
        if parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise GenlabError(
            f"extractor {name!r} does not accept option(s) {', '.join(unknown)}; "
            f"it accepts: {', '.join(accepted) or 'no options'}"
        )
