"""The evaluation driver against the metric functions applied directly to independent features."""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.linalg
import torch

import genlab
from genlab.data.imageio import signed_to_uint8, uint8_to_signed, write_npz
from genlab.errors import GenlabError
from genlab.metrics import keys
from genlab.metrics.bootstrap import fid_with_ci, kid_with_ci
from genlab.metrics.evaluate import (
    ALL,
    Needs,
    compute_statistics,
    evaluate,
    extract,
    parse_metrics,
)
from genlab.metrics.features.inception import NO_FC_MESSAGE
from genlab.metrics.features.pixels import PixelExtractor
from genlab.metrics.features.registry import ExtractorCapabilities
from genlab.metrics.fid import fid_infinity
from genlab.metrics.isc import inception_score
from genlab.metrics.kid import kernel_inception_distance
from genlab.metrics.prdc import density_coverage, precision_recall
from genlab.metrics.reconstruction import reconstruction_error
from genlab.metrics.sources import resolve_source
from genlab.metrics.statistics import statistics_from_features

N_A, N_B = 300, 260


def _images(n: int, *, brightness: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randint(0, 120, (n, 1, 8, 8), generator=generator)
    ramp = torch.arange(8).repeat(8, 1)[None, None] * 8
    return (noise + ramp + brightness).clamp(0, 255).to(torch.uint8)


@pytest.fixture(scope="module")
def image_sets(tmp_path_factory):
    """Two .npz image sets of different distributions and their images."""
    folder = tmp_path_factory.mktemp("sets")
    a, b = _images(N_A, brightness=0, seed=1), _images(N_B, brightness=40, seed=2)
    write_npz(folder / "a.npz", a)
    write_npz(folder / "b.npz", b)
    return folder / "a.npz", folder / "b.npz", a, b


def _pixel_features(images: torch.Tensor, dtype=np.float32) -> np.ndarray:
    """Independent of the extractor: v / 255, flattened (float32 like the extractor's output)."""
    return images.numpy().reshape(len(images), -1).astype(dtype) / dtype(255.0)


def _scipy_fid(x: np.ndarray, y: np.ndarray) -> float:
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(root))


# FID∞'s smallest default subset (N/10 = 26 rows) is below d = 64; the warning is expected.
@pytest.mark.filterwarnings("ignore::genlab.metrics.validation.FIDBiasWarning")
def test_metrics_equal_the_metric_functions_on_direct_features(image_sets):
    path_a, path_b, a, b = image_sets
    result = evaluate(
        str(path_a),
        str(path_b),
        metrics="fid,kid,pr,dc,fid-inf",
        features="pixels",
        batch_size=64,
        cache=False,
        progress=False,
    )
    fa, fb = _pixel_features(a), _pixel_features(b)
    exact_fid = _scipy_fid(_pixel_features(a, np.float64), _pixel_features(b, np.float64))
    assert result[keys.FID] == pytest.approx(exact_fid, rel=1e-6)
    kid = kernel_inception_distance(fa, fb, num_subsets=100, subset_size=N_B, seed=0)
    assert result[keys.KID_MEAN] == pytest.approx(kid[0], rel=1e-9)
    assert result[keys.KID_STD] == pytest.approx(kid[1], rel=1e-9)
    for key, value in precision_recall(fa, fb, k=3).items():
        assert result[key] == pytest.approx(value, abs=1e-12)
    for key, value in density_coverage(fa, fb, k=5).items():
        assert result[key] == pytest.approx(value, abs=1e-12)
    expected_inf = fid_infinity(fb, statistics_from_features(fa), seed=0).value
    assert result[keys.FID_INFINITY] == pytest.approx(expected_inf, rel=1e-6)
    assert result[keys.FID] > 0.1  # the sets differ: a real distance, not a trivial zero


def test_kid_options_and_reference_count_reach_the_metric(image_sets):
    path_a, path_b, a, b = image_sets
    result = evaluate(
        str(path_a),
        str(path_b),
        metrics="kid",
        features="pixels",
        n=200,
        n_ref=ALL,
        kid_subsets=7,
        kid_subset_size=50,
        seed=2,
        cache=False,
        progress=False,
    )
    expected = kernel_inception_distance(
        _pixel_features(a), _pixel_features(b[:200]), num_subsets=7, subset_size=50, seed=2
    )
    assert (result[keys.KID_MEAN], result[keys.KID_STD]) == pytest.approx(expected, rel=1e-9)
    protocol = result.protocol
    assert (protocol["n_a"], protocol["n_b"], protocol["n_ref"]) == (N_A, 200, ALL)
    assert protocol["settings"] == {"kid_subsets": 7, "kid_subset_size": 50}
    common = dict(metrics="kid", features="pixels", cache=False, progress=False)
    with pytest.raises(GenlabError, match=r"--kid-subset-size 261 is more than .*\(300 and 260\)"):
        evaluate(str(path_a), str(path_b), kid_subset_size=261, **common)
    with pytest.raises(GenlabError, match="kid_subsets must be a positive integer"):
        evaluate(str(path_a), str(path_b), kid_subsets=0, **common)
    with pytest.raises(GenlabError, match="n_ref must be a positive integer, 'all' or None"):
        evaluate(str(path_a), str(path_b), n_ref=0, **common)


def test_streaming_fid_equals_fid_from_kept_features(image_sets):
    path_a, path_b, _, _ = image_sets
    common = dict(features="pixels", cache=False, progress=False)
    streamed = evaluate(str(path_a), str(path_b), metrics="fid", batch_size=7, **common)
    kept = evaluate(str(path_a), str(path_b), metrics="fid,kid", batch_size=64, **common)
    assert streamed[keys.FID] == pytest.approx(kept[keys.FID], rel=1e-10)


def test_streaming_pass_keeps_no_features(image_sets):
    source = resolve_source(str(image_sets[0]))
    extracted = extract(source, PixelExtractor(), Needs(statistics=True), progress=False)
    assert extracted.features is None
    assert extracted.statistics.n == N_A
    np.testing.assert_allclose(
        extracted.statistics.sigma, np.cov(_pixel_features(image_sets[2]), rowvar=False), atol=1e-12
    )


def test_protocol_records_extractor_counts_reference_and_version(image_sets):
    path_a, path_b, _, _ = image_sets
    result = evaluate(
        str(path_a),
        str(path_b),
        metrics="kid",
        features="pixels",
        n=200,
        cache=False,
        progress=False,
        seed=3,
    )
    protocol = result.protocol
    assert protocol["features"] == PixelExtractor().protocol()
    assert protocol["n_a"] == protocol["n_b"] == 200
    assert protocol["reference"] == f"{path_a} (200 images)"
    assert protocol["source_a"]["kind"] == "npz"
    assert protocol["source_b"]["spec"] == str(path_b)
    assert protocol["genlab_version"] == genlab.__version__
    assert protocol["seed"] == 3
    assert protocol["settings"] == {"kid_subsets": 100, "kid_subset_size": 200}
    assert protocol["n_ref"] == 200


def test_confidence_intervals_match_the_bootstrap_functions(image_sets):
    path_a, path_b, a, b = image_sets
    result = evaluate(
        str(path_a),
        str(path_b),
        metrics="fid,kid",
        features="pixels",
        ci=True,
        ci_resamples=4,
        cache=False,
        progress=False,
    )
    fa, fb = _pixel_features(a), _pixel_features(b)
    fid_ci = fid_with_ci(fa, fb, num_resamples=4, seed=0)
    kid_ci = kid_with_ci(fa, fb, num_resamples=4, seed=0, subset_size=N_B)
    assert result[keys.FID + keys.CI_LOW_SUFFIX] == pytest.approx(fid_ci.low, rel=1e-6)
    assert result[keys.FID + keys.CI_HIGH_SUFFIX] == pytest.approx(fid_ci.high, rel=1e-6)
    assert result[keys.KID_MEAN + keys.CI_LOW_SUFFIX] == pytest.approx(kid_ci.low, rel=1e-6)
    assert result[keys.KID_MEAN + keys.CI_HIGH_SUFFIX] == pytest.approx(kid_ci.high, rel=1e-6)


class _LogitPixels(PixelExtractor):
    """Pixels plus fixed linear 'class logits', standing in for a classifier."""

    capabilities = ExtractorCapabilities(logits=True)

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.randn(64, 5, generator=torch.Generator().manual_seed(0))

    def logits(self, images: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        return (images.reshape(len(images), -1).float() / 255.0) @ self.weight


def test_inception_score_uses_the_extractor_logits(image_sets):
    path_a, path_b, _, b = image_sets
    extractor = _LogitPixels()
    result = evaluate(
        str(path_a), str(path_b), metrics="is", features=extractor, cache=False, progress=False
    )
    expected = inception_score(extractor.logits(b), splits=10)
    assert (result[keys.IS_MEAN], result[keys.IS_STD]) == pytest.approx(expected, rel=1e-9)
    assert keys.FID not in result


class _Classifier(_LogitPixels):
    capabilities = ExtractorCapabilities(logits=True, classes=5)


def test_mode_coverage_uses_the_classifier_probabilities(image_sets):
    from genlab.metrics.modes import MODE_COUNTS, MODES_COVERED, mode_coverage

    path_a, path_b, _, b = image_sets
    extractor = _Classifier()
    result = evaluate(
        str(path_a), str(path_b), metrics="modes", features=extractor, cache=False, progress=False
    )
    probabilities = torch.softmax(extractor.logits(b).double(), dim=1)  # softmax in float64
    expected = mode_coverage(probabilities, num_classes=5)
    assert result[MODE_COUNTS] == expected[MODE_COUNTS]
    assert sum(result[MODE_COUNTS]) == N_B
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, rel=1e-9), key
    assert 1 <= result[MODES_COVERED] <= 5


class _InceptionLike(PixelExtractor):
    """An extractor shaped like InceptionExtractor: logits come from its features."""

    def __init__(self, *, has_fc: bool) -> None:
        super().__init__()
        self.capabilities = ExtractorCapabilities(
            logits=has_fc, no_logits=None if has_fc else NO_FC_MESSAGE
        )
        self.weight = torch.randn(64, 7, generator=torch.Generator().manual_seed(1))

    def logits(self, images: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        assert features is not None, "evaluate passes the batch's features along"
        return features @ self.weight


def test_inception_logits_come_from_the_same_features(image_sets):
    path_a, path_b, _, b = image_sets
    extractor = _InceptionLike(has_fc=True)
    result = evaluate(
        str(path_a), str(path_b), metrics="is", features=extractor, cache=False, progress=False
    )
    logits = torch.from_numpy(_pixel_features(b)).float() @ extractor.weight
    expected = inception_score(logits, splits=10)
    assert (result[keys.IS_MEAN], result[keys.IS_STD]) == pytest.approx(expected, rel=1e-6)


def test_inception_score_without_fc_fails_before_extracting(image_sets):
    path_a, path_b, _, _ = image_sets
    with pytest.raises(GenlabError, match="fc layer"):
        evaluate(
            str(path_a),
            str(path_b),
            metrics="is",
            features=_InceptionLike(has_fc=False),
            cache=False,
            progress=False,
        )


def test_metrics_the_extractor_cannot_serve_are_refused(image_sets):
    path_a, path_b, _, _ = image_sets
    with pytest.raises(GenlabError, match="logits"):
        evaluate(str(path_a), str(path_b), metrics="is", features="pixels", cache=False)
    with pytest.raises(GenlabError, match="classifier-mnist"):
        evaluate(str(path_a), str(path_b), metrics="modes", features="pixels", cache=False)


def test_unknown_metric_suggests_the_closest_and_lists_the_known_ones():
    with pytest.raises(
        GenlabError,
        match=r"unknown metric 'fod' \(did you mean 'fid'\?\); choose from fid, fid-inf",
    ):
        parse_metrics("fid,fod")
    with pytest.raises(GenlabError, match=r"unknown metrics 'fod' \(.*\), 'zzz'; choose from"):
        parse_metrics("fod,zzz")
    assert parse_metrics("FID, kid,fid") == ("fid", "kid")


def test_statistics_file_serves_fid_and_refuses_kid(image_sets, tmp_path):
    path_a, path_b, _, _ = image_sets
    stats_path = tmp_path / "a-stats.npz"
    compute_statistics(str(path_a), features="pixels", cache=False, progress=False).save(stats_path)
    common = dict(features="pixels", cache=False, progress=False)
    from_file = evaluate(str(stats_path), str(path_b), metrics="fid", **common)
    from_images = evaluate(str(path_a), str(path_b), metrics="fid", **common)
    assert from_file[keys.FID] == pytest.approx(from_images[keys.FID], rel=1e-12)
    assert from_file.protocol["n_a"] == N_A
    with pytest.raises(GenlabError, match=r"holds only feature statistics.*kid"):
        evaluate(str(stats_path), str(path_b), metrics="fid,kid", **common)
    with pytest.raises(GenlabError, match="holds only feature statistics"):
        evaluate(str(stats_path), str(path_b), metrics="fid", ci=True, **common)
    # Without features, the file's extractor is used; another one is refused before extraction.
    followed = evaluate(str(stats_path), str(path_b), cache=False, progress=False)
    assert followed[keys.FID] == from_file[keys.FID]
    assert followed.protocol["features"]["extractor"] == "pixels"
    assert followed.protocol["n_ref"] == ALL
    with pytest.raises(GenlabError, match="statistics of pixels features, but --features is"):
        evaluate(str(stats_path), str(path_b), features="classifier-mnist", cache=False)
    with pytest.raises(GenlabError, match="--n-ref 5 does not apply"):
        evaluate(str(stats_path), str(path_b), n_ref=5, **common)


def test_statistics_of_another_extractor_are_refused(image_sets, tmp_path):
    path_a, path_b, _, _ = image_sets
    stats_path = tmp_path / "a-stats.npz"
    compute_statistics(
        str(path_a), features="pixels", extractor_options={"size": 8}, cache=False, progress=False
    ).save(stats_path)
    with pytest.raises(GenlabError, match=r"different feature protocol .*size: 8 vs None"):
        evaluate(
            str(stats_path),
            str(path_b),
            metrics="fid",
            features="pixels",
            cache=False,
            progress=False,
        )


# --- A tiny VAE run for reconstruction error --------------------------------------------------


def _train(tmp_path, preset: str):
    from genlab.training.config import resolve_config
    from genlab.training.trainer import Trainer

    config = resolve_config(
        preset,
        data="digits",
        steps=2,
        batch_size=16,
        hidden=(16,),
        latent_dim=4,
        progress=False,
        tensorboard=False,
        out=str(tmp_path / preset),
        arch="mlp",
    )
    Trainer.start(config).train()
    return tmp_path / preset


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("runs"), "vae")


def test_reconstruction_error_of_a_vae_run(vae_run):
    from genlab.data.sources import load_dataset
    from genlab.models.registry import ModelConfig, build_vae
    from genlab.runs.checkpoint import load_checkpoint

    result = evaluate(
        "digits", str(vae_run), metrics="recon", n=100, batch_size=32, cache=False, progress=False
    )
    state = load_checkpoint(vae_run)
    vae = build_vae(ModelConfig.from_dict(state["model_config"]))
    vae.load_state_dict(state["models"]["vae"])
    vae.eval()
    images = load_dataset("digits", limit=100).images
    with torch.no_grad():
        rebuilt = signed_to_uint8(vae.reconstruct(uint8_to_signed(images)))
    expected = reconstruction_error(images, rebuilt)
    for key in (keys.MSE, keys.L2, keys.PSNR):
        assert result[key] == pytest.approx(expected[key], rel=1e-9)
    assert result.protocol["features"] is None
    assert result.protocol["n_a"] == 100


def test_reconstruction_needs_a_vae_run_and_matching_images(vae_run, image_sets, tmp_path):
    path_a, path_b, _, _ = image_sets
    with pytest.raises(GenlabError, match="needs B to be a VAE run"):
        evaluate(str(path_a), str(path_b), metrics="recon", cache=False, progress=False)
    gan_run = _train(tmp_path, "wgan-gp")
    with pytest.raises(GenlabError, match="GAN run"):
        evaluate("digits", str(gan_run), metrics="recon", n=10, cache=False, progress=False)
    big = tmp_path / "big.npz"
    write_npz(big, torch.zeros(4, 1, 12, 12, dtype=torch.uint8))
    with pytest.raises(GenlabError, match=r"the VAE of .* takes"):
        evaluate(str(big), str(vae_run), metrics="recon", cache=False, progress=False)


def test_generated_images_of_a_run_are_evaluated(vae_run):
    common = dict(metrics="fid", features="pixels", cache=False, progress=False)
    first = evaluate("digits", str(vae_run), n=100, **common)
    again = evaluate("digits", str(vae_run), n=100, **common)
    other_seed = evaluate("digits", str(vae_run), n=100, seed=1, **common)
    assert first[keys.FID] == again[keys.FID]
    assert first[keys.FID] != other_seed[keys.FID]
    with pytest.raises(GenlabError, match="--n"):
        evaluate("digits", str(vae_run), **common)


def test_inception_score_with_pool3_only_weights_is_a_clear_error(image_sets):
    from genlab.metrics.features.inception_weights import WEIGHTS_ENV

    weights = os.environ.get(WEIGHTS_ENV, "")
    if not weights.endswith("default_1.pt"):
        pytest.skip(f"{WEIGHTS_ENV} does not point at the pool3-only default_1.pt")
    path_a, path_b, _, _ = image_sets
    with pytest.raises(GenlabError, match="genlab weights import"):
        evaluate(str(path_a), str(path_b), metrics="fid,is", cache=False, progress=False)
