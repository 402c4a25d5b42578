"""The in-memory image data set every source returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genlab.data.imageio import check_uint8_images
from genlab.errors import GenlabError


@dataclass
class ImageDataset(torch.utils.data.Dataset):
    """Images as one uint8 N×C×H×W tensor, with optional int64 labels.

    Indexing returns ``(image, label)`` with label -1 where the source has none, so a
    ``DataLoader`` collates any source the same way.
    """

    images: torch.Tensor
    labels: torch.Tensor | None = None
    classes: tuple[str, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        check_uint8_images(self.images, f"data set {self.name or '?'}")
        if self.labels is not None and len(self.labels) != len(self.images):
            raise GenlabError(
                f"data set {self.name}: {len(self.labels)} labels for {len(self.images)} images"
            )

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        label = -1 if self.labels is None else int(self.labels[index])
        return self.images[index], label

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def subset(self, count: int) -> ImageDataset:
        """The first ``count`` images (all of them when ``count`` exceeds the size)."""
        labels = None if self.labels is None else self.labels[:count]
        return ImageDataset(self.images[:count], labels, self.classes, self.name)
