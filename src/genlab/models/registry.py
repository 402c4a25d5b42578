"""Build networks from a `ModelConfig`, the dataclass saved inside every checkpoint.

Like nanoGPT's ``GPTConfig``: the config alone rebuilds the exact networks, so loading a checkpoint
needs no arguments repeated by the caller.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from torch import nn

from genlab.errors import GenlabError
from genlab.models.dcgan import DCGANCritic, DCGANGenerator
from genlab.models.mlp import MLPCritic, MLPGenerator
from genlab.models.resnet import ResNetCritic, ResNetGenerator
from genlab.models.vae import VAE, ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from genlab.options import check_field_types

ARCHITECTURES = ("mlp", "dcgan", "resnet")


@dataclass
class ModelConfig:
    """Everything that fixes the networks' shapes.

    ``data_shape`` is (C, H, W) for images and (2,) for points of the 2-D toy sets. A training
    config holds one without a data shape, and may leave ``arch`` open: `for_data` fixes both
    once the data is known (an open arch is mlp for points and images below 16 px, else dcgan).
    """

    arch: str | None = "dcgan"
    data_shape: tuple[int, ...] | None = (1, 28, 28)
    latent_dim: int = 128
    width: int = 64
    critic_norm: str = "none"
    hidden: tuple[int, ...] = field(default_factory=lambda: (512, 512, 512))
    likelihood: str = "gaussian"

    def __post_init__(self) -> None:
        check_field_types(self, lambda name: "--" + name.replace("_", "-"))
        self.hidden = tuple(self.hidden)
        for name in ("width", "latent_dim"):
            if getattr(self, name) < 1:
                flag = "--" + name.replace("_", "-")
                raise GenlabError(f"{flag} must be at least 1, got {getattr(self, name)}")
        if any(units < 1 for units in self.hidden):
            raise GenlabError(f"hidden layer sizes must be at least 1, got {self.hidden}")
        if self.arch is not None and self.arch not in ARCHITECTURES:
            raise GenlabError(
                f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHITECTURES)}"
            )
        if self.data_shape is None:  # a training config's networks, before the data is known
            return
        self.data_shape = tuple(self.data_shape)
        if self.arch is None:
            small = len(self.data_shape) != 3 or self.data_shape[-1] < 16
            self.arch = "mlp" if small else "dcgan"
        is_image = len(self.data_shape) == 3
        if self.arch != "mlp" and not is_image:
            raise GenlabError(f"--arch {self.arch} needs images; use --arch mlp for 2-D points")
        if self.arch == "resnet" and self.data_shape[1:] != (32, 32):
            raise GenlabError(
                f"the ResNet networks are for 32×32 images, got {self.data_shape}; "
                "use --arch dcgan or resize the images to 32"
            )

    def for_data(self, data_shape: tuple[int, ...]) -> ModelConfig:
        """These networks for data of ``data_shape`` (an open ``arch`` is chosen from it)."""
        return replace(self, data_shape=tuple(data_shape))

    @property
    def is_image(self) -> bool:
        return len(self.data_shape) == 3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        return cls(**values)


def build_generator(config: ModelConfig) -> nn.Module:
    """The generator z ↦ sample (images in [-1, 1], or unbounded 2-D points)."""
    if config.arch == "mlp":
        return MLPGenerator(
            config.latent_dim, config.data_shape, hidden=config.hidden, tanh=config.is_image
        )
    channels, size, _ = config.data_shape
    if config.arch == "resnet":
        return ResNetGenerator(latent_dim=config.latent_dim, channels=channels, width=config.width)
    return DCGANGenerator(
        latent_dim=config.latent_dim, channels=channels, size=size, width=config.width
    )


def build_critic(config: ModelConfig) -> nn.Module:
    """The critic / discriminator: sample ↦ one raw score."""
    if config.arch == "mlp":
        return MLPCritic(config.data_shape, hidden=config.hidden)
    channels, size, _ = config.data_shape
    if config.arch == "resnet":
        return ResNetCritic(channels=channels, width=config.width)
    return DCGANCritic(channels=channels, size=size, width=config.width, norm=config.critic_norm)


def build_vae(config: ModelConfig) -> VAE:
    """Encoder and decoder of matching shapes (convolutional for images unless ``arch`` is mlp)."""
    if config.arch == "resnet":
        raise GenlabError("the VAE has dcgan (convolutional) and mlp networks; pick one of those")
    latent = config.latent_dim
    if config.arch == "mlp":
        encoder: nn.Module = MLPEncoder(in_shape=config.data_shape, latent_dim=latent)
        decoder: nn.Module = MLPDecoder(out_shape=config.data_shape, latent_dim=latent)
    else:
        channels, size, _ = config.data_shape
        encoder = ConvEncoder(channels=channels, size=size, latent_dim=latent, width=config.width)
        decoder = ConvDecoder(channels=channels, size=size, latent_dim=latent, width=config.width)
    return VAE(encoder, decoder, latent_dim=latent, likelihood=config.likelihood)
