"""Small digit classifiers, shipped trained, and the domain feature extractors built on them.

FID's Inception features are close to ImageNet class scores (Kynkäänniemi et al. 2023, "The Role
of ImageNet Classes in Fréchet Inception Distance"), which say little about handwritten digits. A
classifier trained on the data set itself gives domain features instead (its penultimate layer, to
use with FID, KID or PRDC in place of Inception's pool3) and class probabilities for the
mode-coverage check (`genlab.metrics.modes`).

Network (`MNISTClassifier`, rebuilt from a `ClassifierConfig` stored in the weights file):
per stage a 3×3 convolution ('same' padding, no bias) → batch norm → 2×2 max pool → ReLU, for
``channels = (32, 64, 64)``: 28 → 14 → 7 → 3; then flatten (64·3·3 = 576) → linear → ReLU
(the penultimate features, ``hidden = 128``) → dropout → linear → 10 logits.

Input handling of `ClassifierExtractor` (uint8 N×C×H×W, the pipeline's convention):

- channels: 1 is used as it is. 3 raises a `GenlabError` unless ``rgb="luminance"``, which maps
  RGB to ITU-R BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B (kept as a float, not rounded).
- size: 28×28 is used as it is. Any other size raises a `GenlabError` unless
  ``resize="bilinear"``, which resizes to 28×28 with antialiased bilinear interpolation
  (``torch.nn.functional.interpolate(..., antialias=True, align_corners=False)``).
- scaling: x / 127.5 - 1, the [-1, 1] range the network was trained on.

The shipped weights (``genlab/assets/classifier-mnist.safetensors``) are verified against the
SHA-256 pinned here before they are used. `train_classifier` reproduces them.

``classifier-digits`` (`DigitsClassifierExtractor`) is the same network and input handling for
scikit-learn's 8×8 digits, which no other feature space fits: ``image_size = 8``,
``channels = (32, 64)`` (8 → 4 → 2), flatten (64·2·2 = 256) → ``hidden = 64`` → 10 logits. It is
trained on ``digits:train`` (the first 1500 images) and its accuracy is measured on the held-out
``digits:test`` (the last 297; `genlab.data.digits`), in seconds on one CPU core
(``genlab classifier train --data digits``). The table `SHIPPED` holds each shipped classifier's
recipe and pinned SHA-256.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from genlab.arrays import check_integer
from genlab.data.imageio import check_uint8_images, uint8_to_signed
from genlab.errors import ChecksumError, DataUnavailableError, GenlabError, NonFiniteLossError
from genlab.fileio import atomic_write_bytes, write_json
from genlab.metrics.features.inception import (
    PROTOCOL_EXTRACTOR,
    PROTOCOL_INPUT_SIZE,
    PROTOCOL_LAYER,
    PROTOCOL_NORMALISATION,
    PROTOCOL_RESIZE,
    PROTOCOL_WEIGHTS_SHA256,
)
from genlab.metrics.features.registry import ExtractorCapabilities
from genlab.progress import Progress

EXTRACTOR_NAME = "classifier-mnist"
WEIGHTS_FILENAME = "classifier-mnist.safetensors"
# SHA-256 of the shipped weights file; `genlab classifier train` with the command recorded in
# classifier-mnist.json reproduces it (same torch version and thread count).
CLASSIFIER_MNIST_SHA256 = "64922bf519354caf0005f4a3809ea31c296a592a4ca6ea7b986c0c3c8c231890"
DIGITS_EXTRACTOR_NAME = "classifier-digits"
DIGITS_WEIGHTS_FILENAME = "classifier-digits.safetensors"
# Likewise for classifier-digits.json's command (`genlab classifier train --data digits`).
CLASSIFIER_DIGITS_SHA256 = "dd4afd25778398238f9fb3a88143e8e4d6348849bf4635770f9cb37052fab56f"

#: Protocol key for the handling of 3-channel input (the other keys are shared with Inception).
PROTOCOL_RGB = "rgb"
PENULTIMATE = "penultimate"
NORMALISATION = "x / 127.5 - 1"

#: Accepted ``rgb`` options: refuse 3-channel input, or convert it to BT.601 luma.
RGB_MODES = ("error", "luminance")
#: Accepted ``resize`` options: refuse other sizes, or resize with antialiased bilinear.
RESIZE_MODES = ("error", "bilinear")
_BT601_LUMA = (0.299, 0.587, 0.114)

# The safetensors header metadata holds ONE entry, META_KEY -> JSON {META_FORMAT, META_CONFIG}:
# safetensors writes its metadata map in hash order, so several entries would make the bytes (and
# the SHA-256) of identical weights differ from run to run.
META_KEY = "genlab_classifier"
META_FORMAT = "format"
META_CONFIG = "config"
FORMAT_VERSION = "genlab-classifier-v1"
# Keys of the JSON sidecar.
JSON_SHA256 = "sha256"
JSON_TEST_ACCURACY = "test_accuracy"
JSON_COMMAND = "command"


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything that shapes `MNISTClassifier`; stored in the weights file so loading rebuilds it.

    Parameters
    ----------
    in_channels, image_size
        Input images are ``in_channels × image_size × image_size``.
    channels
        Output channels of the convolution stages; each stage halves the side (floor).
    hidden
        Width of the penultimate layer: the extractor's feature dimension.
    num_classes
        Number of output logits.
    dropout
        Dropout probability between the penultimate layer and the logits (training only).
    """

    in_channels: int = 1
    image_size: int = 28
    channels: tuple[int, ...] = (32, 64, 64)
    hidden: int = 128
    num_classes: int = 10
    dropout: float = 0.25

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if not self.channels or min(self.channels) < 1:
            raise GenlabError(f"channels must be positive widths, got {self.channels}")
        if self.final_side < 1:
            raise GenlabError(
                f"image_size {self.image_size} is too small for {len(self.channels)} pooling "
                "stages; use fewer channels entries or larger images"
            )
        if min(self.in_channels, self.hidden, self.num_classes) < 1:
            raise GenlabError("in_channels, hidden and num_classes must be at least 1")
        if not 0.0 <= self.dropout < 1.0:
            raise GenlabError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def final_side(self) -> int:
        """Side of the feature map after all pooling stages."""
        return self.image_size // 2 ** len(self.channels)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ClassifierConfig:
        """Rebuild a config from `to_json` text."""
        try:
            fields = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GenlabError(f"classifier config is not valid JSON ({exc})") from None
        return cls.from_dict(fields)

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> ClassifierConfig:
        """Rebuild a config; unknown or malformed fields raise `GenlabError` (never ignored)."""
        known = {field.name for field in dataclasses.fields(cls)}
        if not isinstance(fields, dict) or set(fields) - known:
            unknown = sorted(set(fields) - known) if isinstance(fields, dict) else fields
            raise GenlabError(
                f"classifier config has unknown fields {unknown}; it was written by another "
                "version of genlab, retrain it with `genlab classifier train`"
            )
        try:
            return cls(**fields)
        except TypeError as exc:
            raise GenlabError(f"classifier config is malformed ({exc}); retrain it") from None


@dataclass(frozen=True)
class ShippedClassifier:
    """A classifier genlab ships: its extractor, weights file, pinned SHA-256 and recipe.

    It is trained on ``dataset``'s train split and its accuracy is measured on the test split;
    ``epochs``, ``batch_size`` and ``learning_rate`` are `train_classifier`'s defaults for it.
    """

    name: str
    dataset: str
    weights_filename: str
    sha256: str
    config: ClassifierConfig
    epochs: int
    batch_size: int
    learning_rate: float

    @property
    def weights_path(self) -> Path:
        return shipped_weights_path(self.weights_filename)


class MNISTClassifier(nn.Module):
    """Convolution stages → flatten → linear + ReLU (penultimate) → dropout → linear (logits).

    Takes float images N×C×H×W scaled to [-1, 1] (see `preprocess`).
    """

    def __init__(self, config: ClassifierConfig = ClassifierConfig()) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        width = config.in_channels
        for out_channels in config.channels:
            # No conv bias: the batch norm's shift makes it redundant. Pooling before the ReLU
            # computes the same function (max and ReLU commute, ReLU being monotone) on a
            # quarter of the values.
            layers += [
                nn.Conv2d(width, out_channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.MaxPool2d(2),
                nn.ReLU(inplace=True),
            ]
            width = out_channels
        self.features = nn.Sequential(*layers)
        self.hidden = nn.Linear(width * config.final_side**2, config.hidden)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, config.num_classes)

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        """The ``hidden``-dimensional features (after ReLU) feeding the classification layer."""
        return F.relu(self.hidden(self.features(x).flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.penultimate(x)))


class FoldedClassifier(nn.Module):
    """Inference copy of an `MNISTClassifier` with each batch norm folded into its convolution.

    In eval mode BN(W ∗ x) = γ (W ∗ x − μ) / √(σ² + ε) + β is itself a convolution, with weights
    W γ / √(σ² + ε) and bias β − μ γ / √(σ² + ε): one pass over the activations instead of two.
    The outputs equal the original's up to float rounding.
    """

    def __init__(self, model: MNISTClassifier) -> None:
        super().__init__()
        if model.training:
            raise GenlabError("fold a classifier in eval mode only (call model.eval() first)")
        layers: list[nn.Module] = []
        for layer in model.features:
            if isinstance(layer, nn.BatchNorm2d):
                layers[-1] = fuse_conv_bn_eval(layers[-1], layer)
            else:
                layers.append(layer)
        self.config = model.config
        self.features = nn.Sequential(*layers)
        self.hidden = model.hidden
        self.head = model.head

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.hidden(self.features(x).flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.penultimate(x))


# --- Weights files ---------------------------------------------------------------------------


def shipped_weights_path(filename: str = WEIGHTS_FILENAME) -> Path:
    """Where the weights shipped with genlab live (package data ``genlab/assets``)."""
    return Path(__file__).resolve().parents[2] / "assets" / filename


def metadata_path_for(weights_path: str | os.PathLike) -> Path:
    """The JSON sidecar next to a weights file: same name with ``.json`` instead."""
    return Path(weights_path).with_suffix(".json")


def _safetensors_metadata(data: bytes, name: str) -> dict[str, Any]:
    # safetensors layout: an 8-byte little-endian header length, then a JSON header whose
    # "__metadata__" entry holds the str -> str metadata.
    try:
        (length,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + length])
    except (struct.error, ValueError) as exc:
        raise GenlabError(f"{name}: not a safetensors file ({exc})") from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    try:
        record = json.loads(metadata[META_KEY])
        if record[META_FORMAT] != FORMAT_VERSION:
            raise ValueError(record[META_FORMAT])
    except (TypeError, KeyError, ValueError):
        raise GenlabError(
            f"{name}: not a genlab classifier weights file (its metadata lacks {META_KEY!r} with "
            f"format {FORMAT_VERSION!r}); write one with `genlab classifier train`"
        ) from None
    return record


def weights_to_bytes(model: MNISTClassifier) -> bytes:
    """Serialise a classifier as safetensors with its config in the header metadata."""
    tensors = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    record = {META_FORMAT: FORMAT_VERSION, META_CONFIG: dataclasses.asdict(model.config)}
    return save_safetensors_bytes(tensors, metadata={META_KEY: json.dumps(record, sort_keys=True)})


def load_classifier(
    path: str | os.PathLike, *, sha256: str | None = None
) -> tuple[MNISTClassifier, str]:
    """Load a classifier weights file; return the network (eval mode, frozen) and its SHA-256.

    The file is read once, hashed, and parsed from the same bytes, so what is verified is what is
    loaded. With ``sha256`` given, a different digest raises `ChecksumError`.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataUnavailableError(
            f"{path}: cannot read the classifier weights ({exc.strerror or exc}); reinstall "
            "genlab for the shipped file, or write one with `genlab classifier train --out PATH`"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256:
        raise ChecksumError(
            f"{path}: SHA-256 is {digest}, expected {sha256}; the file is damaged or was "
            "replaced: reinstall genlab (or restore the file from version control), or retrain "
            "it with `genlab classifier train` and pass that file as weights"
        )
    metadata = _safetensors_metadata(data, str(path))
    config = ClassifierConfig.from_dict(metadata.get(META_CONFIG, {}))
    model = MNISTClassifier(config)
    try:
        model.load_state_dict(load_safetensors_bytes(data), strict=True)
    except (RuntimeError, ValueError, SafetensorError) as exc:
        first_line = str(exc).splitlines()[0]
        raise GenlabError(
            f"{path}: damaged tensors, or tensors that do not match the stored config "
            f"({first_line}); retrain the file with `genlab classifier train`"
        ) from None
    model.requires_grad_(False)
    model.eval()
    return model, digest


#: The shipped classifiers by the data set they were trained on (``genlab classifier --data``).
SHIPPED: dict[str, ShippedClassifier] = {
    "mnist": ShippedClassifier(
        name=EXTRACTOR_NAME,
        dataset="mnist",
        weights_filename=WEIGHTS_FILENAME,
        sha256=CLASSIFIER_MNIST_SHA256,
        config=ClassifierConfig(),
        epochs=3,
        batch_size=128,
        learning_rate=1e-3,
    ),
    # 1500 training images: many short epochs (40 × 24 steps) instead of MNIST's few long ones.
    "digits": ShippedClassifier(
        name=DIGITS_EXTRACTOR_NAME,
        dataset="digits",
        weights_filename=DIGITS_WEIGHTS_FILENAME,
        sha256=CLASSIFIER_DIGITS_SHA256,
        config=ClassifierConfig(image_size=8, channels=(32, 64), hidden=64),
        epochs=40,
        batch_size=64,
        learning_rate=2e-3,
    ),
}


def shipped_classifier(dataset: str) -> ShippedClassifier:
    """The entry of `SHIPPED` for ``dataset``; an unknown name lists the known ones."""
    if dataset not in SHIPPED:
        raise GenlabError(
            f"genlab ships no classifier for {dataset!r}; choose one of {', '.join(SHIPPED)}"
        )
    return SHIPPED[dataset]


# --- The extractor ---------------------------------------------------------------------------


def preprocess(
    images: torch.Tensor,
    *,
    image_size: int = 28,
    rgb: str = "error",
    resize: str = "error",
    name: str = EXTRACTOR_NAME,
) -> torch.Tensor:
    """uint8 N×C×H×W → float32 N×1×``image_size``² in [-1, 1], following the module's rules.

    ``name`` is the extractor the error messages speak for.
    """
    check_uint8_images(images)
    if rgb not in RGB_MODES:
        raise GenlabError(f"unknown rgb mode {rgb!r}; use one of {RGB_MODES}")
    if resize not in RESIZE_MODES:
        raise GenlabError(f"unknown resize mode {resize!r}; use one of {RESIZE_MODES}")
    if images.shape[1] == 3 and rgb == "error":
        raise GenlabError(
            f"{name} takes grayscale images (1 channel), got 3 channels; convert them "
            "to grayscale first, or pass rgb='luminance' to use Y = 0.299 R + 0.587 G + 0.114 B"
        )
    size = tuple(images.shape[2:])
    if size != (image_size, image_size) and resize == "error":
        raise GenlabError(
            f"{name} takes {image_size}×{image_size} images, got {size[0]}×{size[1]}; "
            f"resize them first, or pass resize='bilinear' (antialiased bilinear to {image_size})"
        )
    x = images.to(torch.float32)
    if x.shape[1] == 3:
        weights = torch.tensor(_BT601_LUMA, dtype=torch.float32, device=x.device)
        x = torch.einsum("nchw,c->nhw", x, weights).unsqueeze(1)
    if size != (image_size, image_size):
        x = F.interpolate(
            x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True
        )
    return x.div_(127.5).sub_(1.0)


class ClassifierExtractor:
    """Penultimate features of the MNIST classifier: ``extractor(images) -> (N, 128)`` float32.

    Subclasses serve other shipped classifiers by setting ``shipped`` (and ``name``, ``dim``).

    Parameters
    ----------
    weights
        ``None`` uses the shipped weights, verified against `CLASSIFIER_MNIST_SHA256`; a path
        loads that file (e.g. from `train_classifier`), verified against ``sha256`` if given.
    sha256
        Expected SHA-256 of a ``weights`` file (the shipped file is always checked against its
        pinned value, so passing ``sha256`` without ``weights`` is an error).
    rgb, resize
        Handling of 3-channel input and of sizes other than 28×28; see the module docstring.
    batch_size
        Images per forward pass.
    device
        Where the network runs; results always come back on the CPU.
    """

    shipped = SHIPPED["mnist"]
    name = EXTRACTOR_NAME
    dim = ClassifierConfig().hidden

    def __init__(
        self,
        *,
        weights: str | os.PathLike | None = None,
        sha256: str | None = None,
        rgb: str = "error",
        resize: str = "error",
        batch_size: int = 256,
        device: str | torch.device = "cpu",
    ) -> None:
        check_integer(batch_size, "batch_size")
        if rgb not in RGB_MODES:
            raise GenlabError(f"unknown rgb mode {rgb!r}; use one of {RGB_MODES}")
        if resize not in RESIZE_MODES:
            raise GenlabError(f"unknown resize mode {resize!r}; use one of {RESIZE_MODES}")
        if weights is None:
            if sha256 is not None:
                raise GenlabError(
                    "sha256 checks a weights file you pass; the shipped weights are always "
                    "checked against their pinned SHA-256, so pass weights=PATH with sha256"
                )
            weights, sha256 = self.shipped.weights_path, self.shipped.sha256
        self.weights_path = Path(weights)
        self.network, self.sha256 = load_classifier(weights, sha256=sha256)
        self.config = self.network.config
        if self.config.in_channels != 1:
            raise GenlabError(
                f"{self.weights_path}: the extractor needs a 1-channel classifier, this one takes "
                f"{self.config.in_channels} channels"
            )
        self.dim = self.config.hidden
        self.num_classes = self.config.num_classes
        self.capabilities = ExtractorCapabilities(logits=True, classes=self.num_classes)
        self.rgb = rgb
        self.resize = resize
        self.batch_size = batch_size
        self.device = torch.device(device)
        # Folded batch norms and NHWC tensors: oneDNN's CPU convolutions and pools run several
        # times faster in channels-last layout on these small feature maps.
        self.inference = FoldedClassifier(self.network).to(
            self.device, memory_format=torch.channels_last
        )

    def _batches(self, images: torch.Tensor):
        check_uint8_images(images)
        for start in range(0, images.shape[0], self.batch_size):
            batch = images[start : start + self.batch_size].to(self.device)
            x = preprocess(
                batch,
                image_size=self.config.image_size,
                rgb=self.rgb,
                resize=self.resize,
                name=self.name,
            )
            yield x.contiguous(memory_format=torch.channels_last)

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate features (N, ``dim``) float32 of uint8 images N×C×H×W."""
        parts = [self.inference.penultimate(batch).float().cpu() for batch in self._batches(images)]
        return torch.cat(parts) if parts else torch.empty(0, self.dim)

    @torch.inference_mode()
    def logits(self, images: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits (N, 10) float32 (``features`` is accepted and not needed)."""
        parts = [self.inference(batch).float().cpu() for batch in self._batches(images)]
        return torch.cat(parts) if parts else torch.empty(0, self.num_classes)

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """Class probabilities softmax(logits), (N, 10) float32, rows summing to 1."""
        return torch.softmax(self.logits(images), dim=1)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Predicted classes (N,) int64: the argmax of the logits."""
        return self.logits(images).argmax(dim=1)

    def protocol(self) -> dict[str, Any]:
        """Everything that determines the features, for cache keys and reports."""
        return {
            PROTOCOL_EXTRACTOR: self.name,
            PROTOCOL_WEIGHTS_SHA256: self.sha256,
            PROTOCOL_INPUT_SIZE: self.config.image_size,
            PROTOCOL_RESIZE: self.resize,
            PROTOCOL_RGB: self.rgb,
            PROTOCOL_NORMALISATION: NORMALISATION,
            PROTOCOL_LAYER: PENULTIMATE,
        }


class DigitsClassifierExtractor(ClassifierExtractor):
    """Penultimate features of the 8×8 digits classifier: ``(N, 64)`` float32, 1×8×8 input.

    The options are `ClassifierExtractor`'s; ``weights=None`` loads the shipped
    ``classifier-digits.safetensors``, verified against `CLASSIFIER_DIGITS_SHA256`.
    """

    shipped = SHIPPED["digits"]
    name = DIGITS_EXTRACTOR_NAME
    dim = SHIPPED["digits"].config.hidden


# --- Training --------------------------------------------------------------------------------


@torch.inference_mode()
def classifier_accuracy(
    model: MNISTClassifier, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 1000
) -> float:
    """Fraction of ``images`` (uint8, 1×S×S) whose argmax logit equals the label (eval mode)."""
    model.eval()
    correct = 0
    for start in range(0, len(images), batch_size):
        x = preprocess(images[start : start + batch_size], image_size=model.config.image_size)
        predicted = model(x).argmax(dim=1)
        correct += int((predicted == labels[start : start + batch_size]).sum())
    return correct / max(1, len(images))


def _learning_rate_factor(step: int, total_steps: int) -> float:
    # Cosine decay from the base rate to zero over the run (Loshchilov & Hutter 2017, without
    # restarts): a short, fixed budget converges better than a constant rate.
    return 0.5 * (1.0 + math.cos(math.pi * step / total_steps))


def _train_epochs(
    model: MNISTClassifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    generator: torch.Generator,
    progress: bool,
) -> None:
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    steps_per_epoch = math.ceil(len(images) / batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: _learning_rate_factor(step, epochs * steps_per_epoch)
    )
    model.train()
    total = epochs * steps_per_epoch
    with Progress(total=total, unit="step", desc="classifier", enabled=progress) as bar:
        for epoch in range(epochs):
            order = torch.randperm(len(images), generator=generator)
            for start in range(0, len(images), batch_size):
                index = order[start : start + batch_size]
                loss = F.cross_entropy(model(uint8_to_signed(images[index])), labels[index])
                if not torch.isfinite(loss):
                    raise NonFiniteLossError(
                        f"classifier training loss became {loss.item()} in epoch {epoch + 1}; "
                        "lower the learning rate"
                    )
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                schedule.step()
                bar.update()
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.4f}")


def _reproducing_command(
    *,
    dataset: str,
    epochs: int,
    seed: int,
    batch_size: int,
    learning_rate: float,
    train_limit: int | None,
    test_limit: int | None,
    out: str,
) -> str:
    command = "genlab classifier train"
    if dataset != "mnist":  # the MNIST command keeps the form recorded with its shipped weights
        command += f" --data {dataset}"
    command += f" --epochs {epochs} --seed {seed} --batch-size {batch_size} --lr {learning_rate}"
    if train_limit is not None:
        command += f" --limit {train_limit}"
    if test_limit is not None:
        command += f" --test-limit {test_limit}"
    # The thread count is part of the command: CPU kernels sum in a thread-dependent order.
    return f"OMP_NUM_THREADS={torch.get_num_threads()} {command} --out {out}"


def train_classifier(
    *,
    dataset: str = "mnist",
    data_dir: str | os.PathLike | None = None,
    epochs: int | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    out: str | os.PathLike | None = None,
    learning_rate: float | None = None,
    config: ClassifierConfig | None = None,
    train_limit: int | None = None,
    test_limit: int | None = None,
    progress: bool = False,
) -> tuple[Path, float]:
    """Train a classifier on ``dataset``'s train split, evaluate it on the test split, write it.

    Deterministic for a given torch version and CPU thread count: the initialisation, dropout and
    the shuffling all draw from ``seed`` (the caller's global RNG state is restored afterwards).
    Optimiser: Adam at ``learning_rate`` with cosine decay to zero; loss: cross-entropy.

    Writes ``out`` (safetensors, config in its metadata) and, next to it, the JSON sidecar
    (`metadata_path_for`) with the test accuracy, the reproducing command and the SHA-256 of
    ``out``; each file is replaced atomically.

    Parameters
    ----------
    dataset
        A data set of `SHIPPED`: ``"mnist"`` (60 000 train / 10 000 test, 28×28) or ``"digits"``
        (1500 train / the held-out 297 test, 8×8).
    data_dir
        Folder holding ``mnist/`` (default: ``GENLAB_DATA_DIR``, see `genlab.data.dirs`).
    epochs, batch_size, learning_rate, config, out
        None takes the shipped classifier's recipe (`SHIPPED`) and its weights file name.
    train_limit, test_limit
        Use only the first images of each split (quick smoke runs); ``None`` uses all.
    progress
        Show a progress bar of the training steps with the current loss.

    Returns
    -------
    (path, test_accuracy)
        The written weights file and the accuracy on the (possibly limited) test split.
    """
    from genlab.data.registry import load_registered

    recipe = shipped_classifier(dataset)
    epochs = recipe.epochs if epochs is None else epochs
    batch_size = recipe.batch_size if batch_size is None else batch_size
    learning_rate = recipe.learning_rate if learning_rate is None else learning_rate
    config = config or recipe.config
    out = Path(recipe.weights_filename if out is None else out)
    check_integer(epochs, "epochs")
    check_integer(batch_size, "batch_size")
    train = load_registered(dataset, "train", data_dir, train_limit)
    test = load_registered(dataset, "test", data_dir, test_limit)
    if tuple(train.images.shape[1:]) != (config.in_channels, config.image_size, config.image_size):
        raise GenlabError(
            f"{dataset} images are {tuple(train.images.shape[1:])}, the classifier takes "
            f"{config.in_channels}×{config.image_size}×{config.image_size}; pass a matching config"
        )

    started = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MNISTClassifier(config)
        generator = torch.Generator().manual_seed(seed)
        _train_epochs(
            model,
            train.images,
            train.labels,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            generator=generator,
            progress=progress,
        )
    seconds = time.perf_counter() - started
    accuracy = classifier_accuracy(model, test.images, test.labels)

    data = weights_to_bytes(model)
    atomic_write_bytes(out, data)
    record = {
        "name": recipe.name,
        "architecture": "MNISTClassifier",
        "config": dataclasses.asdict(config),
        JSON_TEST_ACCURACY: accuracy,
        "test_images": len(test),
        "train_images": len(train),
        "epochs": epochs,
        "seed": seed,
        "batch_size": batch_size,
        "optimiser": f"Adam(lr={learning_rate}), cosine decay to 0 over all steps",
        JSON_COMMAND: _reproducing_command(
            dataset=dataset,
            epochs=epochs,
            seed=seed,
            batch_size=batch_size,
            learning_rate=learning_rate,
            train_limit=train_limit,
            test_limit=test_limit,
            out=str(out),
        ),
        "limits": {"train": train_limit, "test": test_limit},
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "threads": torch.get_num_threads(),
        # The vector kernels torch dispatched to (AVX2, AVX512, ...): they round differently, so
        # the file reproduces bit for bit only on the same capability.
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "train_seconds": round(seconds, 1),
        "file": out.name,
        JSON_SHA256: hashlib.sha256(data).hexdigest(),
    }
    if dataset != "mnist":  # MNIST's record keeps the keys its shipped sidecar has
        record["data"] = {"train": f"{dataset}:train", "test": f"{dataset}:test"}
    write_json(metadata_path_for(out), record)
    return out, accuracy


def read_metadata(weights_path: str | os.PathLike) -> dict[str, Any]:
    """The JSON sidecar of a weights file, or an empty dict when there is none."""
    path = metadata_path_for(weights_path)
    with contextlib.suppress(FileNotFoundError):
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise GenlabError(f"{path}: unreadable classifier metadata ({exc})") from None
    return {}
