"""CLIP image embeddings: ``clip-vit-b32`` (clean-fid's CLIP-FID) and ``clip-vit-l14-336`` (CMMD).

The feature is the image tower's projected embedding, ``encode_image`` of OpenAI's CLIP (Radford
et al., "Learning transferable visual models from natural language supervision", ICML 2021): the
class token after ``ln_post``, times the projection matrix ``proj``. It is not L2-normalised here
(FD and KID use it as it is; CMMD normalises it itself).

Input pipeline, CLIP's own (``clip.clip._transform``; clean-fid's ``img_preprocess_clip`` is the
same): PIL bicubic resize of the short side to the input size (224, or 336 for ViT-L/14@336px) on
the 8-bit image, centre crop to a square, /255, normalisation with CLIP's mean
(0.48145466, 0.4578275, 0.40821073) and std (0.26862954, 0.26130258, 0.27577711).

The reference CMMD code (google-research/cmmd, ``embedding.py``) instead resizes the whole image
to 336×336 with ``jax.image.resize(method="bicubic")`` in float: for square images the geometry is
the same, the interpolation kernel's rounding differs (see docs/evaluation.md).

Weights: OpenAI's TorchScript ``ViT-B-32.pt`` and ``ViT-L-14-336px.pt`` (their download URLs name
each file's SHA-256, which OpenAI's loader checks; pinned here), or ``model.safetensors`` of the
Hugging Face repositories ``openai/clip-vit-base-patch32`` and ``openai/clip-vit-large-patch14-336``
(no published SHA-256 found; not pinned).
"""

from __future__ import annotations

import re
from typing import Any

import torch

from genlab.metrics.features.pil_resize import resize_short_side_and_crop
from genlab.metrics.features.registry import ExtractorCapabilities
from genlab.metrics.features.vit import HEAD_CLS_PROJECTION, QUICK_GELU, ViTConfig
from genlab.metrics.features.vit_models import (
    Tensors,
    ViTExtractor,
    ViTVariant,
    WeightsSource,
    normalise,
)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

_OPENAI_URL = "https://openaipublic.azureedge.net/clip/models/{sha256}/{filename}"


def _config(*, width: int, depth: int, heads: int, patch: int, size: int, embed: int) -> ViTConfig:
    return ViTConfig(
        width=width,
        depth=depth,
        heads=heads,
        patch=patch,
        grid=size // patch,
        mlp_hidden=4 * width,
        activation=QUICK_GELU,
        layer_scale=False,
        eps=1e-5,
        patch_bias=False,
        ln_pre=True,
        head=HEAD_CLS_PROJECTION,
        embed_dim=embed,
    )


# --- Converting OpenAI's and the Hugging Face layouts ------------------------------------------

_OPENAI = [
    (r"^visual\.conv1\.", "patch_embed."),
    (r"^visual\.ln_pre\.", "ln_pre."),
    (r"^visual\.ln_post\.", "norm."),
    (r"^visual\.proj$", "proj"),
    (r"^visual\.transformer\.resblocks\.(\d+)\.ln_([12])\.", r"blocks.\1.norm\2."),
    (
        r"^visual\.transformer\.resblocks\.(\d+)\.attn\.in_proj_(weight|bias)$",
        r"blocks.\1.attn.qkv.\2",
    ),
    (r"^visual\.transformer\.resblocks\.(\d+)\.attn\.out_proj\.", r"blocks.\1.attn.proj."),
    (r"^visual\.transformer\.resblocks\.(\d+)\.mlp\.c_fc\.", r"blocks.\1.mlp.fc1."),
    (r"^visual\.transformer\.resblocks\.(\d+)\.mlp\.c_proj\.", r"blocks.\1.mlp.fc2."),
]
_HF = [
    (r"^vision_model\.embeddings\.patch_embedding\.", "patch_embed."),
    (r"^vision_model\.pre_layrnorm\.", "ln_pre."),  # sic: transformers' spelling
    (r"^vision_model\.post_layernorm\.", "norm."),
    (r"^vision_model\.encoder\.layers\.(\d+)\.layer_norm([12])\.", r"blocks.\1.norm\2."),
    (r"^vision_model\.encoder\.layers\.(\d+)\.self_attn\.out_proj\.", r"blocks.\1.attn.proj."),
    (r"^vision_model\.encoder\.layers\.(\d+)\.mlp\.", r"blocks.\1.mlp."),
]
_HF_QKV = re.compile(
    r"^vision_model\.encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(weight|bias)$"
)


def _renamed(tensors: Tensors, rules: list[tuple[str, str]]) -> Tensors:
    out = {}
    for key, value in tensors.items():
        for pattern, replacement in rules:
            renamed, count = re.subn(pattern, replacement, key)
            if count:
                out[renamed] = value
                break
    return out


def convert_state_dict(tensors: Tensors) -> Tensors | None:
    """The image tower of an OpenAI or Hugging Face CLIP state dict in `VisionTransformer`'s
    layout (text-tower tensors are ignored); None for tensors of neither layout.

    OpenAI's class embedding (W,) and position table (T, W) gain leading unit axes; HF's
    separate q, k, v projections are stacked in that order (OpenAI's ``in_proj`` order); HF's
    ``visual_projection`` is a Linear, y = W x, so ``proj`` = Wᵀ (x @ proj).
    """
    if "visual.class_embedding" in tensors:
        out = _renamed(tensors, _OPENAI)
        width = tensors["visual.class_embedding"].shape[0]
        out["cls_token"] = tensors["visual.class_embedding"].reshape(1, 1, width)
        out["pos_embed"] = tensors["visual.positional_embedding"].unsqueeze(0)
        return out
    if "vision_model.embeddings.class_embedding" not in tensors:
        return None
    out = _renamed(tensors, _HF)
    width = tensors["vision_model.embeddings.class_embedding"].shape[0]
    out["cls_token"] = tensors["vision_model.embeddings.class_embedding"].reshape(1, 1, width)
    out["pos_embed"] = tensors["vision_model.embeddings.position_embedding.weight"].unsqueeze(0)
    out["proj"] = tensors["visual_projection.weight"].t()
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        match = _HF_QKV.match(key)
        if match:
            layer, part, kind = match.groups()
            qkv.setdefault((layer, kind), {})[part] = value
    for (layer, kind), parts in qkv.items():
        out[f"blocks.{layer}.attn.qkv.{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return out


def _variant(
    name: str, filename: str, sha256: str, hf: str, config: ViTConfig, size: int
) -> tuple[ViTVariant, int]:
    url = _OPENAI_URL.format(sha256=sha256, filename=filename)
    variant = ViTVariant(
        name=name,
        config=config,
        sources=(
            WeightsSource(filename, f"from {url}", sha256=sha256, url=url),
            WeightsSource("model.safetensors", f"of https://huggingface.co/{hf}, the same weights"),
        ),
        convert=convert_state_dict,
    )
    return variant, size


_B32, _B32_SIZE = _variant(
    "clip-vit-b32",
    "ViT-B-32.pt",
    "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
    "openai/clip-vit-base-patch32",
    _config(width=768, depth=12, heads=12, patch=32, size=224, embed=512),
    224,
)
_L14_336, _L14_336_SIZE = _variant(
    "clip-vit-l14-336",
    "ViT-L-14-336px.pt",
    "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02",
    "openai/clip-vit-large-patch14-336",
    _config(width=1024, depth=24, heads=16, patch=14, size=336, embed=768),
    336,
)
VARIANTS = {_B32.name: _B32, _L14_336.name: _L14_336}
INPUT_SIZES = {_B32.name: _B32_SIZE, _L14_336.name: _L14_336_SIZE}


def preprocess(images: torch.Tensor, size: int) -> torch.Tensor:
    """CLIP's input: PIL bicubic (8-bit) short side to ``size``, centre crop, /255, CLIP mean/std.

    uint8 N×C×H×W (C = 1 or 3) → float32 N×3×size×size.
    """
    return normalise(resize_short_side_and_crop(images, size), CLIP_MEAN, CLIP_STD)


class CLIPExtractor(ViTExtractor):
    """CLIP's projected image embedding (options: weights, device, batch_size).

    ``weights``: None finds the installed weights (``genlab weights import``); a path loads an
    accepted file directly; a `LoadedWeights` is used as given.
    """

    #: A CLIP embedding, which the CMMD metric requires.
    capabilities = ExtractorCapabilities(clip_embedding=True)

    @property
    def input_size(self) -> int:
        return INPUT_SIZES[self.variant.name]

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        return preprocess(images, self.input_size)

    def pipeline(self) -> dict[str, Any]:
        return {
            "resize": "pil-bicubic-uint8 short side, centre crop",
            "input_size": self.input_size,
            "normalisation": "CLIP mean/std",
            "layer": "projected class token (encode_image), not L2-normalised",
        }


class ViTB32(CLIPExtractor):
    variant = _B32


class ViTL14336(CLIPExtractor):
    variant = _L14_336
