"""Images a user's own generator makes, as a `Source`: a callable ``f(batch_size)`` or a module.

``genlab.evaluate(reference, generator, n=10_000)`` takes what a training script already holds:

- a callable ``f(batch_size) -> images`` (any form `as_uint8_images` takes), called with the
  number of images still wanted, at most the batch size; its randomness is its own (seed it
  for reproducible numbers);
- an ``nn.Module`` mapping latents z ~ N(0, I) of shape (batch, latent_dim) to images. Its
  latent size is ``latent_dim`` as given, else the module's own ``latent_dim`` attribute (as
  genlab's generators have). The noise comes from a private generator seeded with ``seed`` on
  the CPU and is moved to the module's device, so the same module, ``n`` and ``seed`` give the
  same images; the module is called as it is (call ``.eval()`` first when it should sample in
  evaluation mode) under ``torch.inference_mode``.

Float outputs need ``value_range`` ((0, 1) or (-1, 1)) like float arrays; every batch is checked.
Generated images are never cached, as a model's weights change between calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from genlab.arrays import check_integer
from genlab.data.imageio import as_uint8_images
from genlab.data.sources import COUNT, KIND, Source
from genlab.errors import GenlabError

#: A user's sampler: the number of images wanted → that many images.
Sampler = Callable[[int], Any]


class GeneratorSource(Source):
    """``n`` images from a sampler, batch by batch, each converted to uint8 and checked."""

    kind = "generator"
    cacheable = False

    def __init__(
        self,
        spec: str,
        sample: Sampler,
        *,
        n: int,
        seed: int | None = None,
        value_range: tuple[float, float] | None = None,
    ) -> None:
        super().__init__(spec)
        check_integer(n, "n")
        self.sample, self.n, self.seed, self.value_range = sample, n, seed, value_range

    def identity(self) -> dict[str, Any]:
        return {KIND: self.kind, COUNT: self.n, "seed": self.seed}

    @property
    def count(self) -> int:
        return self.n

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        check_integer(batch_size, "batch_size")
        made = 0
        while made < self.n:
            wanted = min(batch_size, self.n - made)
            images = as_uint8_images(
                self.sample(wanted), value_range=self.value_range, what=f"{self.spec}'s images"
            )
            if images.shape[0] != wanted:
                raise GenlabError(
                    f"{self.spec} returned {images.shape[0]} images when asked for {wanted}; "
                    "a sampler f(batch_size) must return exactly batch_size images"
                )
            made += wanted
            yield images

    def describe(self) -> str:
        seed = f", seed {self.seed}" if self.seed is not None else ""
        return f"{self.spec} ({self.n} images generated{seed})"


def module_sampler(module: nn.Module, *, latent_dim: int | None, seed: int) -> Sampler:
    """``f(batch_size)``: ``module(z)`` for z ~ N(0, I) from a CPU generator seeded with ``seed``.

    Raises
    ------
    GenlabError
        When neither ``latent_dim`` nor ``module.latent_dim`` gives the latent size.
    """
    size = latent_dim if latent_dim is not None else getattr(module, "latent_dim", None)
    if size is None:
        raise GenlabError(
            f"the {type(module).__name__} module has no latent_dim attribute; pass "
            "latent_dim=... (it is called on z ~ N(0, I) of shape (batch, latent_dim))"
        )
    check_integer(size, "latent_dim")
    noise = torch.Generator().manual_seed(seed)
    device = next((p.device for p in module.parameters()), torch.device("cpu"))

    def sample(count: int) -> torch.Tensor:
        z = torch.randn(count, size, generator=noise).to(device)
        with torch.inference_mode():
            return module(z)

    return sample


__all__ = ["GeneratorSource", "Sampler", "module_sampler"]
