"""Whatever a user holds, as a `Source`: the one door of `genlab.evaluate` and `genlab.Metrics`.

=====================================  ============================================================
what is passed                         source
=====================================  ============================================================
a spec or path (``"mnist:test"``,      `resolve_source`: data set split, folder, archive, .npz of
folder, archive, .npz, run, .pt)       images or statistics, run folder, checkpoint
a numpy array or torch tensor          `ImagesSource` of `as_uint8_images` (uint8, or float with
                                       ``value_range``); the first ``n`` when ``n`` is given
`FeatureStatistics`                    `StatisticsSource` in memory (FID only)
an ``nn.Module``                       `GeneratorSource` of ``module(z)``, z ~ N(0, I) of its
                                       ``latent_dim`` (``n`` required)
a callable ``f(batch_size)``           `GeneratorSource` of its images (``n`` required)
a `Source`                             itself
=====================================  ============================================================
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import nn

from genlab.data.generator import GeneratorSource, module_sampler
from genlab.data.imageio import as_uint8_images
from genlab.data.sources import ImagesSource, Source
from genlab.errors import GenlabError
from genlab.metrics.sources import StatisticsSource, resolve_source
from genlab.metrics.statistics import FeatureStatistics

_FORMS = (
    "a data set spec or path (str), a numpy array or torch tensor of images, FeatureStatistics, "
    "an nn.Module generator or a callable f(batch_size) -> images"
)


def as_source(
    value: Any,
    *,
    name: str,
    n: int | None = None,
    seed: int = 0,
    value_range: tuple[float, float] | None = None,
    latent_dim: int | None = None,
    data_dir: str | os.PathLike | None = None,
) -> Source:
    """The `Source` of ``value`` (see the module docstring).

    ``name`` is the side (``"A"``, ``"B"``) or role, used in the source's spec and messages;
    ``n`` takes the first ``n`` images of a fixed set (all when None) and is the number to
    generate from a run or generator (required there); ``seed`` seeds a run's or a module's
    noise; ``value_range`` declares float images; ``latent_dim`` a module's latent size.
    """
    if isinstance(value, Source):
        return value
    if isinstance(value, str | os.PathLike):
        return resolve_source(value, n=n, seed=seed, data_dir=data_dir)
    if isinstance(value, FeatureStatistics):
        return StatisticsSource(name, statistics=value)
    if isinstance(value, torch.Tensor | np.ndarray):
        return _array_source(value, name=name, n=n, value_range=value_range)
    if isinstance(value, nn.Module):
        sampler = module_sampler(value, latent_dim=latent_dim, seed=seed)
        label = f"generator {name} ({type(value).__name__})"
        return GeneratorSource(
            label, sampler, n=_generated_count(n, label), seed=seed, value_range=value_range
        )
    if callable(value):
        label = f"sampler {name} ({getattr(value, '__name__', type(value).__name__)})"
        return GeneratorSource(label, value, n=_generated_count(n, label), value_range=value_range)
    raise GenlabError(f"{name} is a {type(value).__name__}; pass {_FORMS}")


def _array_source(
    array: torch.Tensor | np.ndarray,
    *,
    name: str,
    n: int | None,
    value_range: tuple[float, float] | None,
) -> ImagesSource:
    name = f"{'tensor' if isinstance(array, torch.Tensor) else 'array'} {name}"
    images = as_uint8_images(array, value_range=value_range, what=name)
    if n is not None:
        if n > images.shape[0]:
            raise GenlabError(
                f"{name} holds {images.shape[0]} images but n={n} were asked for; pass "
                f"n={images.shape[0]} or fewer, or more images"
            )
        images = images[:n]
    return ImagesSource(name, images)


def _generated_count(n: int | None, label: str) -> int:
    if n is None:
        raise GenlabError(f"{label} generates images: pass n, the number to generate")
    return n


__all__ = ["as_source"]
