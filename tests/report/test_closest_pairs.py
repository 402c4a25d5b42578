"""The report's memorisation section: the closest generated/training pairs are fetched again from
their sources, are the very images whose distance was measured, and are drawn on the page."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from genlab.metrics import keys
from genlab.metrics.evaluate import evaluate
from genlab.metrics.features.registry import get_extractor
from genlab.report import write_report
from genlab.report.collect import read_closest_pairs
from genlab.runs import RunFolder


@pytest.fixture(scope="module")
def memorised_run(tmp_path_factory, tiny_config):
    """A tiny GAN on the 8×8 digits with a memorisation evaluation filed in it (pixels)."""
    from genlab.training.trainer import Trainer

    cache = tmp_path_factory.mktemp("cache")
    out = tmp_path_factory.mktemp("runs") / "gan"
    Trainer.start(tiny_config("gan", out, steps=2, hidden=(16,), latent_dim=4)).train()
    result = evaluate(
        "digits", str(out), metrics="memorization", features="pixels", n=150, seed=4,
        cache=cache, progress=False,
    )  # fmt: skip
    RunFolder(out).write_evaluation(result, name="memorization")
    return out, result


def test_pairs_are_the_measured_images(memorised_run):
    out, result = memorised_run
    [pairs], notes = read_closest_pairs(out)
    assert notes == []
    assert len(pairs.distances) == 8
    assert pairs.threshold == result[keys.MEMORIZATION_THRESHOLD]
    # Features of the fetched images reproduce each stored distance: the right training image
    # (index into A) and the right generated image (regenerated with the evaluation's seed).
    pixels = get_extractor("pixels")
    import torch

    generated = pixels(torch.from_numpy(pairs.generated)).double()
    training = pixels(torch.from_numpy(pairs.training)).double()
    distances = (generated - training).norm(dim=1).numpy()
    np.testing.assert_allclose(distances, pairs.distances, rtol=1e-5, atol=1e-6)


def test_report_draws_the_pairs(memorised_run, tmp_path):
    out, _ = memorised_run
    files = write_report([out], out=tmp_path / "report.html", lipschitz=False)
    page = files.html.read_text()
    assert "Memorisation: closest generated/training pairs" in page
    assert "Closest generated/training pairs of gan" in page
    assert any(path.name.startswith("closest-pairs-1-gan") for path in files.figures)
    assert "closest-pairs-1-gan" in files.markdown.read_text()


def test_a_newer_checkpoint_is_a_note_not_wrong_pairs(memorised_run, tmp_path):
    out, _ = memorised_run
    copy = tmp_path / "gan"
    shutil.copytree(out, copy)
    checkpoint = max((copy / "checkpoints").glob("*.pt"))
    checkpoint.write_bytes(checkpoint.read_bytes() + b"changed")  # another checkpoint hash
    found, notes = read_closest_pairs(copy)
    assert found == []
    assert "newer checkpoint than the one evaluated" in notes[0]
