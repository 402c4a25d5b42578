"""The FID Inception feature extractor: the reference input pipeline around `FIDInceptionV3`.

`InceptionExtractor` wraps the network (`genlab.metrics.features.inception_net`) in the reference
input pipeline: uint8 images → float32 → grayscale repeated to RGB → TF1 bilinear resize to
299×299 → (x - 128) / 128.

``resize="clean"`` replaces the TF1 bilinear resize (no antialiasing) by clean-fid's: PIL bicubic,
which antialiases when shrinking, on each channel as a float image, clipped to [0, 255] (Parmar et
al., CVPR 2022). The default stays ``"legacy"``, because published FIDs are computed with it; the
protocol records which one made the features, so the two never share a cache entry or a
statistics comparison.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import torch

from genlab.arrays import check_integer
from genlab.data.imageio import check_uint8_images
from genlab.errors import GenlabError
from genlab.metrics.features import inception_weights
from genlab.metrics.features.inception_net import (
    FEATURE_DIM,
    INPUT_SIZE,
    NO_FC_MESSAGE,
    NUM_CLASSES,
    POOL3,
    FIDInceptionV3,
    onednn_relu_available,
)
from genlab.metrics.features.lanes import Lanes, cpu_lanes
from genlab.metrics.features.pil_resize import pil_bicubic_float
from genlab.metrics.features.registry import ExtractorCapabilities
from genlab.metrics.features.tf_resize import tf1_bilinear_resize

# Keys of `InceptionExtractor.protocol()`: everything that changes the features, for cache keys.
PROTOCOL_EXTRACTOR = "extractor"
PROTOCOL_WEIGHTS_SHA256 = "weights_sha256"
PROTOCOL_RESIZE = "resize"
PROTOCOL_INPUT_SIZE = "input_size"
PROTOCOL_NORMALISATION = "normalisation"
PROTOCOL_LAYER = "layer"
PROTOCOL_PRECISION = "precision"

#: `InceptionExtractor`'s ``precision`` → the protocol's record of the arithmetic. fp32 (the
#: default, the reference protocol): IEEE float32 throughout, on CUDA too (`_float32_arithmetic`).
#: bf16: the network under bfloat16 autocast, a protocol of its own (its own cache entries, never
#: compared with fp32 statistics): about 2× faster on a CPU with bf16 units, FID moved by 0.3 %
#: on MNIST (benchmarks/bf16_features.py; docs/evaluation.md).
PRECISIONS = {"fp32": "float32", "bf16": "bfloat16-autocast"}

#: `InceptionExtractor` ``resize`` values, and the protocol's name of each.
RESIZE_LEGACY = "legacy"
RESIZE_CLEAN = "clean"
RESIZE_PROTOCOL = {RESIZE_LEGACY: "tf1-bilinear", RESIZE_CLEAN: "pil-bicubic-float (clean-fid)"}


def preprocess_uint8(images: torch.Tensor, resize: str = RESIZE_LEGACY) -> torch.Tensor:
    """The reference FID input pipeline: uint8 N×C×H×W → float32 N×3×299×299 in [-1, 1].

    Images are resized with TF1's bilinear resize to 299×299 (``resize="clean"``: clean-fid's PIL
    bicubic on float channels) and mapped by (x - 128) / 128, as the 2015 graph does; grayscale
    images become three identical channels (the network wants RGB).
    """
    check_uint8_images(images)
    if resize == RESIZE_CLEAN:
        size = (INPUT_SIZE, INPUT_SIZE)
        x = pil_bicubic_float(images, size).to(images.device)
    else:
        x = tf1_bilinear_resize(images.to(torch.float32), INPUT_SIZE)
    x = (x - 128.0) / 128.0
    # Resizing acts on each channel alone, so a grayscale image is resized once, then repeated.
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


WeightsSpec = str | os.PathLike | inception_weights.InceptionWeights | None


class InceptionExtractor:
    """FID Inception features of uint8 images: ``extractor(images) -> (N, 2048)`` float32.

    Parameters
    ----------
    weights
        ``None`` finds the installed weights (`inception_weights.resolve_inception_weights`); a
        path loads either accepted weights file (checked by SHA-256); an `InceptionWeights` is
        used as given.
    device
        Where the network runs; features always come back on the CPU.
    batch_size
        Images per forward pass; memory grows linearly with it.
    resize
        ``"legacy"`` (TF1 bilinear, the published FIDs' protocol) or ``"clean"`` (clean-fid's PIL
        bicubic with antialiasing).
    precision
        ``"fp32"`` (the reference protocol) or ``"bf16"`` (bfloat16 autocast: faster where the
        hardware has bf16 units, FID moves by a few tenths of a percent; recorded in `protocol`,
        so its statistics are cached and compared apart from fp32's).

    Attributes
    ----------
    weights_sha256
        SHA-256 of the weights' source file (also in `protocol`).
    has_fc
        Whether `logits` is available (only with ``pt_inception-2015-12-05-6726825d.pth``).
    capabilities
        Logits with the fc layer (1008 ImageNet classes, not the data set's: no mode coverage).
    """

    name = "inception"
    dim = FEATURE_DIM

    def __init__(
        self,
        *,
        weights: WeightsSpec = None,
        device: str | torch.device = "cpu",
        batch_size: int = 50,
        resize: str = RESIZE_LEGACY,
        precision: str = "fp32",
    ) -> None:
        check_integer(batch_size, "batch_size")
        if resize not in RESIZE_PROTOCOL:
            raise GenlabError(
                f"unknown Inception resize {resize!r}; use {RESIZE_LEGACY!r} (TF1 bilinear, as "
                f"published FIDs) or {RESIZE_CLEAN!r} (clean-fid's PIL bicubic)"
            )
        if precision not in PRECISIONS:
            raise GenlabError(
                f"precision {precision!r} is not one of {', '.join(PRECISIONS)} "
                "(fp32 is the reference FID protocol)"
            )
        self.resize = resize
        self.precision = precision
        loaded = _load_weights(weights)
        self.weights_sha256 = loaded.sha256
        self.has_fc = loaded.has_fc
        self.capabilities = ExtractorCapabilities(
            logits=loaded.has_fc, no_logits=None if loaded.has_fc else NO_FC_MESSAGE
        )
        self.device = torch.device(device)
        self.batch_size = batch_size
        # Built on the meta device and given the loaded tensors: a random initialisation that the
        # weights would overwrite costs 0.25 s of start-up (`benchmarks/fid_throughput.py`).
        with torch.device("meta"):
            self.network = FIDInceptionV3(include_fc=loaded.has_fc)
        self.network.load_state_dict(loaded.state_dict, strict=True, assign=True)
        # One convolution instead of convolution + batch norm per layer: the features move by
        # float32 rounding only (tests/metrics/features/test_inception.py) and the network runs
        # about 1.5× faster on CPU (benchmarks/fid_throughput.py).
        self.network.fold_batch_norms()
        # oneDNN's convolutions run faster on NHWC tensors on CPU; CUDA's cuDNN likewise.
        self.network.to(self.device, memory_format=torch.channels_last)
        if self.device.type == "cpu" and precision == "fp32" and onednn_relu_available():
            self.network.fuse_relus_for_cpu()  # the same features, 1.06× faster
        # On CPU, each batch's parts run side by side, one core each (`lanes`): faster than
        # splitting every layer across the cores (benchmarks/fid_throughput.py).
        self._lanes = Lanes(cpu_lanes(self.device))

    def _arithmetic(self) -> contextlib.AbstractContextManager:
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return _float32_arithmetic() if self.device.type == "cuda" else contextlib.nullcontext()

    def _batches(self, images: torch.Tensor):
        check_uint8_images(images)
        for start in range(0, images.shape[0], self.batch_size):
            batch = images[start : start + self.batch_size].to(self.device)
            yield preprocess_uint8(batch, self.resize).contiguous(memory_format=torch.channels_last)

    def _lane_pool3(self, part: torch.Tensor) -> torch.Tensor:
        # inference mode and autocast are thread-local: set here, in the lane that runs the part.
        with torch.inference_mode(), self._arithmetic():
            return self.network.pool3(part).float()

    def pool3(self, batch: torch.Tensor) -> torch.Tensor:
        """pool3 features (N, 2048) float32 of a pre-processed batch (N×3×299×299 in [-1, 1]),
        run the way `__call__` runs the network: on CPU, the batch's parts side by side."""
        return self._lanes(self._lane_pool3, batch)

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """pool3 features (N, 2048) float32 of uint8 images N×C×H×W (C = 1 or 3, any H, W)."""
        parts = [self.pool3(batch).cpu() for batch in self._batches(images)]
        return torch.cat(parts) if parts else torch.empty(0, FEATURE_DIM)

    @torch.inference_mode()
    def logits(self, images: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        """Unbiased 1008-class logits (N, 1008) float32 for the Inception Score.

        Given the images' pool3 ``features``, the logits are pool3 · Wᵀ: one matrix product
        instead of a second forward pass.
        """
        if not self.has_fc:
            raise GenlabError(NO_FC_MESSAGE)
        with self._arithmetic():
            if features is not None:
                return self.network.logits_from_pool3(features.to(self.device)).float().cpu()
            parts = [
                self.network.logits_from_pool3(self.pool3(batch)).float().cpu()
                for batch in self._batches(images)
            ]
        return torch.cat(parts) if parts else torch.empty(0, NUM_CLASSES)

    def protocol(self) -> dict[str, Any]:
        """Everything that determines the features, for cache keys and reports."""
        protocol = {
            PROTOCOL_EXTRACTOR: self.name,
            PROTOCOL_WEIGHTS_SHA256: self.weights_sha256,
            PROTOCOL_RESIZE: RESIZE_PROTOCOL[self.resize],
            PROTOCOL_INPUT_SIZE: INPUT_SIZE,
            PROTOCOL_NORMALISATION: "(x - 128) / 128",
            PROTOCOL_LAYER: POOL3,
        }
        # float32 (TF32 off on CUDA) is the reference protocol and goes unsaid, so statistics
        # saved before precision was recorded stay comparable; another precision is named.
        if self.precision != "fp32":
            protocol[PROTOCOL_PRECISION] = PRECISIONS[self.precision]
        return protocol


@contextlib.contextmanager
def _float32_arithmetic() -> Iterator[None]:
    """TF32 off for cuDNN convolutions and CUDA matrix products while the network runs.

    PyTorch lets cuDNN use TF32 (a 10-bit mantissa) for float32 convolutions by default on
    Ampere and later GPUs; that moves FID away from the CPU's and the reference's float32 values.
    The user's own settings are restored afterwards (a library does not change global state).
    """
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _load_weights(weights: WeightsSpec) -> inception_weights.InceptionWeights:
    if weights is None:
        return inception_weights.resolve_inception_weights()
    if isinstance(weights, inception_weights.InceptionWeights):
        return weights
    return inception_weights.load_weights_file(weights)
