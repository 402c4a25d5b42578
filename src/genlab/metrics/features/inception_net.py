"""The FID Inception network: TensorFlow's Inception-v3 graph of 2015-12-05 in PyTorch.

FID (Heusel et al., 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium") and the Inception Score (Salimans et al., 2016) are defined with one specific network:
TensorFlow's Inception-v3 graph of 2015-12-05 (``inception-2015-12-05.tgz``). `FIDInceptionV3` is
that graph in PyTorch, laid out so the standard port ``pt_inception-2015-12-05-6726825d.pth``
(pytorch-fid) loads as it is. It differs from torchvision's ImageNet Inception-v3 in three ways that
change the features:

- a 1008-class ``fc`` layer (1000 ImageNet classes plus 8 unused outputs of the 2015 graph);
- the 3×3 average pools inside the blocks divide by the number of real pixels under the window,
  not by 9 at the borders (``count_include_pad=False``);
- the last block (``Mixed_7c``) pools its pool branch with a 3×3 MAX pool, where every other block
  averages (a quirk of the 2015 graph, kept because the published numbers depend on it).

The network alone, with no weights: the weights converter (`inception_weights`) builds it to learn
the layout it converts into, and the extractor (`inception`) loads the weights into it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

from genlab.errors import GenlabError

POOL3 = "pool3"
LOGITS = "logits"

INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_CLASSES = 1008
BATCH_NORM_EPS = 1e-3  # the TF graph's epsilon, not PyTorch's default 1e-5

#: pytorch-fid's port of the 2015 graph, the weights file whose state dict this network mirrors
#: and the only one with the fc layer (`inception_weights` downloads and verifies it).
PTH_FILENAME = "pt_inception-2015-12-05-6726825d.pth"

NO_FC_MESSAGE = (
    "the Inception Score needs the 1008-class fc layer, which the installed FID weights lack; "
    f"import {PTH_FILENAME} with `genlab weights import PATH`"
)


class FrozenBatchNorm2d(nn.Module):
    """Inference-only batch normalisation: y = γ (x - μ) / √(σ² + ε) + β with stored statistics.

    Holds exactly ``weight``, ``bias``, ``running_mean`` and ``running_var`` (no
    ``num_batches_tracked``), the four entries per layer of the published state dict.
    """

    def __init__(self, channels: int, *, eps: float = BATCH_NORM_EPS) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(channels))
        self.register_buffer("bias", torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )


class BasicConv2d(nn.Module):
    """Convolution without bias → frozen batch norm (ε = 0.001) → ReLU.

    `fold_batch_norm` merges the batch norm into the convolution for inference; the loaded layout
    (``conv.weight`` + four ``bn`` entries) is the published one, so folding happens after loading.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        **conv_options: Any,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, bias=False, **conv_options)
        self.bn = FrozenBatchNorm2d(out_channels)
        self.fused_relu = False

    @torch.no_grad()
    def fold_batch_norm(self) -> None:
        """Merge the frozen batch norm into the convolution: one layer, the same function.

        Batch norm is affine per output channel, γ (W ∗ x − μ) / √(σ² + ε) + β, so it is a
        convolution with weights W γ / √(σ² + ε) and bias β − μ γ / √(σ² + ε) (torch's
        `fuse_conv_bn_weights`). Computed in float64 and rounded once to the layer's dtype, so the
        folded layer differs from the two-step one by that one rounding.
        """
        if not isinstance(self.bn, FrozenBatchNorm2d):
            return  # already folded
        bn, conv = self.bn, self.conv
        dtype = conv.weight.dtype
        weight, bias = fuse_conv_bn_weights(
            conv.weight.double(),
            None,
            bn.running_mean.double(),
            bn.running_var.double(),
            bn.eps,
            bn.weight.double(),
            bn.bias.double(),
        )
        # Built on the meta device (no random initialisation to overwrite), then given its tensors.
        folded = nn.Conv2d(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            bias=True,
            device="meta",
        )
        device = conv.weight.device
        folded.weight = nn.Parameter(weight.to(device, dtype), requires_grad=False)
        folded.bias = nn.Parameter(bias.to(device, dtype), requires_grad=False)
        self.conv = folded
        self.bn = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused_relu:
            conv = self.conv
            return torch.ops.mkldnn._convolution_pointwise(
                x,
                conv.weight,
                conv.bias,
                list(conv.padding),
                list(conv.stride),
                list(conv.dilation),
                conv.groups,
                "relu",
                [],
                "",
            )
        return F.relu(self.bn(self.conv(x)))


def onednn_relu_available() -> bool:
    """Whether this torch has oneDNN's convolution with a fused ReLU (its CPU builds do)."""
    return torch.backends.mkldnn.is_available() and hasattr(
        torch.ops.mkldnn, "_convolution_pointwise"
    )


def _average_pool_3x3(x: torch.Tensor) -> torch.Tensor:
    # TF's SAME-padded average pool divides by the real pixels under the window.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35×35 block: 1×1, 5×5, double 3×3 and pooled branches (Mixed_5b/5c/5d)."""

    def __init__(self, in_channels: int, *, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, 1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(_average_pool_3x3(x)),
        ]
        return torch.cat(branches, 1)


class InceptionB(nn.Module):
    """Grid reduction 35×35 → 17×17 (Mixed_6a)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            F.max_pool2d(x, kernel_size=3, stride=2),
        ]
        return torch.cat(branches, 1)


class InceptionC(nn.Module):
    """17×17 block with factorised 7×7 convolutions (Mixed_6b–6e)."""

    def __init__(self, in_channels: int, *, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        double = x
        for layer in (
            self.branch7x7dbl_1,
            self.branch7x7dbl_2,
            self.branch7x7dbl_3,
            self.branch7x7dbl_4,
            self.branch7x7dbl_5,
        ):
            double = layer(double)
        branches = [
            self.branch1x1(x),
            self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
            double,
            self.branch_pool(_average_pool_3x3(x)),
        ]
        return torch.cat(branches, 1)


class InceptionD(nn.Module):
    """Grid reduction 17×17 → 8×8 (Mixed_7a)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seven = self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x)))
        branches = [
            self.branch3x3_2(self.branch3x3_1(x)),
            self.branch7x7x3_4(seven),
            F.max_pool2d(x, kernel_size=3, stride=2),
        ]
        return torch.cat(branches, 1)


class InceptionE(nn.Module):
    """8×8 block with split 1×3 / 3×1 outputs (Mixed_7b, and Mixed_7c with ``max_pool=True``)."""

    def __init__(self, in_channels: int, *, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(in_channels, 320, 1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        single = self.branch3x3_1(x)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        if self.max_pool:
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            pooled = _average_pool_3x3(x)
        branches = [
            self.branch1x1(x),
            self.branch3x3_2a(single),
            self.branch3x3_2b(single),
            self.branch3x3dbl_3a(double),
            self.branch3x3dbl_3b(double),
            self.branch_pool(pooled),
        ]
        return torch.cat(branches, 1)


class FIDInceptionV3(nn.Module):
    """TensorFlow's Inception-v3 of 2015-12-05, as used for FID and the Inception Score.

    Its ``state_dict()`` keys are exactly those of ``pt_inception-2015-12-05-6726825d.pth``
    (94 convolutions × 5 entries + ``fc.weight`` + ``fc.bias`` = 472), so that file loads with
    ``load_state_dict(..., strict=True)``. With ``include_fc=False`` the ``fc`` layer is absent
    (470 keys): enough for FID, not for the Inception Score.

    ``forward(x)`` takes float images N×3×299×299 already scaled to [-1, 1] by (x - 128) / 128 and
    returns ``{POOL3: (N, 2048)}``, plus ``{LOGITS: (N, 1008)}`` when the fc layer is present. The
    logits are pool3 · Wᵀ WITHOUT the fc bias: the TF reference Inception Score reads the graph's
    ``MatMul`` output, before the bias is added.
    """

    def __init__(self, *, include_fc: bool = True) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, max_pool=False)
        self.Mixed_7c = InceptionE(2048, max_pool=True)
        self.fc = nn.Linear(FEATURE_DIM, NUM_CLASSES) if include_fc else None
        self.requires_grad_(False)
        self.eval()

    @property
    def has_fc(self) -> bool:
        return self.fc is not None

    def fold_batch_norms(self) -> FIDInceptionV3:
        """Fold every frozen batch norm into its convolution (`BasicConv2d.fold_batch_norm`).

        For inference after the weights are loaded: the state dict no longer has the published
        layout afterwards (each ``bn`` is gone, each ``conv`` gains a bias). Removes 94 passes over
        the activations; the features move by float32 rounding only (tested to 1e-6 with the
        real weights on real images). Returns the network itself.
        """
        for module in self.modules():
            if isinstance(module, BasicConv2d):
                module.fold_batch_norm()
        return self

    def fuse_relus_for_cpu(self) -> FIDInceptionV3:
        """Run each folded convolution and its ReLU as one oneDNN operation, for float32 on CPU.

        ``torch.ops.mkldnn._convolution_pointwise`` (the kernel inductor uses for conv + ReLU)
        applies the ReLU as the convolution's post-op, so the activations are written once
        instead of written, read and written again: the same numbers (max(0, ·) is exact),
        1.06× faster on this network with 2 lanes, 1.08× on one thread. It is oneDNN's own
        operator, so only for float32 CPU tensors: no autocast, no CUDA. Call after
        `fold_batch_norms`. Returns the network.
        """
        if not onednn_relu_available():
            raise GenlabError(
                "this torch build has no oneDNN convolution with a fused ReLU; run unfused"
            )
        for module in self.modules():
            if isinstance(module, BasicConv2d):
                if isinstance(module.bn, FrozenBatchNorm2d):
                    raise GenlabError("fold the batch norms before fusing the ReLUs")
                module.fused_relu = True
        return self

    def pool3(self, x: torch.Tensor) -> torch.Tensor:
        """The 2048-d pool3 features of pre-processed images (N×3×H×W in [-1, 1])."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise GenlabError(
                f"FIDInceptionV3 expects float images N×3×299×299, got shape {tuple(x.shape)}"
            )
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (
            self.Mixed_5b,
            self.Mixed_5c,
            self.Mixed_5d,
            self.Mixed_6a,
            self.Mixed_6b,
            self.Mixed_6c,
            self.Mixed_6d,
            self.Mixed_6e,
            self.Mixed_7a,
            self.Mixed_7b,
            self.Mixed_7c,
        ):
            x = block(x)
        return x.mean(dim=(2, 3))

    def logits_from_pool3(self, pool3: torch.Tensor) -> torch.Tensor:
        """The 1008 unbiased logits pool3 · Wᵀ (the TF reference Inception Score's input)."""
        if self.fc is None:
            raise GenlabError(NO_FC_MESSAGE)
        return pool3 @ self.fc.weight.T

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        pool3 = self.pool3(x)
        outputs = {POOL3: pool3}
        if self.fc is not None:
            outputs[LOGITS] = self.logits_from_pool3(pool3)
        return outputs
