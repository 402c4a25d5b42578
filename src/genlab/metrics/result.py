"""The result of an evaluation: metric values, the protocol that makes them comparable, a table.

`EvaluationResult` is what `genlab.evaluate` and `genlab.Metrics.compute` return:

- a read-only mapping of the metric values under their result keys (``result["fid"]``,
  ``result["kid_mean"]``, ``result["kid_std"]``, ``result["fid_ci_low"]``, ...);
- ``result.protocol``: how they were measured — the extractor's protocol (name, weights SHA-256,
  resizing), both sources with their identities and image counts, the metric settings, the seed
  and the genlab version. Two numbers are comparable only when their protocols agree;
- ``str(result)``: the table ``genlab eval`` prints (KID ×10³, spreads, intervals), then the
  protocol in a few lines;
- ``result.to_json()`` / ``result.to_dict()``: the values with the protocol under ``"protocol"``,
  the layout of ``genlab eval --json`` and of a run's ``evaluations/*.json``
  (`EvaluationResult.from_dict` reads it back).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from genlab.fileio import json_text, write_json
from genlab.metrics import keys, registry

#: Key of the protocol in `EvaluationResult.to_dict` (and in the JSON files).
PROTOCOL = "protocol"


class EvaluationResult(Mapping[str, Any]):
    """Metric values (a mapping), their ``protocol``, and the seconds the evaluation took."""

    def __init__(
        self,
        values: Mapping[str, Any],
        protocol: Mapping[str, Any],
        *,
        seconds: float | None = None,
    ) -> None:
        self._values = dict(values)
        self.protocol: dict[str, Any] = dict(protocol)
        self.seconds = seconds

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationResult:
        """The result of a `to_dict` layout (``genlab eval --json``, ``evaluations/*.json``)."""
        values = {key: value for key, value in data.items() if key != PROTOCOL}
        return cls(values, data.get(PROTOCOL) or {})

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def to_dict(self) -> dict[str, Any]:
        """The values with the protocol under ``"protocol"`` (JSON-serialisable)."""
        return {**self._values, PROTOCOL: self.protocol}

    def to_json(self) -> str:
        """`to_dict` as indented JSON text."""
        return json_text(self.to_dict())

    def save(self, path: str | os.PathLike) -> None:
        """Write `to_json` to ``path`` atomically."""
        write_json(path, self.to_dict())

    def table(self) -> str:
        """One line per metric: ``FID  12.3456``, ``KID ×10³  2.71 ± 0.35``, with intervals."""
        return format_table(self._values, self.protocol)

    def __str__(self) -> str:
        return f"{self.table()}\n{format_protocol(self.protocol, self.seconds)}"

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{key}={_number(value)}" for key, value in self.items() if _numeric(value)
        )
        return f"EvaluationResult({shown})"


def format_table(values: Mapping[str, Any], protocol: Mapping[str, Any] | None = None) -> str:
    """The table of `EvaluationResult.table`; rows and labels come from the metric registry.

    Labels are padded to the longest shown (at least 10 characters), so values line up when a
    feature space lengthens a name (``FD_classifier-digits``).
    """
    cells = []
    rows = _rows_in_space(protocol or {})
    for row in rows:
        key, spread = row.key, row.spread
        if key not in values:
            continue
        scale = row.scale
        show = _number if scale == 1 else (lambda value, s=scale: _scaled(value * s))
        text = show(values[key])
        if spread is not None and spread in values:
            note = _no_spread(key, protocol or {})
            text += f"   ({note})" if note else f" ± {show(values[spread])}"
        low = values.get(key + keys.CI_LOW_SUFFIX)
        high = values.get(key + keys.CI_HIGH_SUFFIX)
        if low is not None and high is not None:
            text += f"   95% CI [{show(low)}, {show(high)}]"
        cells.append((row.table_label, text))
    shown = {key for row in rows for key in (row.key, row.spread) if key}
    shown |= {key for key in values if key.endswith((keys.CI_LOW_SUFFIX, keys.CI_HIGH_SUFFIX))}
    for key, value in values.items():  # anything else numeric a metric returns
        if key not in shown and key != PROTOCOL and _numeric(value):
            cells.append((key, _number(value)))
    width = max([10, *(len(label) for label, _ in cells)])
    return "\n".join(f"{label:<{width}} {text}" for label, text in cells)


def _rows_in_space(protocol: Mapping[str, Any]) -> tuple[registry.ResultKey, ...]:
    """The registry's rows, FID named by the protocol's feature space (``FD_dinov2-vit-l14`` on
    DINOv2 features; `registry.in_space`)."""
    features = protocol.get("features")
    extractor = features.get("extractor") if isinstance(features, Mapping) else None
    return tuple(registry.in_space(row, extractor) for row in registry.result_keys())


def format_protocol(protocol: Mapping[str, Any], seconds: float | None = None) -> str:
    """The protocol lines under the table: features, sources, counts, settings, seed, version."""
    lines = ["protocol:"]
    features = protocol.get("features")
    if features:
        parts = [f"{key} {value}" for key, value in features.items() if key != "extractor"]
        lines.append(f"  features   {features.get('extractor')}: " + ", ".join(parts))
    lines.append(f"  A (ref)    {protocol.get('reference')}")
    source_b = (protocol.get("source_b") or {}).get("spec")
    n_b = protocol.get("n_b")
    lines.append(f"  B          {source_b}" + (f" ({n_b} images)" if n_b is not None else ""))
    if protocol.get("settings"):
        settings = ", ".join(f"{key} {value}" for key, value in protocol["settings"].items())
        lines.append(f"  settings   {settings}")
    tail = f"  seed {protocol.get('seed')}, genlab {protocol.get('genlab_version')}"
    lines.append(tail + (f", {seconds:.1f} s" if seconds is not None else ""))
    return "\n".join(lines)


def _no_spread(key: str, protocol: Mapping[str, Any]) -> str | None:
    """Why KID's ± would be meaningless here, or None.

    With one subset, or subsets as large as both sources (every subset is then all images of A
    and of B), every subset gives the same value and the spread is rounding noise (± 3e-16).
    """
    if key != keys.KID_MEAN:
        return None
    settings = protocol.get("settings") or {}
    size, subsets = settings.get("kid_subset_size"), settings.get("kid_subsets")
    if subsets == 1:
        return "spread not meaningful: 1 subset"
    if size is not None and size == protocol.get("n_a") == protocol.get("n_b"):
        return (
            f"spread not meaningful: every subset is all {size} images of A and B; "
            "a smaller --kid-subset-size gives one"
        )
    return None


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    # Four decimals, as FIDs are usually quoted; tiny values (a KID std) keep 4 significant digits.
    return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.4g}"


def _scaled(value: float) -> str:
    # Two decimals, as KID ×10³ is quoted; smaller values keep two significant digits.
    return f"{value:.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:.2g}"


__all__ = ["PROTOCOL", "EvaluationResult", "format_protocol", "format_table"]
