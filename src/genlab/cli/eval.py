"""``genlab eval``: FID, KID, IS, precision/recall, density/coverage of B against reference A."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from genlab.fileio import write_json

# Rows of the table: (result key, label, key of the ± value or None). Imported names would pull
# torch into `genlab --help`; the strings are checked against genlab.metrics.keys and
# genlab.metrics.modes in the tests.
_ROWS = (
    ("fid", "FID", None),
    ("fid_infinity", "FID∞", None),
    ("kid_mean", "KID", "kid_std"),
    ("is_mean", "IS", "is_std"),
    ("precision", "Precision", None),
    ("recall", "Recall", None),
    ("density", "Density", None),
    ("coverage", "Coverage", None),
    ("mse", "MSE", None),
    ("l2", "L2", None),
    ("psnr", "PSNR (dB)", None),
    ("modes_covered", "Modes", None),
    ("mode_kl_uniform", "Mode KL", None),
    ("mode_confidence", "Confidence", None),
)


@click.command(name="eval")
@click.argument("source_a")
@click.argument("source_b", required=False)
@click.option(
    "--metrics",
    default="fid",
    show_default=True,
    help="Comma-separated: fid, fid-inf, kid, is, pr, dc, modes, recon.",
)
@click.option(
    "--features",
    default="inception",
    show_default=True,
    help="Feature extractor: inception, classifier-mnist or pixels.",
)
@click.option(
    "--n",
    "--num-images",
    "count",
    type=int,
    # torchrun's argument parser takes "--n" for an abbreviation of its own options, so under
    # torchrun the long name is needed.
    help="Images per source (required for a run); --num-images under torchrun.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of generation/subsets.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write JSON here.")
@click.option("--ci", is_flag=True, help="Bootstrap 95% confidence intervals for FID and KID.")
@click.option("--ci-resamples", type=int, default=100, show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False), help="Where data sets live.")
@click.option("--batch-size", type=int, default=200, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="Device of the network.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the feature cache.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bars.")
@click.option(
    "--save-stats",
    type=click.Path(dir_okay=False),
    help="Write the feature statistics of SOURCE_A to this .npz (no SOURCE_B).",
)
def eval_(
    source_a: str,
    source_b: str | None,
    metrics: str,
    features: str,
    count: int | None,
    seed: int,
    json_path: str | None,
    ci: bool,
    ci_resamples: int,
    data_dir: str | None,
    batch_size: int,
    device: str,
    no_cache: bool,
    no_progress: bool,
    save_stats: str | None,
) -> None:
    """Measure images SOURCE_B against the reference SOURCE_A.

    A source is a data set split (mnist:train), an image folder, .zip or .tar, an .npz of
    images, a run folder or checkpoint (generates --n images), or a statistics .npz (FID only).

    Under torchrun (torchrun --nproc_per_node N -m genlab eval ...) the feature extraction is
    shared by the N processes; rank 0 prints and writes the results.
    """
    from genlab import distributed
    from genlab.errors import GenlabError
    from genlab.metrics import evaluate as driver

    options: dict[str, Any] = dict(
        features=features,
        n=count,
        batch_size=batch_size,
        seed=seed,
        device=device,
        cache=not no_cache,
        progress=not no_progress,
        data_dir=data_dir,
    )
    start = time.perf_counter()
    if save_stats:
        if source_b is not None:
            raise GenlabError("--save-stats takes one source; leave out SOURCE_B")
        statistics = driver.compute_statistics(source_a, **options)
        if not distributed.is_main():
            return
        statistics.save(save_stats)
        click.echo(
            f"wrote statistics of {statistics.n} images ({statistics.dim}-d "
            f"{statistics.protocol.get('extractor', features)} features) to {save_stats}"
        )
        return
    if source_b is None:
        raise GenlabError(
            "pass two sources (reference A, then B to judge), or one with --save-stats FILE"
        )
    result = driver.evaluate(
        source_a, source_b, metrics=metrics, ci=ci, ci_resamples=ci_resamples, **options
    )
    elapsed = time.perf_counter() - start
    if not distributed.is_main():
        return
    click.echo(format_table(result))
    click.echo(format_protocol(result[driver.PROTOCOL], elapsed))
    if json_path:
        write_json(Path(json_path), result)
        click.echo(f"wrote {json_path}")
    kept = keep_in_run(source_b, result)
    if kept is not None:
        click.echo(f"wrote {kept} (shown by genlab report)")


def keep_in_run(source_b: str, result: dict[str, Any]) -> Path | None:
    """Also file the result in B's run folder, when B is one, as ``evaluations/NAME.json``.

    The name says what was measured and how (extractor, metrics, N), so evaluations with other
    settings sit beside each other and the same evaluation run again replaces its file.
    """
    from genlab.metrics import evaluate as driver
    from genlab.training.run_folder import EVALUATIONS_DIR, is_run_dir

    if not is_run_dir(Path(source_b)):
        return None
    protocol = result[driver.PROTOCOL]
    features = protocol[driver.PROTOCOL_FEATURES].get("extractor", "features")
    metrics = "-".join(protocol[driver.PROTOCOL_METRICS])
    path = (
        Path(source_b)
        / EVALUATIONS_DIR
        / f"{features}-{metrics}-n{protocol[driver.PROTOCOL_N_B]}.json"
    )
    path.parent.mkdir(exist_ok=True)
    write_json(path, result)
    return path


def format_table(result: dict[str, Any]) -> str:
    """One line per metric: ``FID  12.3456``, ``KID  0.0123 ± 0.0008``, with CIs when present."""
    lines = []
    for key, label, spread in _ROWS:
        if key not in result:
            continue
        text = _number(result[key])
        if spread is not None and spread in result:
            text += f" ± {_number(result[spread])}"
        low, high = result.get(f"{key}_ci_low"), result.get(f"{key}_ci_high")
        if low is not None and high is not None:
            text += f"   95% CI [{_number(low)}, {_number(high)}]"
        lines.append(f"{label:<10} {text}")
    shown = {key for row in _ROWS for key in (row[0], row[2]) if key}
    shown |= {key for key in result if key.endswith(("_ci_low", "_ci_high"))}
    for key, value in result.items():  # anything else numeric, e.g. mode coverage
        if key not in shown and key != "protocol" and isinstance(value, int | float):
            lines.append(f"{key:<10} {_number(value)}")
    return "\n".join(lines)


def format_protocol(protocol: dict[str, Any], elapsed: float) -> str:
    """The protocol lines under the table: features, sources, counts, seed, version, time."""
    lines = ["protocol:"]
    features = protocol.get("features")
    if features:
        parts = [f"{key} {value}" for key, value in features.items() if key != "extractor"]
        lines.append(f"  features   {features.get('extractor')}: " + ", ".join(parts))
    lines.append(f"  A (ref)    {protocol['reference']}")
    source_b = protocol["source_b"].get("spec")
    n_b = protocol.get("n_b")
    lines.append(f"  B          {source_b}" + (f" ({n_b} images)" if n_b is not None else ""))
    if protocol.get("settings"):
        settings = ", ".join(f"{key} {value}" for key, value in protocol["settings"].items())
        lines.append(f"  settings   {settings}")
    lines.append(f"  seed {protocol['seed']}, genlab {protocol['genlab_version']}, {elapsed:.1f} s")
    return "\n".join(lines)


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    # Four decimals, as FIDs are usually quoted; tiny values (a KID std) keep 4 significant digits.
    return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.4g}"
