"""`genlab.Metrics`: streamed in ragged batches, it equals `genlab.evaluate` on the same images."""

from __future__ import annotations

import pytest
import torch

import genlab
from genlab.data.sources import load_dataset
from genlab.errors import GenlabError

OPTIONS = dict(features="pixels", cache=False, kid_subset_size=50)


@pytest.fixture(scope="module")
def digits():
    images = load_dataset("digits").images
    return images[:330], images[400:730]


def _ragged(images: torch.Tensor, sizes: tuple[int, ...]):
    """Batches of the given sizes, cycled, covering every image once in order."""
    start, index = 0, 0
    while start < images.shape[0]:
        size = sizes[index % len(sizes)]
        yield images[start : start + size]
        start, index = start + size, index + 1


def _close(streamed, one_shot) -> None:
    assert set(streamed) == set(one_shot)
    for key, value in one_shot.items():
        assert streamed[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


@pytest.mark.filterwarnings("ignore::genlab.metrics.validation.FIDBiasWarning")
@pytest.mark.parametrize("metrics", ["fid", "fid,kid,pr,dc", "fid-inf,kid"])
@pytest.mark.parametrize("sizes", [(1,), (37, 5, 200), (330,), (199, 1)])
def test_streaming_equals_evaluate_whatever_the_batches(digits, metrics, sizes):
    real, fake = digits
    streamed = genlab.Metrics(metrics, **OPTIONS)
    for batch in _ragged(real, sizes):
        streamed.update(batch, real=True)
    for batch in _ragged(fake, sizes[::-1]):
        streamed.update(batch.float() / 127.5 - 1, real=False, value_range=(-1, 1))
    result = streamed.compute()
    one_shot = genlab.evaluate(real, fake, metrics=metrics, progress=False, **OPTIONS)
    _close(result, one_shot)
    assert result.protocol["n_a"] == result.protocol["n_b"] == 330
    assert result.protocol["metrics"] == one_shot.protocol["metrics"]
    assert result.protocol["settings"] == one_shot.protocol["settings"]


def test_classifier_logits_stream_too(digits):
    """Mode coverage and IS need logits: the shipped MNIST classifier on upscaled digits."""
    real, fake = (
        torch.nn.functional.interpolate(images.float(), size=28).round().to(torch.uint8)
        for images in digits
    )
    streamed = genlab.Metrics("fid,is,modes", features="classifier-mnist", cache=False)
    for batch in _ragged(real, (90, 17)):
        streamed.update(batch, real=True)
    for batch in _ragged(fake, (64,)):
        streamed.update(batch, real=False)
    one_shot = genlab.evaluate(
        real, fake, metrics="fid,is,modes", features="classifier-mnist", cache=False, progress=False
    )
    result = streamed.compute()
    numbers = {key for key, value in one_shot.items() if isinstance(value, float)}
    _close({key: result[key] for key in numbers}, {key: one_shot[key] for key in numbers})
    assert result["mode_counts"] == one_shot["mode_counts"]


def test_reset_keeps_the_reference_unless_told(digits):
    real, fake = digits
    streamed = genlab.Metrics("fid", **OPTIONS)
    streamed.update(real, real=True)
    streamed.update(real[:50], real=False)
    streamed.reset()
    assert streamed.counts == (330, 0)
    streamed.update(fake, real=False)
    _close(streamed.compute(), genlab.evaluate(real, fake, progress=False, **OPTIONS))
    streamed.reset(keep_reference=False)
    assert streamed.counts == (0, 0)
    with pytest.raises(GenlabError, match=r"no real images yet; call update\(images, real=True\)"):
        streamed.compute()


def test_a_reference_spec_is_extracted_once_and_equals_evaluate(digits, tmp_path):
    _, fake = digits
    streamed = genlab.Metrics("fid,kid", reference="digits", n_ref=330, **OPTIONS)
    streamed.update(fake, real=False)
    one_shot = genlab.evaluate("digits", fake, metrics="fid,kid", n=330, progress=False, **OPTIONS)
    first = streamed.compute()
    _close(first, one_shot)
    assert first.protocol["source_a"] == one_shot.protocol["source_a"]
    streamed.reset()
    streamed.update(fake[:100], real=False)
    second = streamed.compute()
    assert second.protocol["n_b"] == 100
    assert second["fid"] != first["fid"]
    with pytest.raises(GenlabError, match="the real side is the reference given at construction"):
        streamed.update(fake, real=True)


def test_saved_statistics_serve_as_a_reference_for_fid(digits, tmp_path):
    real, fake = digits
    statistics = genlab.compute_statistics(real, features="pixels", cache=False, progress=False)
    streamed = genlab.Metrics("fid", features="pixels", reference=statistics, cache=False)
    streamed.update(fake, real=False)
    assert streamed.compute()["fid"] == pytest.approx(
        genlab.evaluate(real, fake, features="pixels", cache=False, progress=False)["fid"],
        rel=1e-9,
    )
    with pytest.raises(GenlabError, match="serve FID alone"):
        genlab.Metrics("fid,kid", features="pixels", reference=statistics, cache=False)


def test_bad_use_gets_one_clear_error(digits):
    real, _ = digits
    with pytest.raises(GenlabError, match=r"use genlab\.evaluate for it"):
        genlab.Metrics("recon", **OPTIONS)
    streamed = genlab.Metrics("fid", **OPTIONS)
    streamed.update(real[:10], real=True)
    with pytest.raises(GenlabError, match=r"images of shape C×H×W \(1, 28, 28\) after \(1, 8, 8\)"):
        streamed.update(torch.zeros(4, 1, 28, 28, dtype=torch.uint8), real=True)
    with pytest.raises(GenlabError, match="floating images need value_range"):
        streamed.update(torch.rand(4, 1, 8, 8), real=False)
    with pytest.raises(GenlabError, match="real must be True or False"):
        streamed.update(real[:4], real="yes")
    with pytest.raises(GenlabError, match=r"no generated images yet"):
        streamed.compute()
