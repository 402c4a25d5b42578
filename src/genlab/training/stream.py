"""Endless, resumable batches for training: shuffled epochs of a data set, or fresh toy samples.

Both keep their position in a small state dict, so a resumed run draws exactly the batches an
uninterrupted one would have drawn.

Under several processes (`genlab.distributed`) ``batch_size`` stays the *global* batch: every
process walks the same sequence of global batches and `next` returns only this process's equal
share of each (`genlab.distributed.shard_rows`), so N processes see together exactly the images
one process would see, and the stream's state is the same on every process.
"""

from __future__ import annotations

from typing import Any

import torch

from genlab import distributed
from genlab.data.imageio import uint8_to_signed
from genlab.data.sources import Source
from genlab.errors import GenlabError


class DatasetStream:
    """Batches of a `Source`'s images in [-1, 1], each epoch a fresh permutation drawn from
    (seed, epoch).

    The last incomplete batch of an epoch is dropped so every step sees ``batch_size`` images.
    """

    def __init__(self, source: Source, *, batch_size: int, seed: int, device: torch.device) -> None:
        # Training reshuffles every epoch, so the whole source is held in memory (as uint8).
        images = source.images()
        if len(images) < batch_size:
            raise GenlabError(
                f"data set {source.spec} has {len(images)} images, fewer than the batch size "
                f"{batch_size}; lower --batch-size or use more data"
            )
        self.images = images.to(device)
        self.batch_size, self.seed = batch_size, seed
        self.epoch, self.position = 0, 0
        self._order = self._permutation(0)

    @property
    def data_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[1:])

    def _permutation(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.images), generator=generator).to(self.images.device)

    def next(self) -> torch.Tensor:
        if self.position + self.batch_size > len(self.images):
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._permutation(self.epoch)
        indices = self._order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return uint8_to_signed(self.images[distributed.shard_rows(indices)])

    def state_dict(self) -> dict[str, Any]:
        # The image count too: a resumed run on other data would continue some other run.
        return {"epoch": self.epoch, "position": self.position, "images": len(self.images)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state.get("images")  # absent in checkpoints before genlab recorded it
        if saved is not None and saved != len(self.images):
            raise GenlabError(
                f"the run trained on {saved} images and its data now holds {len(self.images)}; "
                "resume it with the data it was trained on (see its config.json)"
            )
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._order = self._permutation(self.epoch)


class ToyStream:
    """Fresh samples of a 2-D toy distribution at every step, from a dedicated generator.

    Each process draws the whole global batch and keeps its share, so the generator's state
    advances identically everywhere.
    """

    def __init__(self, name: str, *, batch_size: int, seed: int, device: torch.device) -> None:
        from genlab.data.toy import sample_toy

        self._sample = sample_toy
        self.name, self.batch_size, self.device = name, batch_size, device
        self.generator = torch.Generator().manual_seed(seed)
        sample_toy(name, 1, generator=torch.Generator().manual_seed(0))  # fail early on bad names

    @property
    def data_shape(self) -> tuple[int, ...]:
        return (2,)

    def next(self) -> torch.Tensor:
        points = self._sample(self.name, self.batch_size, generator=self.generator)
        return distributed.shard_rows(points).to(self.device)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
