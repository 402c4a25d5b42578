"""The metric registry: every record is served by evaluate, labels are complete, and a new metric
is one record away."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from genlab.data.imageio import write_npz
from genlab.errors import GenlabError
from genlab.metrics import keys, registry
from genlab.metrics.evaluate import PROTOCOL, evaluate, parse_metrics
from genlab.metrics.features.pixels import PixelExtractor
from genlab.metrics.features.registry import ExtractorCapabilities
from genlab.metrics.registry import HIGHER, LOWER, NEITHER, Metric, MetricInputs, Needs, ResultKey
from genlab.metrics.result import format_table
from genlab.report.figures import metric_direction, metric_label


class _PixelClassifier(PixelExtractor):
    """Pixels of the 8×8 digits plus fixed linear logits over 5 'classes': a classifier stand-in."""

    # Claims a CLIP embedding too, so that CMMD (which requires one) is in the every-metric run.
    capabilities = ExtractorCapabilities(logits=True, classes=5, clip_embedding=True)

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.randn(64, 5, generator=torch.Generator().manual_seed(0))

    def logits(self, images: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        return (images.reshape(len(images), -1).float() / 255.0) @ self.weight


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory, tiny_config):
    from genlab.training.trainer import Trainer

    out = tmp_path_factory.mktemp("runs") / "vae"
    Trainer.start(tiny_config("vae", out, steps=2, hidden=(16,), latent_dim=4)).train()
    return out


@pytest.fixture(scope="module")
def every_metric(vae_run):
    """One evaluate() of every built-in metric: the digits against a tiny VAE's samples."""
    return evaluate(
        "digits",
        str(vae_run),
        metrics=list(registry.available()),
        features=_PixelClassifier(),
        n=120,
        batch_size=64,
        cache=False,
        progress=False,
    )


@pytest.mark.filterwarnings("ignore::genlab.metrics.validation.FIDBiasWarning")  # 64-D, 120 images
def test_every_record_keys_appear_in_a_real_result(every_metric):
    numbers = {key for key, value in every_metric.items() if key != PROTOCOL}
    for metric in registry.records():
        assert set(metric.keys) <= numbers, metric.name
    declared = {key for metric in registry.records() for key in metric.keys}
    # Intervals that come with the value itself (c2st, critic-w1, memorization) bound a key
    # that is declared.
    bounds = {key for key in numbers if key.endswith((keys.CI_LOW_SUFFIX, keys.CI_HIGH_SUFFIX))}
    assert {key.rsplit("_ci_", 1)[0] for key in bounds} <= declared
    assert numbers - bounds == declared  # and nothing undeclared
    settings = every_metric.protocol["settings"]
    for metric in registry.records():
        assert set(metric.settings(registry.MetricOptions())) <= set(settings), metric.name


def test_labels_titles_and_directions_are_unique_and_complete():
    results = registry.result_keys()
    for field in ("key", "label", "title"):
        values = [getattr(result, field) for result in results]
        assert all(values), field
        assert len(values) == len(set(values)), field
    assert all(result.better in (HIGHER, LOWER, NEITHER) for result in results)
    spreads = [result.spread for result in results if result.spread]
    assert not set(spreads) & {result.key for result in results}
    for result in results:  # the report reads the same record
        assert metric_label(result.key) == result.title
        assert metric_direction(result.key) == result.direction
    assert {r.key: r.better for r in results}["fid"] == LOWER
    assert {r.key: r.table_label for r in results}["kid_mean"] == "KID ×10³"


def test_available_lists_each_metric_with_one_line():
    listed = registry.available()
    assert list(listed)[:8] == ["fid", "fid-inf", "kid", "is", "pr", "dc", "modes", "recon"]
    assert all(line and "\n" not in line for line in listed.values())


def test_unknown_names_get_did_you_mean():
    with pytest.raises(GenlabError, match=r"unknown metric 'kdi' \(did you mean 'kid'\?\)"):
        registry.get("kdi")


def test_importing_the_registry_imports_no_torch():
    code = "import sys, genlab.metrics.registry; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- Adding a metric: one record, its function, this test ---------------------------------------


def _mean_gap(inputs: MetricInputs) -> dict[str, float]:
    """‖mean(A) − mean(B)‖₂ of the features."""
    gap = inputs.a.features.double().mean(0) - inputs.b.features.double().mean(0)
    return {"mean_gap": float(gap.norm())}


_TOY = Metric(
    name="mean-gap",
    summary="distance between the feature means of A and B",
    compute=_mean_gap,
    results=(ResultKey("mean_gap", "Mean gap", "feature mean gap", LOWER),),
    needs_a=Needs(features=True),
    needs_b=Needs(features=True),
    settings=lambda options: {"mean_gap_norm": "l2"},
)


@pytest.fixture
def toy_metric():
    registry.register(_TOY)
    yield _TOY
    registry.unregister(_TOY.name)


def test_a_registered_record_is_selectable_through_evaluate(toy_metric, tmp_path):
    generator = torch.Generator().manual_seed(0)
    a = torch.randint(0, 255, (40, 1, 4, 4), generator=generator, dtype=torch.uint8)
    b = torch.randint(0, 200, (30, 1, 4, 4), generator=generator, dtype=torch.uint8)
    paths = []
    for name, images in (("a", a), ("b", b)):
        path = tmp_path / f"{name}.npz"
        write_npz(path, images)
        paths.append(str(path))
    result = evaluate(
        *paths, metrics="fid,mean-gap", features="pixels", cache=False, progress=False
    )
    expected = (a.flatten(1).double() / 255).mean(0) - (b.flatten(1).double() / 255).mean(0)
    assert result["mean_gap"] == pytest.approx(float(expected.norm()), rel=1e-6)
    assert result.protocol["metrics"] == ["fid", "mean-gap"]
    assert result.protocol["settings"] == {"mean_gap_norm": "l2"}
    assert parse_metrics("Mean-Gap") == ("mean-gap",)
    assert "Mean gap" in format_table(result)  # the CLI's table reads the record's label
    assert metric_label("mean_gap") == "feature mean gap"
    with pytest.raises(GenlabError, match="did you mean 'mean-gap'"):
        parse_metrics("mean-gp")


def test_registration_refuses_taken_names_and_keys(toy_metric):
    with pytest.raises(GenlabError, match="already registered"):
        registry.register(_TOY)
    clash = Metric(name="other", summary="x", compute=_mean_gap, results=_TOY.results)
    with pytest.raises(GenlabError, match="belong to another metric"):
        registry.register(clash)
    assert "other" not in registry.available()
