"""A plain pre-norm Vision Transformer, the network shared by the DINOv2 and CLIP image towers.

Both towers are the ViT of Dosovitskiy et al. (ICLR 2021) with pre-norm blocks::

    x ← x + ls₁ ⊙ Attention(LN₁(x))
    x ← x + ls₂ ⊙ MLP(LN₂(x))

and differ only in details, each a field of `ViTConfig`:

- DINOv2 (Oquab et al. 2023): patch embedding with bias, LayerScale (ls₁, ls₂ learnt), GELU MLP
  (SwiGLU for ViT-g), LayerNorm ε = 1e-6, a final LayerNorm over all tokens; the feature is the
  class token after it. Its position embeddings are learnt for 518×518 inputs (a 37×37 grid) and
  bicubically resampled to the input's grid.
- CLIP (Radford et al. 2021): patch embedding without bias, a LayerNorm before the blocks
  (``ln_pre``), QuickGELU MLP (x·σ(1.702x)), no LayerScale, ε = 1e-5; the feature is the class
  token after ``ln_post``, multiplied by the projection matrix into the joint embedding space.

State-dict names are genlab's own (``blocks.3.attn.qkv.weight``); `genlab.metrics.features.dinov2`
and `genlab.metrics.features.clip` convert the official and the Hugging Face layouts into them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

#: `ViTConfig.activation` values.
GELU = "gelu"
QUICK_GELU = "quick_gelu"
SWIGLU = "swiglu"

#: `ViTConfig.head` values: what the network returns.
HEAD_CLS_NORM = "cls_norm"  # DINOv2: class token after the final LayerNorm
HEAD_CLS_PROJECTION = "cls_projection"  # CLIP: ln_post(class token) @ proj


@dataclass(frozen=True)
class ViTConfig:
    """Everything that builds a `VisionTransformer` (and so its state-dict layout).

    ``grid`` is the side of the position-embedding grid the weights were trained with;
    ``pos_offset`` is DINOv2's resampling offset (see `VisionTransformer.position_embedding`).
    ``mlp_hidden`` is the hidden width of the MLP (of each SwiGLU half for ``swiglu``).
    """

    width: int
    depth: int
    heads: int
    patch: int
    grid: int
    mlp_hidden: int
    activation: str = GELU
    layer_scale: bool = False
    eps: float = 1e-6
    patch_bias: bool = True
    ln_pre: bool = False
    head: str = HEAD_CLS_NORM
    embed_dim: int | None = None  # CLIP's projection width; None: no projection
    pos_offset: float = 0.0

    @property
    def out_dim(self) -> int:
        """Width of the returned feature."""
        return self.embed_dim if self.head == HEAD_CLS_PROJECTION else self.width


class _Attention(nn.Module):
    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.heads = config.heads
        self.qkv = nn.Linear(config.width, 3 * config.width)
        self.proj = nn.Linear(config.width, config.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.heads, width // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (batch, heads, tokens, head_dim)
        # softmax(q kᵀ / √d) v, all heads at once.
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, width))


class _MLP(nn.Module):
    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.activation = config.activation
        if config.activation == SWIGLU:
            # SwiGLU (Shazeer 2020): w3(SiLU(x W₁) ⊙ x W₂), W₁ and W₂ stored as one matrix w12.
            self.w12 = nn.Linear(config.width, 2 * config.mlp_hidden)
            self.w3 = nn.Linear(config.mlp_hidden, config.width)
        else:
            self.fc1 = nn.Linear(config.width, config.mlp_hidden)
            self.fc2 = nn.Linear(config.mlp_hidden, config.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation == SWIGLU:
            x1, x2 = self.w12(x).chunk(2, dim=-1)
            return self.w3(F.silu(x1) * x2)
        hidden = self.fc1(x)
        if self.activation == QUICK_GELU:
            hidden = hidden * torch.sigmoid(1.702 * hidden)  # CLIP's sigmoid approximation
        else:
            hidden = F.gelu(hidden)  # the exact erf form, as DINOv2's nn.GELU()
        return self.fc2(hidden)


class _Block(nn.Module):
    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.width, eps=config.eps)
        self.attn = _Attention(config)
        self.norm2 = nn.LayerNorm(config.width, eps=config.eps)
        self.mlp = _MLP(config)
        if config.layer_scale:
            self.ls1 = nn.Parameter(torch.ones(config.width))
            self.ls2 = nn.Parameter(torch.ones(config.width))
        else:
            self.ls1 = self.ls2 = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attended = self.attn(self.norm1(x))
        x = x + (attended if self.ls1 is None else attended * self.ls1)
        mixed = self.mlp(self.norm2(x))
        return x + (mixed if self.ls2 is None else mixed * self.ls2)


class VisionTransformer(nn.Module):
    """The image tower: float N×3×S×S (S a multiple of the patch size) → (N, `out_dim`)."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.config = config
        width = config.width
        self.patch_embed = nn.Conv2d(
            3, width, config.patch, stride=config.patch, bias=config.patch_bias
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.zeros(1, config.grid**2 + 1, width))
        self.ln_pre = nn.LayerNorm(width, eps=config.eps) if config.ln_pre else None
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.depth))
        self.norm = nn.LayerNorm(width, eps=config.eps)
        if config.head == HEAD_CLS_PROJECTION:
            self.proj = nn.Parameter(torch.zeros(width, config.embed_dim))
        else:
            self.proj = None

    @property
    def out_dim(self) -> int:
        return self.config.out_dim

    def position_embedding(self, grid: int) -> torch.Tensor:
        """Position embeddings (1, grid² + 1, width) for a grid×grid patch layout.

        The trained M×M patch embeddings are resampled bicubically (A = -0.75, no antialiasing)
        when ``grid`` ≠ M. With ``pos_offset`` = δ > 0 the resampling uses the scale factor
        (grid + δ)/M instead of grid/M, as DINOv2's own code does (δ = 0.1, "to avoid floating
        point error", facebookresearch/dino issue 8): the sampling positions, and so the
        features, depend on it.
        """
        trained = self.config.grid
        if grid == trained:
            return self.pos_embed
        cls_pos, patch_pos = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        width = patch_pos.shape[-1]
        patch_pos = patch_pos.reshape(1, trained, trained, width).permute(0, 3, 1, 2).float()
        if self.config.pos_offset:
            scale = (grid + self.config.pos_offset) / trained
            resized = F.interpolate(
                patch_pos, scale_factor=(scale, scale), mode="bicubic", align_corners=False
            )
        else:
            resized = F.interpolate(
                patch_pos, size=(grid, grid), mode="bicubic", align_corners=False
            )
        resized = (
            resized.to(self.pos_embed.dtype).permute(0, 2, 3, 1).reshape(1, grid * grid, width)
        )
        return torch.cat((cls_pos, resized), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = self.patch_embed(x)  # (N, width, H/p, W/p)
        grid = patches.shape[-1]
        if patches.shape[-2] != grid:
            raise ValueError(f"expected a square input, got {tuple(x.shape[-2:])}")
        tokens = patches.flatten(2).transpose(1, 2)
        tokens = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), tokens), dim=1)
        tokens = tokens + self.position_embedding(grid)
        if self.ln_pre is not None:
            tokens = self.ln_pre(tokens)
        for block in self.blocks:
            tokens = block(tokens)
        if self.proj is None:
            return self.norm(tokens)[:, 0]
        # CLIP normalises the class token alone, then projects it.
        return self.norm(tokens[:, 0]) @ self.proj


def layout(config: ViTConfig) -> dict[str, tuple[int, ...]]:
    """Key → shape of the state dict of ``VisionTransformer(config)``, built on the meta device."""
    with torch.device("meta"):
        network = VisionTransformer(config)
    return {key: tuple(value.shape) for key, value in network.state_dict().items()}


def grid_side(count: int) -> int:
    """M for a position table of M² + 1 rows; ValueError when count - 1 is not a square."""
    side = math.isqrt(count - 1)
    if side * side != count - 1:
        raise ValueError(f"{count} position embeddings are not a square grid plus a class token")
    return side
