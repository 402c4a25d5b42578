"""Figures: smoothing against a naive loop, PNGs that open, one figure per logged metric."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from genlab.errors import GenlabError
from genlab.report.collect import collect_run
from genlab.report.figures import (
    PALETTE,
    metric_figures,
    moving_average,
    run_colours,
    safe_file_name,
    sample_strip_figure,
    training_figures,
)


def naive_moving_average(values, window):
    out = []
    for i in range(len(values)):
        chunk = [v for v in values[max(0, i - window + 1) : i + 1] if math.isfinite(v)]
        out.append(sum(chunk) / len(chunk) if chunk else math.nan)
    return out


@pytest.mark.parametrize("window", [1, 2, 5, 50])
def test_moving_average_matches_a_naive_loop(window):
    values = np.random.default_rng(0).normal(size=37).tolist()
    values[3], values[10:14] = math.nan, [math.inf] * 4
    expected = naive_moving_average(values, window)
    np.testing.assert_allclose(moving_average(values, window), expected, rtol=1e-12)


def test_moving_average_of_all_missing_values_is_nan_and_window_must_be_positive():
    assert np.isnan(moving_average([math.nan, math.nan], 2)).all()
    with pytest.raises(GenlabError, match="at least 1"):
        moving_average([1.0], 0)


def png_size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        image.load()
        return image.size


@pytest.fixture(scope="module")
def summaries(runs):
    return [collect_run(path, lipschitz=False) for path in (runs.gan, runs.vae, runs.killed)]


def test_training_figures_cover_gan_and_vae_panels(summaries):
    figures = {figure.name: figure for figure in training_figures(summaries)}
    assert set(figures) == {"losses.png", "wasserstein.png", "grad-norms.png"}
    for figure in figures.values():
        width, height = png_size(figure.png)
        assert width > 300
        assert height > 200
    # Six loss panels (critic, generator, penalty, -ELBO, reconstruction, KL) in rows of three.
    assert png_size(figures["losses.png"].png)[1] > png_size(figures["wasserstein.png"].png)[1]


def test_a_vae_alone_has_no_wasserstein_figure(summaries):
    names = [figure.name for figure in training_figures([summaries[1]])]
    assert names == ["losses.png", "grad-norms.png"]


def test_no_figures_for_a_run_without_records(summaries):
    killed = summaries[2]
    assert training_figures([killed]) == []
    assert metric_figures([killed]) == []
    assert sample_strip_figure(killed, 0) is None


def test_one_metric_figure_per_logged_evaluation_metric(summaries):
    figures = metric_figures(summaries)
    assert [f.name for f in figures] == [
        "metric-classifier-mnist-fid.png",
        "metric-classifier-mnist-precision.png",
    ]
    assert "confidence" in figures[0].caption
    assert "lower is better" in figures[0].caption
    assert "confidence" not in figures[1].caption
    assert "higher is better" in figures[1].caption
    for figure in figures:
        png_size(figure.png)


def test_sample_strip_shows_grids_side_by_side(summaries):
    strip = sample_strip_figure(summaries[0], 0)
    width, height = png_size(strip.png)
    assert strip.name == "samples-1-00000-wgan-gp-digits.png"
    assert width > 2 * height  # five square grids in a row


def test_colours_are_fixed_by_position_and_file_names_are_safe(summaries):
    assert run_colours(summaries) == list(PALETTE[:3])
    assert len(run_colours(summaries * 4)) == 12
    assert safe_file_name("a b/../c<d>") == "a-b-..-c-d"
    assert safe_file_name("///") == "figure"
