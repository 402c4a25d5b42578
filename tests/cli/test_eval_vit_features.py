"""``genlab eval --features dinov2-vit-l14 / clip-vit-l14-336`` with imported weights, and without.

No real weights can be had here, so the registered variants are shrunk to tiny random networks
built by transformers, whose state dicts are written as Hugging Face safetensors files and
imported with ``genlab weights import`` (the same path real files take).
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from genlab.cli.main import cli, main
from genlab.data.imageio import write_npz
from genlab.metrics import keys
from genlab.metrics.cmmd import cmmd
from genlab.metrics.features import clip, dinov2

transformers = pytest.importorskip("transformers")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def sets(tmp_path):
    generator = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (40, 3, 12, 12), generator=generator).to(torch.uint8)
    # B: flat colour patches, far from A's noise, so every distance is clearly positive.
    b = (
        torch.randint(0, 256, (40, 3, 1, 1), generator=generator)
        .to(torch.uint8)
        .expand(-1, -1, 12, 12)
    )
    write_npz(tmp_path / "a.npz", a)
    write_npz(tmp_path / "b.npz", b)
    return str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), a, b


def _random(model: torch.nn.Module) -> torch.nn.Module:
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn_like(parameter) * 0.2)
    return model.eval()


def _tiny_dinov2(monkeypatch, tmp_path):
    hf = _random(
        transformers.Dinov2Model(
            transformers.Dinov2Config(
                hidden_size=24, num_hidden_layers=1, num_attention_heads=2, image_size=224,
                patch_size=14, layerscale_value=0.5,
            )
        )
    )  # fmt: skip
    config = dataclasses.replace(
        dinov2.VARIANTS["dinov2-vit-l14"].config,
        width=24, depth=1, heads=2, grid=16, mlp_hidden=96,
    )  # fmt: skip
    tiny = dataclasses.replace(dinov2.VARIANTS["dinov2-vit-l14"], config=config)
    monkeypatch.setitem(dinov2.VARIANTS, tiny.name, tiny)
    monkeypatch.setattr(dinov2.vitl14, "variant", tiny)
    path = tmp_path / "dinov2.safetensors"
    save_file({k: v.contiguous() for k, v in hf.state_dict().items()}, path)
    return hf, path


def _tiny_clip(monkeypatch, tmp_path):
    hf = _random(
        transformers.CLIPVisionModelWithProjection(
            transformers.CLIPVisionConfig(
                hidden_size=24, intermediate_size=96, num_hidden_layers=1, num_attention_heads=2,
                patch_size=14, image_size=336, projection_dim=16, hidden_act="quick_gelu",
            )
        )
    )  # fmt: skip
    config = dataclasses.replace(
        clip.VARIANTS["clip-vit-l14-336"].config,
        width=24, depth=1, heads=2, mlp_hidden=96, embed_dim=16,
    )  # fmt: skip
    tiny = dataclasses.replace(clip.VARIANTS["clip-vit-l14-336"], config=config)
    monkeypatch.setitem(clip.VARIANTS, tiny.name, tiny)
    monkeypatch.setattr(clip.ViTL14336, "variant", tiny)
    path = tmp_path / "clip.safetensors"
    save_file({k: v.contiguous() for k, v in hf.state_dict().items()}, path)
    return hf, path


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_fd_pr_dc_on_dinov2_with_imported_weights(cache, sets, tmp_path, monkeypatch):
    hf, weights = _tiny_dinov2(monkeypatch, tmp_path)
    imported = _invoke("weights", "import", str(weights))
    assert "dinov2-vit-l14" in imported
    assert "no published SHA-256" in imported
    listed = _invoke("weights", "list")
    assert "dinov2-vit-l14.safetensors" in listed
    assert "not pinned  ok" in listed
    path_a, path_b, a, b = sets
    out = tmp_path / "result.json"
    output = _invoke(
        "eval", path_a, path_b, "--features", "dinov2-vit-l14", "--metrics", "fid,pr,dc",
        "--json", str(out), "--no-progress",
    )  # fmt: skip
    result = json.loads(out.read_text())
    assert "FD_dinov2-vit-l14 " in output
    assert "FID" not in output.split("protocol:")[0]
    assert result["protocol"]["labels"] == {keys.FID: "FD_dinov2-vit-l14"}
    assert result["protocol"]["features"]["extractor"] == "dinov2-vit-l14"
    assert result["protocol"]["features"]["weights_pinned"] is False
    # The numbers are those of transformers' model's features, through genlab's metric functions.
    from genlab.metrics.fid import fid_from_statistics
    from genlab.metrics.prdc import density_coverage, precision_recall
    from genlab.metrics.statistics import statistics_from_features

    with torch.no_grad():
        fa = hf(pixel_values=dinov2.preprocess(a)).pooler_output.double()
        fb = hf(pixel_values=dinov2.preprocess(b)).pooler_output.double()
    expected_fid = fid_from_statistics(statistics_from_features(fa), statistics_from_features(fb))
    assert result[keys.FID] == pytest.approx(expected_fid, rel=1e-3)
    assert result[keys.FID] > 1e-3
    for key, value in {**precision_recall(fa, fb, k=3), **density_coverage(fa, fb, k=5)}.items():
        assert result[key] == pytest.approx(value, abs=1e-9)


def test_cmmd_on_clip_with_imported_weights(cache, sets, tmp_path, monkeypatch):
    hf, weights = _tiny_clip(monkeypatch, tmp_path)
    _invoke("weights", "import", str(weights), "--features", "clip-vit-l14-336")
    path_a, path_b, a, b = sets
    out = tmp_path / "result.json"
    output = _invoke(
        "eval", path_a, path_b, "--features", "clip-vit-l14-336", "--metrics", "cmmd",
        "--json", str(out), "--no-progress",
    )  # fmt: skip
    result = json.loads(out.read_text())
    with torch.no_grad():
        ea = hf(pixel_values=clip.preprocess(a, 336)).image_embeds
        eb = hf(pixel_values=clip.preprocess(b, 336)).image_embeds
    assert result[keys.CMMD] == pytest.approx(cmmd(ea, eb), rel=1e-4)
    assert result[keys.CMMD] > 0.0
    assert output.startswith("CMMD       ")
    assert result["protocol"]["settings"]["cmmd_sigma"] == 10.0


@pytest.mark.parametrize(
    ("features", "metrics", "file"),
    [
        ("dinov2-vit-l14", "fid,pr,dc", "dinov2_vitl14_pretrain.pth"),
        ("clip-vit-l14-336", "cmmd", "ViT-L-14-336px.pt"),
    ],
)
def test_missing_weights_fail_at_once_in_one_line(cache, sets, capsys, features, metrics, file):
    path_a, path_b, _, _ = sets
    with pytest.raises(SystemExit) as exited:
        main(["eval", path_a, path_b, "--features", features, "--metrics", metrics])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ")
    assert error.count("\n") == 1
    assert file in error
    assert "genlab weights import PATH" in error
    assert "features" not in capsys.readouterr().err  # no progress: nothing was extracted


def test_resize_is_refused_for_other_extractors(sets, capsys):
    path_a, path_b, _, _ = sets
    with pytest.raises(SystemExit):
        main(["eval", path_a, path_b, "--features", "pixels", "--resize", "clean"])
    assert "--resize clean sets how the inception network runs" in capsys.readouterr().err
