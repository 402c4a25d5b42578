"""The ViT feature spaces (DINOv2, CLIP): variants, their weights, and the extractor around them.

A variant (`ViTVariant`) is a registered extractor name with its network configuration, the
weights files it accepts and a converter from their layouts into `VisionTransformer`'s.

Weights
-------
Accepted files are the official releases (DINOv2's ``.pth`` state dicts, OpenAI's CLIP TorchScript
``.pt``) and the same weights in the Hugging Face safetensors layout. Every file is read without
running code: safetensors as such, a pickled state dict with ``torch.load(weights_only=True)``,
a TorchScript archive with genlab's restricted unpickler (`inception_weights.torchscript_tensors`).

Where a publisher's SHA-256 is known (OpenAI's CLIP URLs carry the file's SHA-256, which their
loader checks) it is pinned, and a download is checked against it. For the other files no
published checksum was found; `import_weights` then accepts a file whose tensors fill the
variant's layout exactly (every key, every shape), and the features' protocol records the file's
SHA-256 with ``weights_pinned: false``, so numbers made from different files never share a cache
entry and a reader can tell which were made from a pinned release.

Installed weights are stored once, converted, as ``<cache>/weights/vit/<name>.safetensors`` with
the source's SHA-256 and a digest of the tensors in the metadata (checked on every load).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file as load_safetensors
from safetensors.torch import save as save_safetensors

from genlab.arrays import check_integer
from genlab.data.dirs import resolve_cache_dir
from genlab.data.download import cached_sha256, download_file
from genlab.data.imageio import check_uint8_images
from genlab.errors import ChecksumError, DataUnavailableError, GenlabError
from genlab.fileio import atomic_write_bytes
from genlab.metrics.features.inception_weights import tensors_sha256, torchscript_tensors
from genlab.metrics.features.vit import VisionTransformer, ViTConfig, layout

Tensors = dict[str, torch.Tensor]

# Metadata keys of an installed file.
META_VARIANT = "variant"
META_SOURCE = "source"
META_SOURCE_SHA256 = "source_sha256"
META_PINNED = "pinned"
META_TENSORS_SHA256 = "tensors_sha256"

# Keys of the extractors' protocol().
PROTOCOL_EXTRACTOR = "extractor"
PROTOCOL_WEIGHTS_SHA256 = "weights_sha256"
PROTOCOL_WEIGHTS_PINNED = "weights_pinned"


@dataclass(frozen=True)
class WeightsSource:
    """One accepted release of a variant's weights.

    ``sha256`` is None where no published checksum was found (see the module docstring);
    ``url`` is None where the file cannot be fetched with a plain GET (a Hugging Face repository).
    """

    filename: str
    where: str  # where it comes from, for messages
    sha256: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class ViTVariant:
    """A registered ViT feature space: name, network, accepted weights, converter."""

    name: str
    config: ViTConfig
    sources: tuple[WeightsSource, ...]
    #: Tensors of an accepted file in any known layout → genlab's layout, or None when the file
    #: is not in a layout of this family.
    convert: Callable[[Tensors], Tensors | None]

    def describe_sources(self) -> str:
        """``dinov2_vitl14_pretrain.pth (from URL) or model.safetensors of ...``."""
        return " or ".join(f"{source.filename} ({source.where})" for source in self.sources)


@dataclass(frozen=True)
class LoadedWeights:
    """A verified state dict in genlab's layout and what it was made from."""

    state_dict: Tensors
    source_sha256: str
    pinned: bool


def weights_dir() -> Path:
    """The folder of installed ViT weights: ``<cache>/weights/vit``."""
    return resolve_cache_dir() / "weights" / "vit"


def installed_path(variant: ViTVariant) -> Path:
    return weights_dir() / f"{variant.name}.safetensors"


# --- Reading a file of any accepted format, without running code -------------------------------


def read_tensors(path: Path) -> Tensors:
    """Every tensor of a safetensors file, a TorchScript archive or a pickled state dict."""
    if path.suffix == ".safetensors":
        return load_safetensors(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        # TorchScript archives carry their code and constants; torch.save archives do not.
        if any(name.endswith("/constants.pkl") or "/code/" in name for name in names):
            return torchscript_tensors(path)
    try:
        # weights_only: the restricted unpickler, which builds tensors and containers only.
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle and zip errors come in many classes
        raise GenlabError(
            f"{path} is neither a safetensors file, a TorchScript archive nor a state dict "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    if not isinstance(loaded, dict) or not all(
        isinstance(value, torch.Tensor) for value in loaded.values()
    ):
        raise GenlabError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    return dict(loaded)


def matches_layout(state_dict: Tensors, config: ViTConfig) -> bool:
    """Whether ``state_dict`` has exactly the keys and shapes of ``VisionTransformer(config)``."""
    expected = layout(config)
    return set(state_dict) == set(expected) and all(
        tuple(state_dict[key].shape) == shape for key, shape in expected.items()
    )


def _convert_for(variant: ViTVariant, tensors: Tensors) -> Tensors | None:
    try:
        converted = variant.convert(tensors)
    except (KeyError, ValueError, RuntimeError):
        return None  # another family's or variant's layout
    if converted is None or not matches_layout(converted, variant.config):
        return None
    return {key: value.to(torch.float32).contiguous() for key, value in converted.items()}


# --- Installing, loading, resolving -------------------------------------------------------------


def import_weights(path: str | os.PathLike, variants: Iterable[ViTVariant]) -> list[Path]:
    """Convert and install a weights file for every variant whose layout it fills.

    The file is recognised by its SHA-256 where one is pinned, else by its tensors (every key and
    shape of a variant's layout). Returns the installed paths; raises a `GenlabError` naming the
    accepted files when the file fits no variant.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataUnavailableError(f"{path} does not exist; give the path of a weights file")
    variants = list(variants)
    found = cached_sha256(path)
    pinned = [v for v in variants if any(s.sha256 == found for s in v.sources)]
    tensors = read_tensors(path)
    installed = []
    for variant in pinned or variants:
        state_dict = _convert_for(variant, tensors)
        if state_dict is None:
            continue
        is_pinned = variant in pinned
        metadata = {
            META_VARIANT: variant.name,
            META_SOURCE: path.name,
            META_SOURCE_SHA256: found,
            META_PINNED: "yes" if is_pinned else "no",
            META_TENSORS_SHA256: tensors_sha256(state_dict),
        }
        dest = installed_path(variant)
        atomic_write_bytes(dest, save_safetensors(state_dict, metadata=metadata))
        installed.append(dest)
    if not installed:
        raise GenlabError(
            f"{path} (SHA-256 {found}) holds no weights of a known feature space; "
            f"accepted: {accepted_files(variants)}"
        )
    return installed


def accepted_files(variants: Iterable[ViTVariant]) -> str:
    """``name: file (where) or file (where); ...`` for messages."""
    return "; ".join(f"{v.name}: {v.describe_sources()}" for v in variants)


def installed_info(variant: ViTVariant) -> tuple[Path, str, bool, bool] | None:
    """(path, source SHA-256, pinned, intact) of the installed weights, or None when absent."""
    path = installed_path(variant)
    if not path.is_file():
        return None
    try:
        loaded = load_installed(variant, path)
    except GenlabError:
        return path, "?", False, False
    return path, loaded.source_sha256, loaded.pinned, True


def load_installed(variant: ViTVariant, path: Path | None = None) -> LoadedWeights:
    """Load and check an installed (converted) file: its recorded variant and tensor digest."""
    path = installed_path(variant) if path is None else path
    try:
        with safe_open(path, framework="pt") as handle:
            metadata = handle.metadata() or {}
        state_dict = load_safetensors(path)
    except (OSError, ValueError) as exc:  # safetensors' errors for a truncated or foreign file
        raise ChecksumError(
            f"{path} is damaged ({exc}); delete it and run `genlab weights import PATH` again"
        ) from None
    if (
        metadata.get(META_VARIANT) != variant.name
        or metadata.get(META_TENSORS_SHA256) != tensors_sha256(state_dict)
        or not matches_layout(state_dict, variant.config)
    ):
        raise ChecksumError(
            f"{path} is damaged or holds other weights than {variant.name}'s; delete it and run "
            "`genlab weights import PATH` again"
        )
    return LoadedWeights(
        state_dict, metadata[META_SOURCE_SHA256], metadata.get(META_PINNED) == "yes"
    )


def resolve_weights(variant: ViTVariant, *, download: bool = True) -> LoadedWeights:
    """The installed weights of ``variant``; else a download of a pinned release; else a
    one-line `DataUnavailableError` naming the files, where they come from, and the command."""
    dest = installed_path(variant)
    if dest.is_file():
        return load_installed(variant, dest)
    reason = "downloading is off"
    downloadable = [s for s in variant.sources if s.url and s.sha256]
    if download and downloadable:
        source = downloadable[0]
        downloaded = weights_dir() / "downloads" / source.filename
        try:
            download_file([source.url], downloaded, sha256=source.sha256)
            import_weights(downloaded, [variant])
            downloaded.unlink(missing_ok=True)
            return load_installed(variant, dest)
        except GenlabError as exc:
            reason = str(exc)
    elif not downloadable:
        reason = "no release with a pinned SHA-256 to download"
    raise DataUnavailableError(
        f"the {variant.name} weights are not installed in {weights_dir()} ({reason}); get "
        f"{variant.describe_sources()}, then run `genlab weights import PATH`"
    )


def load_weights_file(variant: ViTVariant, path: str | os.PathLike) -> LoadedWeights:
    """Load weights from any accepted file (or an installed one), without installing it."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataUnavailableError(
            f"{path} does not exist; give the path of {variant.describe_sources()}"
        )
    if path.suffix == ".safetensors":
        with safe_open(path, framework="pt") as handle:
            if (handle.metadata() or {}).get(META_VARIANT) == variant.name:
                return load_installed(variant, path)
    found = cached_sha256(path)
    state_dict = _convert_for(variant, read_tensors(path))
    if state_dict is None:
        raise GenlabError(
            f"{path} does not hold {variant.name} weights; use {variant.describe_sources()}"
        )
    return LoadedWeights(state_dict, found, any(s.sha256 == found for s in variant.sources))


# --- The extractor ------------------------------------------------------------------------------


WeightsSpec = str | os.PathLike | LoadedWeights | None


class ViTExtractor:
    """Features of a ViT variant: uint8 N×C×H×W → (N, dim) float32 on the CPU.

    Subclasses give ``preprocess(images) -> float N×3×S×S`` and ``pipeline() -> dict`` (the
    protocol's description of the input pipeline).
    """

    variant: ViTVariant

    def __init__(
        self,
        *,
        weights: WeightsSpec = None,
        device: str | torch.device = "cpu",
        batch_size: int = 50,
    ) -> None:
        check_integer(batch_size, "batch_size")
        if weights is None:
            loaded = resolve_weights(self.variant)
        elif isinstance(weights, LoadedWeights):
            loaded = weights
        else:
            loaded = load_weights_file(self.variant, weights)
        self.name = self.variant.name
        self.dim = self.variant.config.out_dim
        self.weights_sha256 = loaded.source_sha256
        self.weights_pinned = loaded.pinned
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.network = VisionTransformer(self.variant.config)
        self.network.load_state_dict(loaded.state_dict, strict=True)
        self.network.eval().to(self.device)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def pipeline(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Features (N, dim) float32 of uint8 images N×C×H×W (C = 1 or 3, any H, W)."""
        check_uint8_images(images)
        parts = [
            self.network(self.preprocess(images[start : start + self.batch_size]).to(self.device))
            .float()
            .cpu()
            for start in range(0, images.shape[0], self.batch_size)
        ]
        return torch.cat(parts) if parts else torch.empty(0, self.dim)

    def protocol(self) -> dict[str, Any]:
        """Everything that determines the features, for cache keys and reports."""
        return {
            PROTOCOL_EXTRACTOR: self.name,
            PROTOCOL_WEIGHTS_SHA256: self.weights_sha256,
            PROTOCOL_WEIGHTS_PINNED: self.weights_pinned,
            **self.pipeline(),
        }


def normalise(
    images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]
) -> torch.Tensor:
    """uint8 N×C×S×S → float32 (x/255 - mean)/std per channel, grayscale repeated to RGB."""
    x = images.to(torch.float32) / 255.0
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - mean_t) / std_t
