"""`genlab.evaluate` on whatever a user holds: the same images in any form give the same numbers,
and bad input gets one clear error."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import genlab
import genlab.metrics
from genlab.data.imageio import write_image_folder, write_npz
from genlab.data.sources import load_dataset
from genlab.errors import GenlabError
from genlab.metrics.evaluate import compute_statistics
from genlab.metrics.result import EvaluationResult
from genlab.metrics.sources import EXTERNAL_ORIGIN, ExternalStatisticsWarning
from genlab.metrics.statistics import FeatureStatistics

METRICS = "fid,kid,pr,dc"
COMMON = dict(features="pixels", cache=False, progress=False, kid_subset_size=50)


@pytest.fixture(scope="module")
def digits():
    """Two disjoint sets of 200 real 8×8 digits: a reference and images to judge."""
    images = load_dataset("digits").images
    return images[:200], images[200:400]


def _values(result: EvaluationResult) -> dict:
    return dict(result)


def test_array_folder_and_npz_of_the_same_images_give_the_same_numbers(digits, tmp_path):
    reference, judged = digits
    write_image_folder(tmp_path / "folder", judged)
    write_npz(tmp_path / "judged.npz", judged)
    from_tensor = genlab.evaluate(reference, judged, metrics=METRICS, **COMMON)
    from_numpy = genlab.evaluate(reference.numpy(), judged.numpy(), metrics=METRICS, **COMMON)
    from_folder = genlab.evaluate(reference, tmp_path / "folder", metrics=METRICS, **COMMON)
    from_npz = genlab.evaluate(reference, str(tmp_path / "judged.npz"), metrics=METRICS, **COMMON)
    assert _values(from_tensor) == _values(from_numpy) == _values(from_folder) == _values(from_npz)
    assert from_tensor["fid"] > 0


@pytest.mark.parametrize(
    ("value_range", "to_float"),
    [((0, 1), lambda u: u.float() / 255), ((-1, 1), lambda u: u.float() / 127.5 - 1)],
)
def test_float_images_in_each_range_equal_their_uint8_form(digits, value_range, to_float):
    reference, judged = digits
    as_uint8 = genlab.evaluate(reference, judged, metrics=METRICS, **COMMON)
    as_float = genlab.evaluate(
        to_float(reference), to_float(judged), metrics=METRICS, value_range=value_range, **COMMON
    )
    assert _values(as_float) == _values(as_uint8)


def test_channels_last_and_grey_layouts_equal_channels_first(digits):
    reference, judged = digits
    first = genlab.evaluate(reference, judged, **COMMON)
    last = genlab.evaluate(reference.permute(0, 2, 3, 1), judged.permute(0, 2, 3, 1), **COMMON)
    grey = genlab.evaluate(reference[:, 0].numpy(), judged[:, 0].numpy(), **COMMON)
    assert first["fid"] == last["fid"] == grey["fid"]


def test_n_takes_the_first_images_of_an_array(digits):
    reference, judged = digits
    first = genlab.evaluate(reference, judged, n=120, **COMMON)
    cut = genlab.evaluate(reference[:120], judged[:120], **COMMON)
    assert first["fid"] == cut["fid"]
    assert first.protocol["n_a"] == first.protocol["n_b"] == 120


class _Decoder(nn.Module):
    """A fixed linear map from 6 latents to 8×8 images in [-1, 1] (a stand-in generator)."""

    latent_dim = 6

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 64)
        torch.nn.init.normal_(self.linear.weight, generator=torch.Generator().manual_seed(1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(z)).view(-1, 1, 8, 8)


def test_a_module_generator_equals_its_images_drawn_by_hand(digits):
    reference, _ = digits
    module = _Decoder()
    z = torch.randn(150, 6, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        by_hand = module(z)
    generated = genlab.evaluate(
        reference, module, n=150, n_ref="all", seed=7, value_range=(-1, 1), **COMMON
    )
    drawn = genlab.evaluate(reference, by_hand, value_range=(-1, 1), **COMMON)
    assert generated["fid"] == drawn["fid"]
    assert generated.protocol["source_b"]["kind"] == "generator"


def test_a_callable_sampler_gives_its_batches_in_order(digits):
    reference, judged = digits
    handed = iter(judged.split(64))
    asked = []

    def sample(batch_size: int) -> torch.Tensor:
        asked.append(batch_size)
        return next(handed)[:batch_size]

    result = genlab.evaluate(reference, sample, n=200, batch_size=64, **COMMON)
    assert asked == [64, 64, 64, 8]
    handed_whole = genlab.evaluate(reference, judged, batch_size=64, **COMMON)
    assert result["fid"] == handed_whole["fid"]


def test_statistics_in_memory_and_on_disk_give_the_same_fid(digits, tmp_path):
    reference, judged = digits
    statistics = compute_statistics(reference, features="pixels", cache=False, progress=False)
    statistics.save(tmp_path / "ref.npz")
    in_memory = genlab.evaluate(statistics, judged, features="pixels", progress=False, cache=False)
    on_disk = genlab.evaluate(tmp_path / "ref.npz", judged, progress=False, cache=False)
    from_images = genlab.evaluate(reference, judged, **COMMON)
    assert in_memory["fid"] == on_disk["fid"] == from_images["fid"]


# --- external mu/sigma statistics ---------------------------------------------------------------


@pytest.fixture
def external_file(digits, tmp_path):
    """The reference's pixel statistics as pytorch-fid writes them: mu and sigma only."""
    statistics = compute_statistics(digits[0], features="pixels", cache=False, progress=False)
    path = tmp_path / "fid_stats.npz"
    np.savez(path, mu=statistics.mu, sigma=statistics.sigma)
    statistics.save(tmp_path / "genlab_stats.npz")
    return path, tmp_path / "genlab_stats.npz"


def test_an_external_mu_sigma_file_gives_genlabs_fid_under_the_asserted_protocol(
    digits, external_file
):
    external, own = external_file
    with pytest.warns(ExternalStatisticsWarning, match="on trust"):
        result = genlab.evaluate(external, digits[1], features="pixels", **_no_cache())
    reference = genlab.evaluate(own, digits[1], **_no_cache())
    assert result["fid"] == reference["fid"]
    assert result.protocol["source_a"]["origin"] == EXTERNAL_ORIGIN
    assert EXTERNAL_ORIGIN in result.protocol["reference"]
    assert result.protocol["features"]["extractor"] == "pixels"


def test_an_external_file_needs_its_features_named(digits, external_file):
    with pytest.raises(GenlabError, match=r"only mu and sigma .* name them with --features"):
        genlab.evaluate(external_file[0], digits[1], **_no_cache())


def test_an_external_file_of_another_dimension_is_refused_before_extraction(external_file):
    def never_called(batch_size: int) -> torch.Tensor:
        raise AssertionError("no image may be generated before the dimension check")

    dim = genlab.metrics.get_extractor("classifier-mnist").dim
    with pytest.raises(GenlabError, match=rf"64-d features, but classifier-mnist .* {dim}-d"):
        genlab.evaluate(
            external_file[0], never_called, n=10, features="classifier-mnist", **_no_cache()
        )


def test_genlab_statistics_refuse_load_as_external_and_vice_versa(external_file):
    external, own = external_file
    with pytest.raises(GenlabError, match="load_external"):
        FeatureStatistics.load(external)
    loaded = FeatureStatistics.load_external(external)
    assert loaded.n is None
    assert loaded.protocol == {}
    with pytest.raises(GenlabError, match="no sample count"):
        loaded.save(own.parent / "again.npz")


def _no_cache() -> dict:
    return dict(cache=False, progress=False)


# --- the result object --------------------------------------------------------------------------


def test_the_result_is_a_mapping_with_protocol_table_and_json(digits):
    result = genlab.evaluate(*digits, metrics="fid,kid", **COMMON)
    assert set(result) == {"fid", "kid_mean", "kid_std"}
    assert "protocol" not in result
    text = str(result)
    assert text.splitlines()[0].startswith("FD_pixels ")  # FID is named by its feature space
    assert "KID ×10³" in text
    assert "protocol:" in text
    data = json.loads(result.to_json())
    assert data["fid"] == result["fid"]
    assert data["protocol"] == json.loads(json.dumps(result.protocol))
    again = EvaluationResult.from_dict(data)
    assert dict(again) == dict(result)
    assert again.protocol == data["protocol"]
    assert repr(result).startswith("EvaluationResult(fid=")


def test_genlab_metrics_reexports_the_pure_functions_and_the_registry():
    from genlab.metrics import fid as fid_module

    assert genlab.metrics.frechet_distance is fid_module.frechet_distance
    names = genlab.metrics.available()
    assert {"fid", "kid", "pr", "dc", "is"} <= set(names)
    assert all(isinstance(line, str) and line for line in names.values())
    for name in genlab.metrics.__all__:
        assert callable(getattr(genlab.metrics, name)), name
    for name in genlab.__all__:
        assert getattr(genlab, name) is not None


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("images", "options", "message"),
    [
        (torch.zeros(4, 1, 8, 8, dtype=torch.int64), {}, r"torch.int64; pass uint8 images"),
        (np.zeros((4, 8, 8, 1), np.float16), {}, r"float16; pass uint8"),
        (torch.rand(4, 1, 8, 8), {}, r"floating images need value_range"),
        (torch.rand(4, 1, 8, 8) * 2, {"value_range": (0, 1)}, r"outside value_range \(0, 1\)"),
        (torch.rand(4, 1, 8, 8), {"value_range": (0, 255)}, r"value_range must be"),
        (torch.full((4, 1, 8, 8), float("nan")), {"value_range": (0, 1)}, r"NaN or inf"),
        (torch.zeros(4, 8, 8, 4, dtype=torch.uint8), {}, r"neither axis 1 .* nor axis 3"),
        (torch.zeros(8, 64, dtype=torch.uint8), {}, r"got 2 dimensions"),
        ([torch.zeros(1, 8, 8, dtype=torch.uint8)], {}, r"is a list; pass a data set spec"),
        (torch.zeros(1, 1, 8, 8, dtype=torch.uint8), {}, r"at least 2"),
        (torch.zeros(0, 1, 8, 8, dtype=torch.uint8), {}, r"hold no images"),
    ],
)
def test_bad_images_get_one_clear_error(digits, images, options, message):
    with pytest.raises(GenlabError, match=message) as raised:
        genlab.evaluate(digits[0], images, **COMMON, **options)
    assert "\n" not in str(raised.value)


def test_a_module_without_a_latent_size_is_refused(digits):
    module = nn.Sequential(nn.Linear(6, 64))
    with pytest.raises(GenlabError, match=r"no latent_dim attribute; pass latent_dim="):
        genlab.evaluate(digits[0], module, n=10, **COMMON)
    generated = genlab.evaluate(
        digits[0],
        nn.Sequential(nn.Linear(6, 64), nn.Tanh(), nn.Unflatten(1, (1, 8, 8))),
        n=50,
        latent_dim=6,
        value_range=(-1, 1),
        **COMMON,
    )
    assert generated["fid"] > 0


def test_a_generator_needs_n_and_must_return_what_was_asked(digits):
    with pytest.raises(GenlabError, match=r"generates images: pass n"):
        genlab.evaluate(digits[0], _Decoder(), **COMMON)
    with pytest.raises(GenlabError, match=r"returned 3 images when asked for 10"):
        genlab.evaluate(digits[0], lambda size: digits[1][:3], n=10, **COMMON)


@pytest.mark.parametrize(("metric", "needed"), [("fid", 2), ("kid", 2), ("pr", 4), ("dc", 6)])
def test_too_few_images_for_a_metric_are_refused_before_extraction(digits, metric, needed):
    with pytest.raises(GenlabError, match=rf"needs at least {needed} images on each side, but B"):
        genlab.evaluate(digits[0], digits[1][: needed - 1], metrics=metric, **COMMON)
    streamed = genlab.Metrics(metric, features="pixels", cache=False)
    streamed.update(digits[0], real=True)
    streamed.update(digits[1][: needed - 1], real=False)
    with pytest.raises(GenlabError, match=rf"needs at least {needed} images on each side"):
        streamed.compute()


def test_asking_more_images_than_an_array_holds_is_refused(digits):
    with pytest.raises(GenlabError, match=r"holds 200 images but n=300"):
        genlab.evaluate(digits[0], digits[1], n=300, n_ref=100, **COMMON)


def test_no_warning_for_plain_inputs(digits):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        genlab.evaluate(digits[0], digits[1], **COMMON)
