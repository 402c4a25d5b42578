"""A run folder's layout: numbering, recognition, sample grids, and where evaluations are filed."""

from __future__ import annotations

import json

import pytest

from genlab.errors import GenlabError
from genlab.runs import RunFolder, evaluation_name, new_run_dir, sample_path, write_evaluation


def _result(extractor: str | None, metrics: list[str], n_a: int | None, n_b: int | None) -> dict:
    features = {"extractor": extractor} if extractor else None
    protocol = {"features": features, "metrics": metrics, "n_a": n_a, "n_b": n_b}
    return {"fid": 1.5, "protocol": protocol}


@pytest.mark.parametrize(
    ("result", "name"),
    [
        (_result("pixels", ["fid", "kid"], 40, 40), "pixels-fid-kid-n40"),
        (_result("inception", ["fid"], 100, 40), "inception-fid-n40-ref100"),
        (_result(None, ["recon"], 1797, None), "recon-ref1797"),
    ],
)
def test_an_evaluation_is_named_by_what_was_measured_and_how(result, name):
    assert evaluation_name(result) == name


def test_evaluations_are_filed_by_name_and_replaced_when_run_again(tmp_path):
    result = _result("pixels", ["fid"], 10, 10)
    path = write_evaluation(tmp_path, result)
    assert path == tmp_path / "evaluations" / "pixels-fid-n10.json"
    write_evaluation(tmp_path, {**result, "fid": 2.5})
    named = RunFolder(tmp_path).write_evaluation(result, name="classifier-mnist")
    assert named.name == "classifier-mnist.json"
    assert RunFolder(tmp_path).evaluations() == [named, path]
    assert json.loads(path.read_text())["fid"] == 2.5


def test_numbered_folders_and_what_makes_a_run(tmp_path):
    first = new_run_dir("wgan gp/mnist", root=tmp_path)
    second = new_run_dir("vae", root=tmp_path)
    assert [first.name, second.name] == ["00000-wgan-gp-mnist", "00001-vae"]
    with pytest.raises(GenlabError, match="not a run folder"):
        RunFolder.open(first)
    (first / "config.json").write_text('{"kind": "gan"}')
    (first / "model.json").write_text("[]")
    run = RunFolder.open(first)
    assert run.config() == {"kind": "gan"}
    with pytest.raises(GenlabError, match=r"model\.json.*not a JSON object"):
        run.model()


def test_sample_grids_in_step_order(tmp_path):
    for step in (10, 2):
        sample_path(tmp_path, step).parent.mkdir(exist_ok=True)
        sample_path(tmp_path, step).write_bytes(b"")
    (tmp_path / "samples" / "notes.txt").write_text("x")
    assert [step for step, _ in RunFolder(tmp_path).sample_grids()] == [2, 10]
