"""``genlab eval``: FID, KID, IS, precision/recall, density/coverage of B against reference A.

Options are checked here, at the command's edge, before any image is read: each bad value is a
one-line `GenlabError` naming the flag and the fix. The library (`genlab.metrics.evaluate`) keeps
its own checks, phrased for Python callers, for whatever needs the sources (counts, statistics).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, NoReturn

import click
from click.core import ParameterSource

from genlab.errors import GenlabError
from genlab.metrics import registry

#: The ``--json`` value that writes the JSON to standard output.
STDOUT = "-"
_ALL = "all"  # genlab.metrics.evaluate.ALL, spelt here to keep torch out of `genlab --help`
# seed + 1 seeds a reference run, and torch's generators take at most 2**64 - 1; 2**63 - 2 also
# keeps both within a signed 64-bit integer.
_MAX_SEED = 2**63 - 2


class _Count(click.ParamType):
    """An integer of at least ``minimum`` (or ``all``, where allowed).

    A bad value raises a one-line `GenlabError` with the flag and ``hint`` (how to fix it),
    instead of click's usage block.
    """

    name = "integer"

    def __init__(
        self,
        minimum: int,
        hint: str,
        *,
        maximum: tuple[int, str] | None = None,
        allow_all: bool = False,
    ) -> None:
        self.minimum, self.hint, self.allow_all = minimum, hint, allow_all
        # (value, how the message writes it): 2**63 - 2 reads better than its 19 digits.
        self.maximum, self.maximum_text = maximum or (None, None)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = value  # a default arrives as an int
        if isinstance(value, str):
            if self.allow_all and value.strip().lower() == _ALL:
                return _ALL
            try:
                number = int(value.strip())
            except ValueError:
                self._fail(param, repr(value))
        if number < self.minimum or (self.maximum is not None and number > self.maximum):
            self._fail(param, number)
        return number

    def _fail(self, param: click.Parameter | None, shown: Any) -> NoReturn:
        flag = param.opts[0] if param is not None and param.opts else "the value"
        if self.maximum is None:
            rule = f"an integer of at least {self.minimum}"
        else:
            rule = f"an integer from {self.minimum} to {self.maximum_text}"
        if self.allow_all:
            rule += f" or {_ALL!r}"
        raise GenlabError(f"{flag} must be {rule}, got {shown}; {self.hint}")


@click.command(name="eval")
@click.argument("source_a")
@click.argument("source_b", required=False)
@click.option(
    "--metrics",
    default="fid",
    show_default=True,
    help=f"Comma-separated: {', '.join(registry.available())}.",
)
@click.option(
    "--features",
    default=None,
    show_default="inception, or the extractor of a statistics file given as a source",
    help="Feature extractor: inception, dinov2-vit-s14/-b14/-l14/-g14, clip-vit-b32, "
    "clip-vit-l14-336, classifier-mnist or pixels. FID on other features than Inception's is "
    "shown as FD_<features>.",
)
@click.option(
    "--resize",
    type=click.Choice(["legacy", "clean"]),
    default=None,
    show_default="legacy",
    help="Inception's resize to 299×299: legacy (TF1 bilinear, as published FIDs) or clean "
    "(clean-fid's PIL bicubic with antialiasing); recorded in the protocol.",
)
@click.option(
    "--n",
    "--num-images",
    "count",
    type=_Count(1, "pass how many images to use per source, or leave --n out for all"),
    show_default="all images",
    # torchrun's argument parser takes "--n" for an abbreviation of its own options, so under
    # torchrun the long name is needed.
    help="Images per source (required for a run); --num-images under torchrun.",
)
@click.option(
    "--heldout",
    metavar="SOURCE",
    show_default="none",
    help="Real images the model never saw (a data set split, folder, .npz, ...), for "
    "memorization: its threshold then comes from their distances to SOURCE_A, the training "
    "images, instead of leave-one-out distances within A.",
)
@click.option(
    "--n-ref",
    "n_ref",
    type=_Count(1, "pass how many reference images to use, or 'all'", allow_all=True),
    metavar="N|all",
    show_default="same as --n",
    help="Images taken from SOURCE_A, the reference, or 'all' (e.g. --n 50000 --n-ref all: "
    "50k generated images against the whole training set).",
)
@click.option(
    "--seed",
    type=_Count(0, "pass another seed", maximum=(_MAX_SEED, "2**63 - 2")),
    default=0,
    show_default=True,
    help="Seed of the generated images (B; A, if a run, uses seed + 1), KID subsets, FID∞ "
    "subsets and bootstrap resamples.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, allow_dash=True),
    show_default="none",
    help="Also write the result as JSON to this file. '-' writes the JSON to standard output "
    "and the table to standard error, so standard output is pure JSON.",
)
@click.option(
    "--ci",
    is_flag=True,
    show_default="off",
    help="Bootstrap 95% confidence intervals for FID and KID.",
)
@click.option(
    "--ci-resamples",
    type=_Count(2, "pass the number of bootstrap resamples, e.g. 100"),
    default=100,
    show_default=True,
    help="Bootstrap resamples of --ci.",
)
@click.option(
    "--kid-subsets",
    type=_Count(1, "pass the number of KID subsets, e.g. 100"),
    default=100,
    show_default=True,
    help="KID: random subsets averaged (their spread is the ± value).",
)
@click.option(
    "--kid-subset-size",
    type=_Count(2, "an unbiased MMD needs 2 images per subset or more; the usual size is 1000"),
    show_default="1000, or the smaller source's image count when less",
    help="KID: images drawn from each source per subset.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    show_default="$GENLAB_DATA_DIR, else the user cache",
    help="Where data sets live.",
)
@click.option(
    "--batch-size",
    type=_Count(1, "pass the images per batch, e.g. 200"),
    default=200,
    show_default=True,
    help="Images read and handed to the feature extractor at once.",
)
@click.option("--device", default="cpu", show_default=True, help="Device of the network.")
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16"]),
    default="fp32",
    show_default=True,
    help="Inception arithmetic: fp32 (the reference FID protocol), or bf16 autocast: faster "
    "with bf16 hardware, FID moves by a few tenths of a percent; recorded in the protocol, "
    "never mixed with fp32 statistics.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    show_default="the cache is read and written",
    help="Neither read nor write the feature cache.",
)
@click.option(
    "--no-progress",
    is_flag=True,
    show_default="bars shown",
    help="Hide the progress bars.",
)
@click.option(
    "--save-stats",
    type=click.Path(dir_okay=False),
    show_default="none",
    help="Write the feature statistics of SOURCE_A to this .npz (no SOURCE_B).",
)
@click.pass_context
def eval_(
    ctx: click.Context,
    source_a: str,
    source_b: str | None,
    metrics: str,
    features: str | None,
    resize: str | None,
    count: int | None,
    heldout: str | None,
    n_ref: int | str | None,
    seed: int,
    json_path: str | None,
    ci: bool,
    ci_resamples: int,
    kid_subsets: int,
    kid_subset_size: int | None,
    data_dir: str | None,
    batch_size: int,
    device: str,
    precision: str,
    no_cache: bool,
    no_progress: bool,
    save_stats: str | None,
) -> None:
    """Measure images SOURCE_B against the reference SOURCE_A.

    A source is a data set split (mnist:train), an image folder, .zip or .tar, an .npz of
    images, a run folder or checkpoint (generates --n images), or a statistics .npz (FID only;
    --features then follows the extractor that made it; an external mu/sigma .npz from
    pytorch-fid or clean-fid needs --features naming the features that made it).

    KID is shown ×10³, as usually quoted; the JSON keeps raw values.

    Under torchrun (torchrun --nproc_per_node N -m genlab eval ...) the feature extraction is
    shared by the N processes; rank 0 prints and writes the results.
    """
    from genlab import distributed
    from genlab.metrics import evaluate as driver
    from genlab.metrics.features.registry import check_extractor_name
    from genlab.runs import is_run_dir, write_evaluation

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE

    try:
        chosen = driver.parse_metrics(metrics)
    except GenlabError as exc:
        raise GenlabError(f"--metrics {metrics}: {exc}") from None
    if features is not None:
        try:
            check_extractor_name(features)
        except GenlabError as exc:
            raise GenlabError(f"--features {features}: {exc}") from None
    if save_stats:
        _check_save_stats_options(source_b, [name for name in _NOT_FOR_SAVE_STATS if given(name)])
    else:
        unused = [f"--{name.replace('_', '-')}" for name in _KID_OPTIONS if given(name)]
        if unused and driver.KID not in chosen:
            raise GenlabError(
                f"{' and '.join(unused)} set{'s' if len(unused) == 1 else ''} how KID is "
                f"computed, but --metrics {metrics} has no kid; add kid to --metrics or leave "
                f"{'it' if len(unused) == 1 else 'them'} out"
            )
    for flag, path in (("--json", json_path), ("--save-stats", save_stats)):
        if path and path != STDOUT and not Path(path).parent.is_dir():
            raise GenlabError(
                f"{flag} {path}: the folder {Path(path).parent} does not exist; create it first"
            )

    options: dict[str, Any] = dict(
        features=features,
        extractor_options=_extractor_options(features, resize, precision),
        batch_size=batch_size,
        seed=seed,
        device=device,
        cache=not no_cache,
        progress=not no_progress,
        data_dir=data_dir,
    )
    start = time.perf_counter()
    if save_stats:
        n_a = None if n_ref == _ALL else (n_ref or count)
        statistics = driver.compute_statistics(source_a, n=n_a, **options)
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
        source_a,
        source_b,
        metrics=chosen,
        n=count,
        n_ref=n_ref,
        heldout=heldout,
        ci=ci,
        ci_resamples=ci_resamples,
        kid_subsets=kid_subsets,
        kid_subset_size=kid_subset_size,
        **options,
    )
    elapsed = time.perf_counter() - start
    if not distributed.is_main():
        return
    # With --json -, standard output carries the JSON alone; what people read goes to stderr.
    to_stdout = json_path == STDOUT
    result.seconds = elapsed  # from the command's start: what the user waited
    click.echo(str(result), err=to_stdout)
    if to_stdout:
        click.echo(result.to_json(), nl=False)
    elif json_path:
        result.save(Path(json_path))
        click.echo(f"wrote {json_path}")
    # B's run folder, when B is one, keeps the result too, for genlab report.
    if is_run_dir(Path(source_b)):
        kept = write_evaluation(Path(source_b), result)
        click.echo(f"wrote {kept} (shown by genlab report)", err=to_stdout)


def _extractor_options(
    features: str | None, resize: str | None, precision: str
) -> dict[str, Any] | None:
    """``--resize`` and ``--precision`` as the Inception extractor's options; refused for other
    extractors, which resize and compute as their references do."""
    options: dict[str, Any] = {}
    if resize is not None:
        options["resize"] = resize
    if precision != "fp32":
        options["precision"] = precision
    if options and features not in (None, "inception"):
        flags = " and ".join(f"--{name} {value}" for name, value in options.items())
        one = len(options) == 1
        raise GenlabError(
            f"{flags} set{'s' if one else ''} how the inception network runs; --features "
            f"{features} has no such setting, so leave {'it' if one else 'them'} out"
        )
    return options or None


_KID_OPTIONS = ("kid_subsets", "kid_subset_size")
# Options that only shape a comparison of two sources; --save-stats refuses them.
_NOT_FOR_SAVE_STATS = ("metrics", "json_path", "ci", "ci_resamples", "heldout", *_KID_OPTIONS)
_FLAGS = {"json_path": "--json"}


def _check_save_stats_options(source_b: str | None, given: list[str]) -> None:
    if source_b is not None:
        raise GenlabError("--save-stats takes one source; leave out SOURCE_B")
    if given:
        flags = ", ".join(_FLAGS.get(name, f"--{name.replace('_', '-')}") for name in given)
        raise GenlabError(
            f"--save-stats writes the statistics of SOURCE_A and measures nothing; leave out "
            f"{flags} (and use the statistics file as SOURCE_A of a later genlab eval)"
        )
