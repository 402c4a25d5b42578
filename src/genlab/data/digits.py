"""scikit-learn's bundled 8×8 handwritten digits: a data set that needs no download.

1,797 images of 8×8 pixels from the UCI "Optical Recognition of Handwritten Digits" test set,
each pixel a count 0..16 of set pixels in a 4×4 block of the original 32×32 bitmap. They are
scaled to uint8 by round(v · 255 / 16), so 0 → 0 and 16 → 255.

Splits (sklearn ships none): ``train`` is the first 1500 images, ``test`` the last 297
(`DIGITS_TEST_SIZE`), a fixed cut of the file's own order, so every run, the shipped
``classifier-digits`` (trained on ``train``, its accuracy measured on ``test``) and the verdict at
the end of ``genlab train`` (samples against ``test``) agree on which images are held out. The
classes are balanced in both (27–33 images of each digit in ``test``). ``all`` is the 1797
images together, what ``digits`` meant before the split (run folders of that time resume on it).
"""

from __future__ import annotations

import numpy as np
import torch

from genlab.data.base import ImageDataset
from genlab.errors import GenlabError

DIGITS_CLASSES = tuple(str(digit) for digit in range(10))
#: Images of the held-out ``test`` split: the last 297 of the 1797 (``train`` is the first 1500).
DIGITS_TEST_SIZE = 297
DIGITS_SPLITS = ("train", "test", "all")
_DIGITS_MAX = 16


def load_digits_dataset(split: str | None = None) -> ImageDataset:
    """The sklearn digits as uint8 N×1×8×8, labels int64 0..9, name ``"digits"``.

    ``split``: None or ``"all"`` for all 1797 images, ``"train"`` for the first 1500, ``"test"``
    for the last `DIGITS_TEST_SIZE` (297).
    """
    if split is not None and split not in DIGITS_SPLITS:
        raise GenlabError(f"digits has no split {split!r}; use one of {list(DIGITS_SPLITS)}")
    from sklearn.datasets import load_digits  # scikit-learn is slow to import; only when used

    bunch = load_digits()
    counts = np.asarray(bunch.images)
    if counts.min() < 0 or counts.max() > _DIGITS_MAX or not np.array_equal(counts, counts.round()):
        raise GenlabError("scikit-learn's digits are not integers 0..16; check the sklearn install")
    # round(v·255/16) in integers, halves up (only v = 8 gives a half: 127.5 → 128).
    scaled = (counts.astype(np.int64) * 255 + _DIGITS_MAX // 2) // _DIGITS_MAX
    images = torch.from_numpy(scaled.astype(np.uint8)).unsqueeze(1)
    labels = torch.from_numpy(np.asarray(bunch.target, dtype=np.int64))
    if split in ("train", "test"):
        cut = len(images) - DIGITS_TEST_SIZE
        part = slice(None, cut) if split == "train" else slice(cut, None)
        images, labels = images[part].contiguous(), labels[part].contiguous()
    return ImageDataset(images, labels, DIGITS_CLASSES, "digits")
