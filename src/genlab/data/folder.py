"""Images from a container (a folder, .zip or .tar) as a data set, with labels from subfolders.

Two forms share one set of options and one per-image pipeline (read the file from its
`genlab.data.containers` container, decode it with `genlab.data.decode`, `prepare` its mode and
size):

- `ImageFolder`, a lazy ``torch.utils.data.Dataset`` that decodes an image only when it is indexed,
  so a folder of large photos never has to fit in memory; ``.materialize()`` turns it into an
  in-memory `ImageDataset`.
- `load_image_folder`, which decodes everything straight into one uint8 N×C×H×W tensor.

Order
    Image files (see `genlab.data.containers` for which files count) are sorted by their path
    inside the container, so the order (and with it ``limit``) is deterministic. Files that are not
    images are counted (`ImageFolder.ignored`).

Labels
    When every image lies inside a first-level subfolder (``<root>/<class>/...``), the sorted
    subfolder names are the classes and each image's label is its class index. Otherwise there are
    no labels. Classes come from every image file found, before any is skipped or cut by
    ``limit``, so a label means the same class whatever the options. ``subdir`` chooses a
    subfolder of the container to use as the root (``subdir="train"`` for ``train/<class>/...``).

Modes and sizes
    Each image is read as `genlab.data.decode` describes. ``mode="auto"`` picks L when every image
    is grayscale and RGB when every image is in colour; a mix is an error that gives the counts
    (pass ``mode`` to convert instead). ``size=None`` keeps the stored size, which must then be the
    same for every image (an error names two files with different sizes).

Bad files (``on_error``)
    A file that cannot be decoded (`genlab.data.decode`), a broken link or a non-regular file with
    an image extension is a bad file. ``"stop"`` raises `InvalidImageError` naming it; ``"skip"``
    leaves it out and warns once (`SkippedImagesWarning`) with the count and the first few paths.
    The lazy `ImageFolder` reads every file's header when built, so most bad files are found then;
    a file that is damaged past its header is found only when decoded, and ``__getitem__`` then
    raises `InvalidImageError` whatever ``on_error`` says (a data set cannot drop an index). Build
    it with ``verify=True`` to decode everything once up front, or use ``materialize()``, which
    honours ``on_error``.
"""

from __future__ import annotations

import os
import posixpath
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from genlab.arrays import check_integer
from genlab.data.base import ImageDataset
from genlab.data.containers import IMAGE_EXTENSIONS, list_container, open_container, read_member
from genlab.data.decode import (
    DEFAULT_MAX_PIXELS,
    check_choice,
    check_image_options,
    decode,
    kind_of,
    prepare,
    probe,
)
from genlab.errors import GenlabError, InvalidImageError

ON_ERROR = ("stop", "skip")
_SKIP_EXAMPLES = 3


class SkippedImagesWarning(UserWarning):
    """Some image files could not be read and were left out (``on_error="skip"``)."""


# ---------------------------------------------------------------------------------------------
# Planning: which files, which labels


@dataclass
class _Plan:
    container: object
    names: list[str]  # relative paths, sorted
    references: list[object]
    labels: list[int] | None
    classes: tuple[str, ...]
    ignored: list[str]
    skipped: list[tuple[str, str]]  # (display path, reason)
    description: str


def _sort_key(relative: str) -> list[str]:
    return relative.split("/")


def _subdir_prefix(subdir: str | None) -> str:
    if not subdir:
        return ""
    cleaned = posixpath.normpath("/" + str(subdir).replace(os.sep, "/")).strip("/")
    return cleaned + "/" if cleaned else ""


def _plan(path: str | os.PathLike, subdir: str | None) -> _Plan:
    container = open_container(path)
    listing = list_container(container)
    prefix = _subdir_prefix(subdir)
    names = sorted((name for name in listing.images if name.startswith(prefix)), key=_sort_key)
    bad = [(name, reason) for name, reason in listing.bad if name.startswith(prefix)]
    ignored = [name for name in listing.ignored if name.startswith(prefix)]
    description = container.description + (f" (subfolder {prefix.rstrip('/')})" if prefix else "")
    if not names and not bad:
        examples = ", ".join(ignored[:3])
        found = f"; {len(ignored)} other files ignored, e.g. {examples}" if ignored else ""
        raise GenlabError(
            f"no images found in {description}{found}; image files end in "
            f"{', '.join(sorted(IMAGE_EXTENSIONS))}"
        )
    # Paths below the root; labels come from their first folder, counting bad files too.
    local = [name[len(prefix) :] for name in names]
    candidates = local + [name[len(prefix) :] for name, _ in bad]
    classes: tuple[str, ...] = ()
    labels = None
    if all("/" in name for name in candidates):
        classes = tuple(sorted({name.split("/", 1)[0] for name in candidates}))
        index = {name: position for position, name in enumerate(classes)}
        labels = [index[name.split("/", 1)[0]] for name in local]
    return _Plan(
        container=container,
        names=names,
        references=[listing.images[name] for name in names],
        labels=labels,
        classes=classes,
        ignored=ignored,
        skipped=[(container.display(name), reason) for name, reason in bad],
        description=description,
    )


def _check_options(*, mode, size, resize, on_error, limit) -> None:
    check_image_options(mode=mode, size=size, resize=resize)
    check_choice("on_error", on_error, ON_ERROR)
    check_integer(limit, "limit", or_none=True)


def _listed_bad_files(plan: _Plan, on_error: str) -> list[tuple[str, str]]:
    """The bad files the listing found (broken links, ...); the first stops when told to."""
    skipped = list(plan.skipped)
    if skipped and on_error == "stop":
        _bad_file(f"{skipped[0][0]}: {skipped[0][1]}", on_error, skipped, skipped[0][0])
    return skipped


def _bad_file(reason: str, on_error: str, skipped: list[tuple[str, str]], display: str) -> None:
    if on_error == "stop":
        raise InvalidImageError(
            f"{reason}; fix or remove the file, or pass on_error='skip' to leave unreadable "
            "images out"
        )
    skipped.append((display, reason))


def _warn_skipped(skipped: Sequence[tuple[str, str]], description: str) -> None:
    if not skipped:
        return
    examples = "; ".join(reason for _, reason in skipped[:_SKIP_EXAMPLES])
    more = f" and {len(skipped) - _SKIP_EXAMPLES} more" if len(skipped) > _SKIP_EXAMPLES else ""
    warnings.warn(
        f"skipped {len(skipped)} unreadable image file(s) in {description}: {examples}{more}",
        SkippedImagesWarning,
        stacklevel=3,
    )


def _mixed_modes_error(counts: Counter, description: str) -> GenlabError:
    return GenlabError(
        f"{description} mixes {counts['L']} grayscale and {counts['RGB']} colour images; "
        "pass mode='L' or mode='RGB' to convert them all to one mode"
    )


def _sizes_error(
    first: tuple[str, tuple[int, int]], other: tuple[str, tuple[int, int]]
) -> GenlabError:
    (name_a, (w_a, h_a)), (name_b, (w_b, h_b)) = first, other
    return GenlabError(
        f"images differ in size: {name_a} is {w_a}×{h_a} but {name_b} is {w_b}×{h_b}; "
        "pass size=N to resize every image to N×N"
    )


def _empty_after_skipping(plan: _Plan, skipped: Sequence[tuple[str, str]]) -> GenlabError:
    example = skipped[0][1] if skipped else "?"
    return GenlabError(
        f"no readable images in {plan.description}: all {len(skipped)} image files failed "
        f"(first: {example})"
    )


# ---------------------------------------------------------------------------------------------
# One image: the pipeline the lazy data set and the eager loader share


def _image(
    container, relative: str, reference: object, *, mode, size, resize, max_pixels
) -> tuple[np.ndarray, str]:
    """Read, decode and `prepare` one file: (uint8 C×H×W, the stored kind ``"L"``/``"RGB"``)."""
    display = container.display(relative)
    pixels = decode(read_member(container, relative, reference), display, max_pixels)
    return prepare(pixels, mode=mode, size=size, resize=resize), kind_of(pixels)


# ---------------------------------------------------------------------------------------------
# The lazy data set


class ImageFolder(torch.utils.data.Dataset):
    """Images in a folder or archive, decoded on demand; ``(uint8 C×H×W, label)`` per index.

    Options are those of `load_image_folder`; ``verify=True`` additionally decodes every image
    once while building (nothing is kept) so that ``on_error`` also covers files damaged past
    their header. The label is -1 when the source has no class subfolders, as in `ImageDataset`.

    Attributes
    ----------
    classes : tuple of str
        Class names (first-level subfolders), empty when there are no labels.
    mode : str
        The resolved mode, ``"L"`` or ``"RGB"``.
    ignored : tuple of str
        Files that are not images (by extension) or hidden, relative to the source.
    skipped : tuple of (str, str)
        Bad files left out while building, with the reason.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        mode: str = "auto",
        size: int | None = None,
        resize: str = "resize",
        on_error: str = "stop",
        limit: int | None = None,
        subdir: str | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        verify: bool = False,
    ) -> None:
        _check_options(mode=mode, size=size, resize=resize, on_error=on_error, limit=limit)
        plan = _plan(path, subdir)
        self._size, self._resize, self._max_pixels = size, resize, max_pixels
        self._on_error = on_error
        self._container = plan.container
        self.description = plan.description
        self.classes = plan.classes
        self.ignored = tuple(plan.ignored)
        skipped = _listed_bad_files(plan, on_error)
        kept, kinds, sizes = self._scan(plan, on_error, limit, skipped, verify=verify)
        if not kept:
            raise _empty_after_skipping(plan, skipped)
        self.mode = self._resolve_mode(mode, kinds)
        if size is None:
            self._check_one_size([plan.container.display(plan.names[i]) for i in kept], sizes)
        self._image_size = sizes[0]
        self._names = [plan.names[i] for i in kept]
        self._references = [plan.references[i] for i in kept]
        self._labels = None if plan.labels is None else [plan.labels[i] for i in kept]
        self.skipped = tuple(skipped)
        _warn_skipped(skipped, self.description)

    def _scan(self, plan: _Plan, on_error, limit, skipped, *, verify: bool):
        kept: list[int] = []
        kinds: list[str] = []
        sizes: list[tuple[int, int]] = []
        for position, (name, reference) in enumerate(zip(plan.names, plan.references, strict=True)):
            if limit is not None and len(kept) == limit:
                break
            display = plan.container.display(name)
            try:
                data = read_member(plan.container, name, reference)
                kind, size = probe(data, display, self._max_pixels)
                if verify:
                    decode(data, display, self._max_pixels)
            except InvalidImageError as exc:
                _bad_file(str(exc), on_error, skipped, display)
                continue
            kept.append(position)
            kinds.append(kind)
            sizes.append(size)
        return kept, kinds, sizes

    def _resolve_mode(self, mode: str, kinds: list[str]) -> str:
        if mode != "auto":
            return mode
        counts = Counter(kinds)
        if len(counts) > 1:
            raise _mixed_modes_error(counts, self.description)
        return kinds[0]

    @staticmethod
    def _check_one_size(displays: list[str], sizes: list[tuple[int, int]]) -> None:
        for display, size in zip(displays, sizes, strict=True):
            if size != sizes[0]:
                raise _sizes_error((displays[0], sizes[0]), (display, size))

    def __len__(self) -> int:
        return len(self._names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        channels = 1 if self.mode == "L" else 3
        if self._size is not None:
            return (channels, self._size, self._size)
        width, height = self._image_size
        return (channels, height, width)

    @property
    def labels(self) -> torch.Tensor | None:
        """int64 labels of every image, or None when the source has no class subfolders."""
        return None if self._labels is None else torch.tensor(self._labels, dtype=torch.int64)

    def _decode_at(self, index: int) -> np.ndarray:
        display = self._container.display(self._names[index])
        chw, _ = _image(
            self._container,
            self._names[index],
            self._references[index],
            mode=self.mode,
            size=self._size,
            resize=self._resize,
            max_pixels=self._max_pixels,
        )
        if chw.shape != self.image_shape:
            # The header promised another size (or the file changed since the folder was read).
            raise InvalidImageError(
                f"{display}: decoded to {chw.shape[1:]} instead of {self.image_shape[1:]}"
            )
        return chw

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        index %= len(self)
        image = torch.from_numpy(np.ascontiguousarray(self._decode_at(index)))
        label = -1 if self._labels is None else self._labels[index]
        return image, label

    def materialize(self, limit: int | None = None, *, on_error: str | None = None) -> ImageDataset:
        """Decode the first ``limit`` images (all by default) into an in-memory `ImageDataset`.

        A file that fails to decode raises `InvalidImageError` (``on_error="stop"``) or is left
        out with one warning (``"skip"``), in which case later files fill the ``limit``.
        ``on_error`` defaults to the folder's own.
        """
        on_error = self._on_error if on_error is None else on_error
        check_choice("on_error", on_error, ON_ERROR)
        check_integer(limit, "limit", or_none=True)
        wanted = len(self) if limit is None else min(limit, len(self))
        images = np.empty((wanted, *self.image_shape), dtype=np.uint8)
        labels: list[int] = []
        skipped: list[tuple[str, str]] = []
        filled = 0
        for index in range(len(self)):
            if filled == wanted:
                break
            try:
                images[filled] = self._decode_at(index)
            except InvalidImageError as exc:
                display = self._container.display(self._names[index])
                _bad_file(str(exc), on_error, skipped, display)
                continue
            if self._labels is not None:
                labels.append(self._labels[index])
            filled += 1
        _warn_skipped(skipped, self.description)
        return ImageDataset(
            torch.from_numpy(images[:filled]),
            None if self._labels is None else torch.tensor(labels, dtype=torch.int64),
            self.classes,
            self.description,
        )


# ---------------------------------------------------------------------------------------------
# The eager loader


@dataclass
class _Collected:
    """Decoded images filled into one preallocated array as they come."""

    capacity: int
    array: np.ndarray | None = None
    count: int = 0
    labels: list[int] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)
    first: tuple[str, tuple[int, int]] | None = None

    def add(self, chw: np.ndarray, label: int | None, kind: str, display: str) -> None:
        if self.array is None:
            self.array = np.empty((self.capacity, *chw.shape), dtype=np.uint8)
            self.first = (display, (chw.shape[2], chw.shape[1]))
        elif chw.shape != self.array.shape[1:]:
            raise _sizes_error(self.first, (display, (chw.shape[2], chw.shape[1])))
        self.array[self.count] = chw
        self.count += 1
        self.kinds[kind] += 1
        if label is not None:
            self.labels.append(label)


def load_image_folder(
    path: str | os.PathLike,
    *,
    mode: str = "auto",
    size: int | None = None,
    resize: str = "resize",
    on_error: str = "stop",
    limit: int | None = None,
    subdir: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    name: str | None = None,
) -> ImageDataset:
    """Decode the images of a folder, .zip or .tar into one uint8 N×C×H×W `ImageDataset`.

    Parameters
    ----------
    path
        A folder (searched recursively), a .zip, or a .tar (optionally gzip/bzip2/xz compressed).
    mode
        ``"auto"``, ``"L"`` or ``"RGB"``; see the module documentation for every stored mode.
    size
        None (all images must share one size) or N for N×N images.
    resize
        ``"resize"`` (scale the whole image) or ``"center-crop"`` (central square, then scale).
    on_error
        ``"stop"`` (raise `InvalidImageError` at the first bad file) or ``"skip"`` (leave bad
        files out and warn once).
    limit
        Keep only the first ``limit`` readable images (in sorted path order).
    subdir
        Use this subfolder of the source as its root.
    max_pixels
        Images with more pixels are bad files (decompression-bomb guard).
    name
        The data set's name; the path by default.
    """
    _check_options(mode=mode, size=size, resize=resize, on_error=on_error, limit=limit)
    plan = _plan(path, subdir)
    skipped = _listed_bad_files(plan, on_error)
    capacity = len(plan.names) if limit is None else min(limit, len(plan.names))
    collected = _Collected(capacity)
    for position, (relative, reference) in enumerate(zip(plan.names, plan.references, strict=True)):
        if collected.count == capacity:
            break
        display = plan.container.display(relative)
        try:
            chw, kind = _image(
                plan.container,
                relative,
                reference,
                mode=mode,
                size=size,
                resize=resize,
                max_pixels=max_pixels,
            )
        except InvalidImageError as exc:
            _bad_file(str(exc), on_error, skipped, display)
            continue
        if mode == "auto" and collected.kinds and kind not in collected.kinds:
            raise _mixed_modes_error(_count_kinds(plan, max_pixels), plan.description)
        label = None if plan.labels is None else plan.labels[position]
        collected.add(chw, label, kind, display)
    if collected.count == 0:
        raise _empty_after_skipping(plan, skipped)
    _warn_skipped(skipped, plan.description)
    images = collected.array[: collected.count]
    if collected.count < capacity:  # skipped files: do not keep the unused rows alive
        images = images.copy()
    return ImageDataset(
        torch.from_numpy(images),
        None if plan.labels is None else torch.tensor(collected.labels, dtype=torch.int64),
        plan.classes,
        name or plan.description,
    )


def _count_kinds(plan: _Plan, max_pixels: int) -> Counter:
    """Grayscale and colour counts over every readable file, from headers only (for the error)."""
    counts: Counter = Counter()
    for relative, reference in zip(plan.names, plan.references, strict=True):
        try:
            kind, _ = probe(read_member(plan.container, relative, reference), relative, max_pixels)
        except InvalidImageError:
            continue
        counts[kind] += 1
    return counts
