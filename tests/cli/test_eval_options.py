"""``genlab eval`` through the real CLI: filing, statistics files, --json -, KID, --n-ref, errors.

Each test here failed before the fix it covers (see the names).
"""

from __future__ import annotations

import json

import click
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from genlab.cli.eval import eval_
from genlab.cli.main import cli, main
from genlab.data.imageio import write_npz
from genlab.metrics import keys
from genlab.metrics.evaluate import PROTOCOL, evaluate
from genlab.metrics.features import registry
from genlab.metrics.statistics import FeatureStatistics

N = 150  # images in each test set (6×6 grey, so pixel features are 36-d)


@pytest.fixture
def sets(tmp_path, monkeypatch):
    """Two .npz image sets of N images, a private cache, and tmp_path as working folder."""
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    generator = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (N, 1, 6, 6), generator=generator).to(torch.uint8)
    b = (a.int() * 3 // 4 + 30).to(torch.uint8)
    write_npz(tmp_path / "a.npz", a)
    write_npz(tmp_path / "b.npz", b)
    return str(tmp_path / "a.npz"), str(tmp_path / "b.npz")


@pytest.fixture
def no_inception(monkeypatch):
    """Make building the Inception extractor fail loudly: what must not run, does not."""

    def refuse(**options):
        raise AssertionError("the Inception extractor was built")

    monkeypatch.setitem(registry._EXTRACTORS, "inception", registry._Entry(refuse, "blocked"))


def _invoke(*args: str):
    result = CliRunner().invoke(cli, ["eval", *args, "--no-progress"])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def _error(capsys, *args: str) -> str:
    """The one line `genlab eval ARGS` prints on a user error (exit code 2)."""
    with pytest.raises(SystemExit) as exited:
        main(["eval", *args, "--no-progress"])
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: "), err
    return err.strip()


def _pixel_statistics(path, source: str) -> str:
    _invoke(source, "--features", "pixels", "--save-stats", str(path))
    return str(path)


# --- 1. reconstruction error of a VAE run is filed in the run ---------------------------------


def test_recon_evaluation_of_a_vae_run_is_filed_in_the_run(tmp_path, monkeypatch, tiny_config):
    from genlab.training.trainer import Trainer

    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path / "cache"))
    run_dir = Trainer.start(tiny_config("vae", tmp_path / "vae", steps=2)).train()
    output = _invoke("digits", str(run_dir), "--metrics", "recon", "--n", "100").output
    filed = run_dir / "evaluations" / "recon-ref100.json"
    assert f"wrote {filed} (shown by genlab report)" in output
    written = json.loads(filed.read_text())
    expected = evaluate("digits", run_dir, metrics="recon", n=100, cache=False, progress=False)
    for key in (keys.MSE, keys.L2, keys.PSNR):
        assert written[key] == pytest.approx(expected[key], rel=1e-12)
    assert written[PROTOCOL]["features"] is None
    assert written[PROTOCOL]["n_a"] == 100


# --- 2. a statistics file fixes the extractor, before any image is read -----------------------


def test_statistics_file_sets_the_default_extractor(sets, tmp_path, no_inception):
    stats = _pixel_statistics(tmp_path / "a-stats.npz", sets[0])
    output = _invoke(stats, sets[1]).output  # no --features: pixels, as the file says
    assert "features   pixels:" in output
    expected = evaluate(*sets, features="pixels", cache=False, progress=False)
    assert f"FD_pixels  {expected[keys.FID]:.4f}\n" in output  # FID on pixels: FD_pixels


def test_other_features_than_the_statistics_file_are_refused_at_once(
    sets, tmp_path, capsys, no_inception
):
    stats = _pixel_statistics(tmp_path / "a-stats.npz", sets[0])
    capsys.readouterr()
    err = _error(capsys, stats, sets[1], "--features", "inception")
    assert "holds statistics of pixels features, but --features is inception" in err
    assert "leave out --features" in err


def test_statistics_files_of_two_extractors_are_refused(sets, tmp_path, capsys, no_inception):
    pixels = _pixel_statistics(tmp_path / "a-stats.npz", sets[0])
    other = tmp_path / "other-stats.npz"
    FeatureStatistics(
        mu=np.zeros(5), sigma=np.eye(5), n=100, protocol={"extractor": "classifier-mnist"}
    ).save(other)
    capsys.readouterr()
    err = _error(capsys, pixels, str(other))
    assert "of pixels features but B" in err
    assert "of classifier-mnist features" in err
    assert "--save-stats" in err


# --- 3. --json - writes the JSON to standard output --------------------------------------------


def test_json_dash_writes_pure_json_to_stdout(sets, tmp_path):
    result = _invoke(*sets, "--features", "pixels", "--metrics", "fid,kid", "--json", "-")
    written = json.loads(result.stdout)
    expected = evaluate(*sets, metrics="fid,kid", features="pixels", cache=False, progress=False)
    assert written[keys.FID] == pytest.approx(expected[keys.FID], rel=1e-12)
    assert "FD_pixels  " in result.stderr  # the table, for people, on stderr
    assert not (tmp_path / "-").exists()


# --- 4. KID ×10³, its subsets, and a spread that means nothing --------------------------------


def test_kid_is_shown_times_1000_with_the_subset_options(sets, tmp_path):
    out = tmp_path / "kid.json"
    args = ("--features", "pixels", "--metrics", "kid", "--json", str(out))
    output = _invoke(*sets, *args, "--kid-subsets", "20", "--kid-subset-size", "100").output
    expected = evaluate(
        *sets,
        metrics="kid",
        features="pixels",
        kid_subsets=20,
        kid_subset_size=100,
        cache=False,
        progress=False,
    )
    mean, std = expected[keys.KID_MEAN] * 1e3, expected[keys.KID_STD] * 1e3
    assert f"KID ×10³   {mean:.2f} ± {std:.2f}\n" in output
    written = json.loads(out.read_text())
    assert written[keys.KID_MEAN] == pytest.approx(expected[keys.KID_MEAN], rel=1e-12)  # raw
    assert written[PROTOCOL]["settings"] == {"kid_subsets": 20, "kid_subset_size": 100}


def test_kid_spread_of_the_only_possible_subset_is_not_printed(sets):
    output = _invoke(*sets, "--features", "pixels", "--metrics", "kid").output
    line = next(line for line in output.splitlines() if line.startswith("KID"))
    assert "±" not in line
    assert f"spread not meaningful: every subset is all {N} images of A and B" in line
    one = _invoke(*sets, "--features", "pixels", "--metrics", "kid", "--kid-subsets", "1")
    assert "(spread not meaningful: 1 subset)" in one.output


# --- 5. --n-ref: the reference's own count -----------------------------------------------------


def test_n_ref_sets_the_reference_count_and_is_recorded(sets, tmp_path):
    out = tmp_path / "r.json"
    _invoke(*sets, "--features", "pixels", "--n", "100", "--n-ref", "all", "--json", str(out))
    protocol = json.loads(out.read_text())[PROTOCOL]
    assert (protocol["n_a"], protocol["n_b"], protocol["n_ref"]) == (N, 100, "all")
    _invoke(*sets, "--features", "pixels", "--n", "100", "--n-ref", "120", "--json", str(out))
    written = json.loads(out.read_text())
    assert (written[PROTOCOL]["n_a"], written[PROTOCOL]["n_ref"]) == (120, 120)
    expected = evaluate(*sets, features="pixels", n=100, n_ref=120, cache=False, progress=False)
    assert written[keys.FID] == pytest.approx(expected[keys.FID], rel=1e-12)
    _invoke(*sets, "--features", "pixels", "--n", "100", "--json", str(out))  # as before
    protocol = json.loads(out.read_text())[PROTOCOL]
    assert (protocol["n_a"], protocol["n_b"], protocol["n_ref"]) == (100, 100, 100)


# --- 6. every mistake is one line that quotes the flag -----------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--n", "0"], "error: --n must be an integer of at least 1, got 0; pass how many"),
        (["--n", "abc"], "error: --n must be an integer of at least 1, got 'abc'"),
        (["--n-ref", "0"], "error: --n-ref must be an integer of at least 1 or 'all', got 0"),
        (["--n-ref", "most"], "error: --n-ref must be an integer of at least 1 or 'all'"),
        (["--batch-size", "0"], "error: --batch-size must be an integer of at least 1, got 0"),
        (["--ci-resamples", "1"], "error: --ci-resamples must be an integer of at least 2"),
        (["--seed", "-1"], "error: --seed must be an integer from 0 to 2**63 - 2, got -1"),
        (["--kid-subsets", "0"], "error: --kid-subsets must be an integer of at least 1, got 0"),
        (["--kid-subset-size", "1"], "error: --kid-subset-size must be an integer of at least 2"),
        (
            ["--metrics", "kid", "--kid-subset-size", "500"],
            f"error: --kid-subset-size 500 is more than the images of A and B ({N} and {N}); "
            f"pass --kid-subset-size {N} or less",
        ),
        (["--kid-subsets", "5"], "error: --kid-subsets sets how KID is computed, but --metrics"),
        (["--metrics", "fdi"], "error: --metrics fdi: unknown metric 'fdi' (did you mean 'fid'?)"),
        (
            ["--features", "incepton"],
            "error: --features incepton: unknown feature extractor 'incepton' "
            "(did you mean 'inception'?)",
        ),
        (["--json", "missing/r.json"], "error: --json missing/r.json: the folder missing does"),
    ],
)
def test_option_mistakes_are_one_line_quoting_the_flag(sets, capsys, tmp_path, args, expected):
    err = _error(capsys, *sets, *args)
    assert err.startswith(expected), err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.npz", "b.npz"]  # nothing left


def test_save_stats_mistakes_are_one_line(sets, capsys, tmp_path):
    err = _error(capsys, sets[0], "--save-stats", "s.npz", "--metrics", "kid")
    assert err.startswith("error: --save-stats writes the statistics of SOURCE_A"), err
    assert "leave out --metrics" in err
    assert not (tmp_path / "s.npz").exists()


def test_n_ref_of_a_statistics_file_is_refused(sets, capsys, tmp_path):
    stats = _pixel_statistics(tmp_path / "a-stats.npz", sets[0])
    capsys.readouterr()
    err = _error(capsys, stats, sets[1], "--n-ref", "100")
    assert err.startswith(f"error: --n-ref 100 does not apply to A ({stats})"), err


# --- 7. every option explains itself and shows its default ------------------------------------


def test_every_option_has_help_and_shows_its_default():
    options = [
        param
        for param in eval_.params
        if isinstance(param, click.Option) and param.name not in ("help",)
    ]
    for option in options:
        assert option.help, f"{option.opts[0]} has no help"
        assert option.show_default not in (None, False), f"{option.opts[0]} hides its default"
    text = CliRunner().invoke(cli, ["eval", "--help"], terminal_width=200).output
    assert text.count("[default:") == len(options)
    assert "Bootstrap resamples of --ci.  [default: 100]" in text
    assert "--no-progress" in text
