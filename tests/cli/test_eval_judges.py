"""``genlab eval --metrics c2st,critic-w1,memorization,vendi``: the registry records drive the pure
functions on the extractor's features, the table shows them with their intervals, and the known
answers hold end to end (a set against its own copy)."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from genlab.cli.main import cli, main
from genlab.data.imageio import write_npz
from genlab.errors import GenlabError
from genlab.metrics import keys
from genlab.metrics.evaluate import evaluate
from genlab.metrics.features.registry import get_extractor
from genlab.metrics.judges import c2st, critic_w1
from genlab.metrics.memorization import memorization
from genlab.metrics.vendi import vendi_score

METRICS = "c2st,critic-w1,memorization,vendi"


@pytest.fixture
def images(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path / "cache"))
    generator = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (150, 1, 6, 6), generator=generator).to(torch.uint8)
    b = (a.int() * 3 // 4 + 30).to(torch.uint8)
    write_npz(tmp_path / "a.npz", a)
    write_npz(tmp_path / "b.npz", b)
    return a, b, str(tmp_path / "a.npz"), str(tmp_path / "b.npz")


def test_evaluate_gives_the_pure_functions_values(images):
    a, b, path_a, path_b = images
    result = evaluate(path_a, path_b, metrics=METRICS, features="pixels", seed=3, progress=False)
    pixels = get_extractor("pixels")
    fa, fb = pixels(a), pixels(b)
    judged = c2st(fa, fb, seed=3)
    assert result[keys.C2ST] == judged.accuracy
    assert result[keys.C2ST + keys.CI_LOW_SUFFIX] == judged.low
    assert result[keys.C2ST_P_VALUE] == judged.p_value
    assert result[keys.CRITIC_W1] == pytest.approx(critic_w1(fa, fb, seed=3).estimate, rel=1e-6)
    copied = memorization(fa, fb, seed=3)
    assert result[keys.MEMORIZATION] == copied.fraction
    assert result[keys.MEMORIZATION_PAIRS] == [list(pair) for pair in copied.pairs]
    assert result[keys.VENDI] == pytest.approx(vendi_score(fb), rel=1e-12)
    settings = result.protocol["settings"]
    assert settings["memorization_alpha"] == 0.01
    assert settings["critic_steps"] == 500


def test_a_set_against_its_own_copy(images):
    _, _, path_a, _ = images
    result = evaluate(path_a, path_a, metrics=METRICS, features="pixels", progress=False)
    assert result[keys.MEMORIZATION] == 1.0  # every image of B is an image of A
    assert result[keys.MEMORIZATION_PAIRS][0][2] == 0.0
    # Identical sets split by one permutation: the held-out points of A and B coincide.
    assert result[keys.C2ST] == 0.5
    assert result[keys.CRITIC_W1] == 0.0
    assert result[keys.VENDI] > 1


def test_table_and_json(images, tmp_path):
    _, _, path_a, path_b = images
    out = tmp_path / "result.json"
    args = ["eval", path_a, path_b, "--features", "pixels", "--metrics", METRICS]
    run = CliRunner().invoke(cli, [*args, "--json", str(out), "--no-progress"])
    assert run.exit_code == 0, run.output
    for label in ("C2ST ", "C2ST p", "Critic W1", "Memorized", "Copy Z_U", "Copy dist.", "Vendi"):
        assert f"\n{label}" in "\n" + run.output, label
    assert run.output.count("95% CI [") == 3  # c2st, critic-w1, memorization
    written = json.loads(out.read_text())
    assert len(written[keys.MEMORIZATION_PAIRS]) == 8
    assert "memorization_pairs" not in run.output


def test_too_few_images_is_one_line(images, tmp_path, capsys):
    a, _, _, _ = images
    small = str(tmp_path / "small.npz")
    write_npz(small, a[:10])
    with pytest.raises(SystemExit) as exited:
        main(["eval", small, small, "--features", "pixels", "--metrics", "c2st", "--no-progress"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "A has 10 images" in err
    assert "at least 20 per side" in err
    assert len(err.strip().splitlines()) == 1


def test_heldout_images_set_the_memorization_threshold(images, tmp_path):
    """--heldout: the null distances are the held-out images' (memorization(heldout=...))."""
    a, b, path_a, path_b = images
    heldout = (b.int() // 2 + 60).to(torch.uint8)
    write_npz(tmp_path / "heldout.npz", heldout)
    result = evaluate(
        path_a,
        path_b,
        metrics="memorization",
        features="pixels",
        heldout=tmp_path / "heldout.npz",
        seed=3,
        progress=False,
        cache=False,
    )
    pixels = get_extractor("pixels")
    expected = memorization(pixels(a), pixels(b), heldout=pixels(heldout), seed=3)
    assert result[keys.MEMORIZATION_THRESHOLD] == expected.threshold
    assert result[keys.MEMORIZATION] == expected.fraction
    assert result.protocol["heldout"]["n"] == heldout.shape[0]
    loo = evaluate(path_a, path_b, metrics="memorization", features="pixels", seed=3,
                   progress=False, cache=False)  # fmt: skip
    assert loo[keys.MEMORIZATION_THRESHOLD] != expected.threshold
    with pytest.raises(GenlabError, match=r"held-out images serve memorization"):
        evaluate(path_a, path_b, metrics="fid", features="pixels", heldout=tmp_path / "heldout.npz")
    done = CliRunner().invoke(
        cli,
        [
            "eval",
            path_a,
            path_b,
            "--metrics",
            "memorization",
            "--features",
            "pixels",
            "--heldout",
            str(tmp_path / "heldout.npz"),
            "--json",
            str(tmp_path / "r.json"),
            "--no-progress",
        ],
    )
    assert done.exit_code == 0, done.output
    written = json.loads((tmp_path / "r.json").read_text())
    assert written[keys.MEMORIZATION_THRESHOLD] == pytest.approx(expected.threshold)
