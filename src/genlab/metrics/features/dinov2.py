"""DINOv2 feature spaces, as dgm-eval uses them: ``dinov2-vit-s14``, ``-b14``, ``-l14``, ``-g14``.

Stein et al. ("Exposing flaws of generative model evaluation metrics and their unfair treatment of
diffusion models", NeurIPS 2023, github.com/layer6ai-labs/dgm-eval) found DINOv2 ViT-L/14's
feature space the one whose Fréchet distance best follows human judgement; EDM2 (Karras et al.
2024) reports FD_DINOv2 beside FID. dgm-eval's DINOv2 encoder (``dgm_eval/models/dinov2.py``):

- the model is ``torch.hub.load("facebookresearch/dinov2", "dinov2_vitl14")`` (or s/b/g), whose
  forward returns the class token after the final LayerNorm (``x_norm_clstoken``; the head is
  the identity);
- each PIL image is resized to 224×224 with ``TF.Resize((224, 224), BICUBIC)`` (on a PIL image:
  PIL's bicubic on the 8-bit image), turned to [0, 1] and normalised with the ImageNet mean
  (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225). (Its ``--clean_resize`` option resizes in
  float instead; off by default, not reproduced here.)
- The networks were trained at 518×518 (a 37×37 grid of 14-pixel patches); at 224 (16×16) the
  position embeddings are resampled bicubically with DINOv2's scale factor (16 + 0.1)/37.

Weights: the official ``dinov2_vit*14_pretrain.pth`` or ``model.safetensors`` of the Hugging
Face repositories ``facebook/dinov2-{small,base,large,giant}``; no published SHA-256 was found
for either, so none is pinned (see `genlab.metrics.features.vit_models`).
"""

from __future__ import annotations

import re
from typing import Any

import torch

from genlab.metrics.features.pil_resize import pil_bicubic_uint8
from genlab.metrics.features.vit import GELU, HEAD_CLS_NORM, SWIGLU, ViTConfig
from genlab.metrics.features.vit_models import (
    Tensors,
    ViTExtractor,
    ViTVariant,
    WeightsSource,
    normalise,
)

INPUT_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PATCH = 14
TRAINED_GRID = 37  # 518 / 14
POS_OFFSET = 0.1  # DINOv2's interpolate_offset of the released backbones

_URL = "https://dl.fbaipublicfiles.com/dinov2/dinov2_{arch}/dinov2_{arch}_pretrain.pth"


def _swiglu_hidden(width: int) -> int:
    # DINOv2's SwiGLUFFNFused: 2/3 of the 4×width MLP, rounded up to a multiple of 8.
    return (int(4 * width * 2 / 3) + 7) // 8 * 8


def _config(width: int, depth: int, heads: int, *, swiglu: bool = False) -> ViTConfig:
    return ViTConfig(
        width=width,
        depth=depth,
        heads=heads,
        patch=PATCH,
        grid=TRAINED_GRID,
        mlp_hidden=_swiglu_hidden(width) if swiglu else 4 * width,
        activation=SWIGLU if swiglu else GELU,
        layer_scale=True,
        eps=1e-6,
        patch_bias=True,
        head=HEAD_CLS_NORM,
        pos_offset=POS_OFFSET,
    )


# --- Converting the official and the Hugging Face layouts --------------------------------------

# Official (facebookresearch/dinov2) names → ours; the rest are equal.
_OFFICIAL = [
    (r"^patch_embed\.proj\.", "patch_embed."),
    (r"^blocks\.(\d+)\.ls([12])\.gamma$", r"blocks.\1.ls\2"),
]
# Hugging Face names → ours. Two spellings exist: the Hub's files (``attention.attention.query``,
# ``attention.output.dense``, SwiGLU ``mlp.weights_in``/``weights_out``) and transformers ≥ 5's
# modules (``attention.q_proj``, ``attention.o_proj``, ``mlp.gate_proj``/``up_proj``/``down_proj``),
# which it renames on load. q, k, v (and SwiGLU's gate and up halves) are stacked separately.
_HF = [
    (r"^embeddings\.patch_embeddings\.projection\.", "patch_embed."),
    (r"^embeddings\.cls_token$", "cls_token"),
    (r"^embeddings\.position_embeddings$", "pos_embed"),
    (r"^encoder\.layer\.(\d+)\.attention\.(output\.dense|o_proj)\.", r"blocks.\1.attn.proj."),
    (r"^encoder\.layer\.(\d+)\.layer_scale([12])\.lambda1$", r"blocks.\1.ls\2"),
    (r"^encoder\.layer\.(\d+)\.mlp\.weights_in\.", r"blocks.\1.mlp.w12."),
    (r"^encoder\.layer\.(\d+)\.mlp\.(weights_out|down_proj)\.", r"blocks.\1.mlp.w3."),
    (r"^encoder\.layer\.(\d+)\.", r"blocks.\1."),
    (r"^layernorm\.", "norm."),
]
_HF_STACKED = re.compile(
    r"^encoder\.layer\.(\d+)\.(?:attention\.attention\.(query|key|value)|attention\.([qkv])_proj"
    r"|mlp\.(gate|up)_proj)\.(weight|bias)$"
)
_SHORT = {"query": "q", "key": "k", "value": "v"}


def _rename(name: str, rules: list[tuple[str, str]]) -> str:
    for pattern, replacement in rules:
        renamed, count = re.subn(pattern, replacement, name)
        if count:
            return renamed
    return name


def convert_state_dict(tensors: Tensors) -> Tensors | None:
    """An official or Hugging Face DINOv2 state dict in `VisionTransformer`'s layout.

    The mask token (used only in training) is dropped; HF's separate query/key/value projections
    are stacked into one qkv matrix in that order, as the official ``attn.qkv`` holds them, and
    transformers' SwiGLU gate and up projections into ``w12`` (gate first: SiLU acts on it).
    Returns None for tensors of neither layout.
    """
    if "cls_token" in tensors and "pos_embed" in tensors:
        return {_rename(k, _OFFICIAL): v for k, v in tensors.items() if k != "mask_token"}
    if "embeddings.cls_token" not in tensors:
        return None
    out: Tensors = {}
    stacks: dict[tuple[str, str, str], dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key == "embeddings.mask_token":
            continue
        match = _HF_STACKED.match(key)
        if match:
            layer, long_qkv, short_qkv, half, kind = match.groups()
            part = _SHORT.get(long_qkv, short_qkv) if half is None else half
            target = "attn.qkv" if half is None else "mlp.w12"
            stacks.setdefault((layer, target, kind), {})[part] = value
        else:
            out[_rename(key, _HF)] = value
    for (layer, target, kind), parts in stacks.items():
        order = ("q", "k", "v") if target == "attn.qkv" else ("gate", "up")
        out[f"blocks.{layer}.{target}.{kind}"] = torch.cat([parts[p] for p in order])
    return out


def _variant(name: str, arch: str, hf: str, config: ViTConfig) -> ViTVariant:
    url = _URL.format(arch=arch)
    return ViTVariant(
        name=name,
        config=config,
        sources=(
            WeightsSource(f"dinov2_{arch}_pretrain.pth", f"from {url}", url=url),
            WeightsSource("model.safetensors", f"of https://huggingface.co/{hf}, the same weights"),
        ),
        convert=convert_state_dict,
    )


VARIANTS = {
    variant.name: variant
    for variant in (
        _variant("dinov2-vit-s14", "vits14", "facebook/dinov2-small", _config(384, 12, 6)),
        _variant("dinov2-vit-b14", "vitb14", "facebook/dinov2-base", _config(768, 12, 12)),
        _variant("dinov2-vit-l14", "vitl14", "facebook/dinov2-large", _config(1024, 24, 16)),
        _variant(
            "dinov2-vit-g14", "vitg14", "facebook/dinov2-giant", _config(1536, 40, 24, swiglu=True)
        ),
    )
}


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """dgm-eval's DINOv2 input: PIL bicubic (8-bit) to 224×224, /255, ImageNet mean/std.

    uint8 N×C×H×W (C = 1 or 3) → float32 N×3×224×224; grayscale becomes three equal channels.
    """
    resized = pil_bicubic_uint8(images, (INPUT_SIZE, INPUT_SIZE))
    return normalise(resized, IMAGENET_MEAN, IMAGENET_STD)


class DINOv2Extractor(ViTExtractor):
    """The class token of DINOv2's final LayerNorm (options: weights, device, batch_size).

    ``weights``: None finds the installed weights (``genlab weights import``); a path loads an
    accepted file directly; a `LoadedWeights` is used as given.
    """

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        return preprocess(images)

    def pipeline(self) -> dict[str, Any]:
        grid = INPUT_SIZE // PATCH
        return {
            "resize": "pil-bicubic-uint8",
            "input_size": INPUT_SIZE,
            "normalisation": "ImageNet mean/std",
            "layer": "class token after the final LayerNorm",
            "position_embedding": f"bicubic {TRAINED_GRID}→{grid}, scale ({grid}+{POS_OFFSET})"
            f"/{TRAINED_GRID}",
        }


def _factory(name: str):
    class _Extractor(DINOv2Extractor):
        variant = VARIANTS[name]

    _Extractor.__name__ = _Extractor.__qualname__ = "DINOv2Extractor_" + name.rsplit("-", 1)[1]
    return _Extractor


vits14 = _factory("dinov2-vit-s14")
vitb14 = _factory("dinov2-vit-b14")
vitl14 = _factory("dinov2-vit-l14")
vitg14 = _factory("dinov2-vit-g14")
