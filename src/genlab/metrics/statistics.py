"""Feature statistics (mean and covariance), streamed in float64 and stored with a checksum.

FID compares two Gaussians fitted to feature sets, so everything it needs from N feature vectors
x_1..x_N ∈ R^d is their mean and unbiased covariance

    μ = (1/N) Σ_i x_i,        Σ = 1/(N−1) Σ_i (x_i − μ)(x_i − μ)ᵀ        (numpy.cov, ddof=1).

`RunningStatistics` accumulates these from batches with O(d²) memory, whatever N is, and two
accumulators (for example from two processes) merge exactly. `FeatureStatistics` is the result;
it saves to a small .npz that carries a SHA-256 of its own content so a truncated or edited file
is refused instead of silently giving a wrong FID.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab import distributed
from genlab.arrays import check_integer
from genlab.errors import ChecksumError, GenlabError
from genlab.fileio import atomic_write_bytes
from genlab.metrics.validation import ArrayLike, as_feature_tensor, check_same_dim

#: Tag hashed with the content; bump it if the file layout changes so old files are refused.
_FORMAT = "genlab-feature-statistics-v1"

#: Rows converted to float64 at a time, so a 50 000 × 2048 float32 set never needs a float64 copy.
_CHUNK_ROWS = 4096


@dataclass(frozen=True, eq=False)
class FeatureStatistics:
    """Mean and unbiased covariance of N feature vectors, and how those features were made.

    Attributes
    ----------
    mu : numpy.ndarray
        float64 mean, shape (d,).
    sigma : numpy.ndarray
        float64 covariance with ddof=1, shape (d, d), symmetric.
    n : int or None
        Number of samples the statistics were computed from; None when unknown (statistics from
        an external file, which store only ``mu`` and ``sigma``).
    protocol : dict
        JSON-serialisable description of the feature extraction (extractor name, weights hash,
        resize mode, ...). Statistics are only comparable when their protocols agree.
    """

    mu: np.ndarray
    sigma: np.ndarray
    n: int | None
    protocol: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        mu = np.asarray(_to_numpy(self.mu), dtype=np.float64)
        sigma = np.asarray(_to_numpy(self.sigma), dtype=np.float64)
        if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
            raise GenlabError(
                f"statistics need mu of shape (d,) and sigma of shape (d, d), got "
                f"{mu.shape} and {sigma.shape}; compute them from features of shape (N, d)"
            )
        if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
            raise GenlabError(
                "statistics hold NaN or inf values; recompute them from finite features"
            )
        if self.n is not None and (isinstance(self.n, bool) or int(self.n) != self.n or self.n < 1):
            raise GenlabError(
                f"statistics need a positive sample count n (or None: unknown), got {self.n!r}"
            )
        _protocol_json(self.protocol)  # fail now, not at save time, if it is not JSON-serialisable
        object.__setattr__(self, "mu", mu)
        object.__setattr__(self, "sigma", sigma)
        object.__setattr__(self, "n", None if self.n is None else int(self.n))
        object.__setattr__(self, "protocol", dict(self.protocol))

    @property
    def dim(self) -> int:
        """Feature dimension d."""
        return int(self.mu.shape[0])

    def digest(self) -> str:
        """SHA-256 of the content (mean, covariance, n, protocol): an in-memory identity."""
        return _content_digest(self.mu, self.sigma, self.n, self.protocol)

    def with_protocol(self, protocol: dict[str, Any]) -> FeatureStatistics:
        """The same statistics recorded as made by ``protocol`` (an external file's, asserted)."""
        return FeatureStatistics(mu=self.mu, sigma=self.sigma, n=self.n, protocol=protocol)

    def save(self, path: str | os.PathLike) -> None:
        """Write the statistics to an .npz file atomically, with a SHA-256 of the content inside.

        The arrays are stored as plain float64 (no pickling) and the protocol as a JSON string.
        """
        if self.n is None:
            raise GenlabError(
                "these statistics come from an external file and have no sample count; use that "
                "file itself, or compute genlab statistics from the images"
            )
        arrays = {
            "format": np.array(_FORMAT),
            "mu": self.mu,
            "sigma": self.sigma,
            "n": np.array(self.n, dtype=np.int64),
            "protocol": np.array(_protocol_json(self.protocol)),
            "sha256": np.array(_content_digest(self.mu, self.sigma, self.n, self.protocol)),
        }
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike) -> FeatureStatistics:
        """Read statistics written by `save`, verifying the stored SHA-256.

        Raises
        ------
        GenlabError
            If the file is missing, is not a statistics file or is truncated.
        ChecksumError
            If the content does not match the checksum stored with it (the file was altered).
        """
        path = Path(path)
        if not path.is_file():
            raise GenlabError(f"{path}: no such statistics file; compute the statistics first")
        try:
            with np.load(path, allow_pickle=False) as archive:
                fields = {key: archive[key] for key in archive.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise GenlabError(
                f"{path}: not a readable statistics file ({exc}); delete it and recompute"
            ) from None
        return cls._from_fields(fields, path)

    @classmethod
    def load_external(cls, path: str | os.PathLike) -> FeatureStatistics:
        """Read an external ``mu``/``sigma`` .npz (pytorch-fid, TTUR, clean-fid), without n.

        Such files record neither the sample count nor how the features were made, so the
        protocol is empty: whoever uses them asserts it (`genlab.metrics.sources`).
        """
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as archive:
                mu, sigma = archive["mu"], archive["sigma"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise GenlabError(
                f"{path}: not a readable mu/sigma statistics file ({exc}); check the file"
            ) from None
        for name, array in (("mu", mu), ("sigma", sigma)):
            if array.dtype.kind != "f":
                raise GenlabError(f"{path}: {name} is {array.dtype}, not floating point")
        return cls(mu=mu, sigma=sigma, n=None)

    @classmethod
    def _from_fields(cls, fields: dict[str, np.ndarray], path: Path) -> FeatureStatistics:
        missing = {"format", "mu", "sigma", "n", "protocol", "sha256"} - fields.keys()
        if missing and is_external_statistics(fields):
            raise GenlabError(
                f"{path}: holds only mu and sigma (a pytorch-fid/clean-fid statistics file), not "
                "genlab statistics; read it with FeatureStatistics.load_external"
            )
        if missing:
            raise GenlabError(
                f"{path}: not a genlab statistics file (missing {sorted(missing)}); recompute it"
            )
        if str(fields["format"]) != _FORMAT:
            raise GenlabError(
                f"{path}: statistics format {str(fields['format'])!r} is not {_FORMAT!r}; "
                "recompute the statistics with this version of genlab"
            )
        try:
            protocol = json.loads(str(fields["protocol"]))
        except json.JSONDecodeError:
            raise ChecksumError(
                f"{path}: corrupt protocol field; delete it and recompute"
            ) from None
        mu = fields["mu"].astype(np.float64, copy=False)
        sigma = fields["sigma"].astype(np.float64, copy=False)
        n = int(fields["n"])
        if str(fields["sha256"]) != _content_digest(mu, sigma, n, protocol):
            raise ChecksumError(
                f"{path}: content does not match its stored SHA-256 (altered or corrupt); "
                "delete it and recompute the statistics"
            )
        return cls(mu=mu, sigma=sigma, n=n, protocol=protocol)


class RunningStatistics:
    """Streaming mean and covariance of feature batches in float64 with O(d²) memory.

    Each batch B with n_B rows contributes its own mean μ_B and centred scatter matrix
    M_B = Σ_{x∈B} (x − μ_B)(x − μ_B)ᵀ; two partial results (n_a, μ_a, M_a) and (n_b, μ_b, M_b)
    combine exactly by the pairwise update of Chan, Golub & LeVeque (1979):

        n = n_a + n_b,   δ = μ_b − μ_a,   μ = μ_a + δ n_b / n,
        M = M_a + M_b + δ δᵀ n_a n_b / n,

    and the covariance is M / (n − 1). This is chosen over accumulating Σx and Σxxᵀ because that
    shortcut computes the covariance as a difference of two large numbers, E[xxᵀ] − μμᵀ, which
    loses about log10(|μ|²/var) digits: features with a large common offset (Inception features are
    non-negative with a sizeable mean) would lose precision. Here every product is of centred
    values. The cost per batch is the same d×d matrix product, and `merge` uses the same formula,
    so statistics gathered from several processes equal those of one pass over all the data.

    Parameters
    ----------
    dim : int
        Feature dimension d.
    protocol : dict, optional
        Passed on to the `FeatureStatistics` made by `finalize`.
    """

    def __init__(self, dim: int, *, protocol: dict[str, Any] | None = None) -> None:
        check_integer(dim, "dim")
        self.dim = dim
        self.protocol = dict(protocol or {})
        _protocol_json(self.protocol)
        self.n = 0
        self._mean: torch.Tensor | None = None
        self._scatter: torch.Tensor | None = None

    def update(self, batch: ArrayLike) -> RunningStatistics:
        """Add a batch of features of shape (n_B, d) (NumPy or torch, any device); returns self."""
        features = as_feature_tensor(batch, what="batch", min_samples=0)
        check_same_dim(features.shape[1], self.dim, what_a="batch", what_b="RunningStatistics")
        for start in range(0, features.shape[0], _CHUNK_ROWS):
            chunk = features[start : start + _CHUNK_ROWS].to(torch.float64)
            mean = chunk.mean(dim=0)
            centred = chunk - mean
            self._combine(chunk.shape[0], mean, centred.T @ centred)
        return self

    def merge(self, other: RunningStatistics) -> RunningStatistics:
        """Add everything ``other`` accumulated (for example on another process); returns self."""
        if not isinstance(other, RunningStatistics):
            raise GenlabError(
                f"can only merge another RunningStatistics, got {type(other).__name__}"
            )
        check_same_dim(other.dim, self.dim, what_a="merged statistics", what_b="RunningStatistics")
        if other._mean is not None and other._scatter is not None:
            device = self._mean.device if self._mean is not None else other._mean.device
            self._combine(other.n, other._mean.to(device), other._scatter.to(device))
        return self

    @classmethod
    def across_processes(cls, own: RunningStatistics | None, *, dim: int) -> RunningStatistics:
        """Every process's accumulation (``own``; None for nothing) merged in rank order.

        The same on every process; ``own`` itself (or an empty accumulator) without torchrun.
        Each process's (n, μ, M) travel as tensors and combine by the pairwise update, so the
        result equals one pass over the processes' features in rank order up to rounding.
        """
        merged = cls(dim, protocol=None if own is None else own.protocol)
        if not distributed.active():
            return merged.merge(own) if own is not None else merged
        counts = distributed.all_gather_objects(0 if own is None else own.n)
        have = own is not None and own.n > 0
        means = distributed.all_gather_rows(own._mean[None] if have else None)
        scatters = distributed.all_gather_rows(own._scatter if have else None)
        for count, mean, scatter in zip(counts, means, scatters, strict=True):
            if count:
                merged._combine(count, mean[0], scatter)
        return merged

    def finalize(self) -> FeatureStatistics:
        """Return the mean and unbiased covariance (ddof=1, as numpy.cov) of everything seen."""
        if self.n < 2 or self._mean is None or self._scatter is None:
            raise GenlabError(
                f"a covariance needs at least 2 samples, got {self.n}; feed more features"
            )
        sigma = self._scatter / (self.n - 1)
        # The matrix products are symmetric in exact arithmetic; remove round-off asymmetry so the
        # symmetric eigensolvers downstream see an exactly symmetric matrix.
        sigma = (sigma + sigma.T) / 2
        return FeatureStatistics(
            mu=self._mean.cpu().numpy(),
            sigma=sigma.cpu().numpy(),
            n=self.n,
            protocol=self.protocol,
        )

    def _combine(self, n_b: int, mean_b: torch.Tensor, scatter_b: torch.Tensor) -> None:
        if n_b == 0:
            return
        if self._mean is None or self._scatter is None:
            self.n, self._mean, self._scatter = n_b, mean_b.clone(), scatter_b.clone()
            return
        n_a = self.n
        n = n_a + n_b
        delta = mean_b - self._mean
        self._mean = self._mean + delta * (n_b / n)
        self._scatter = self._scatter + scatter_b + torch.outer(delta, delta) * (n_a * n_b / n)
        self.n = n


def is_external_statistics(fields: Any) -> bool:
    """Whether an .npz's field names are an external file's: ``mu`` and ``sigma``, no format."""
    return {"mu", "sigma"} <= set(fields) and "format" not in fields


def statistics_from_features(
    features: ArrayLike, *, protocol: dict[str, Any] | None = None
) -> FeatureStatistics:
    """Mean and unbiased covariance (float64) of features of shape (N, d), N ≥ 2.

    Equivalent to ``numpy.mean(x, axis=0)`` and ``numpy.cov(x, rowvar=False)`` but computed in
    chunks, so float32 input is never copied whole to float64.
    """
    tensor = as_feature_tensor(features, min_samples=2)
    return RunningStatistics(tensor.shape[1], protocol=protocol).update(tensor).finalize()


def _to_numpy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return value


def _protocol_json(protocol: dict[str, Any]) -> str:
    if not isinstance(protocol, dict):
        raise GenlabError(f"protocol must be a dict, got {type(protocol).__name__}")
    try:
        return json.dumps(protocol, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise GenlabError(
            f"protocol must be JSON-serialisable (strings, numbers, lists, dicts): {exc}"
        ) from None


def _content_digest(
    mu: np.ndarray, sigma: np.ndarray, n: int | None, protocol: dict[str, Any]
) -> str:
    """SHA-256 over every field, each length-prefixed so no two contents hash the same bytes."""
    parts = [
        _FORMAT.encode(),
        np.ascontiguousarray(mu, dtype="<f8").tobytes(),
        np.ascontiguousarray(sigma, dtype="<f8").tobytes(),
        (-1 if n is None else int(n)).to_bytes(8, "little", signed=True),
        _protocol_json(protocol).encode(),
    ]
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()
