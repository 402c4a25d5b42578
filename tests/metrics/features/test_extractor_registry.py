"""Extractor registry (lazy built-ins, option checking) and the batched extraction loop."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from genlab.errors import GenlabError
from genlab.metrics.features import registry
from genlab.metrics.features.pixels import PixelExtractor
from genlab.metrics.features.registry import (
    FeatureExtractor,
    extract_features,
    get_extractor,
    list_extractors,
    register_extractor,
)


@pytest.fixture(autouse=True)
def _private_registry(monkeypatch):
    """Registrations made by a test vanish after it."""
    monkeypatch.setattr(registry, "_EXTRACTORS", dict(registry._EXTRACTORS))


class RecordingExtractor:
    """Sum and mean of each image, remembering the batch sizes it was given."""

    name = "recording"
    dim = 2

    def __init__(self, *, scale: float = 1.0) -> None:
        self.scale = scale
        self.batch_sizes: list[int] = []

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(images.shape[0])
        values = images.flatten(start_dim=1).to(torch.float32) * self.scale
        return torch.stack([values.sum(dim=1), values.mean(dim=1)], dim=1)

    def protocol(self) -> dict:
        return {"extractor": self.name, "scale": self.scale}


def test_built_ins_are_listed_with_descriptions():
    extractors = list_extractors()
    assert {"pixels", "inception"} <= extractors.keys()
    assert "area" in extractors["pixels"]
    assert list(extractors) == sorted(extractors)


def test_importing_the_registry_imports_no_network_code():
    code = (
        "import sys, genlab.metrics.features.registry as r; r.list_extractors(); "
        "print('genlab.metrics.features.inception' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_get_builtin_pixels_with_options():
    extractor = get_extractor("pixels", size=4)
    assert isinstance(extractor, PixelExtractor)
    assert extractor.size == 4


def test_unknown_name_suggests_the_closest_and_lists_the_known_ones():
    with pytest.raises(
        GenlabError,
        match=r"unknown feature extractor 'pixel' \(did you mean 'pixels'\?\); "
        r"known extractors: .*pixels",
    ):
        get_extractor("pixel")
    with pytest.raises(GenlabError, match=r"unknown feature extractor 'zzz'; known extractors"):
        get_extractor("zzz")


def test_misspelt_option_is_rejected_with_the_accepted_ones():
    with pytest.raises(GenlabError, match=r"does not accept option\(s\) sise; it accepts: size"):
        get_extractor("pixels", sise=4)


def test_register_callable_and_replace():
    register_extractor("recording", RecordingExtractor, description="test extractor")
    assert list_extractors()["recording"] == "test extractor"
    assert get_extractor("recording", scale=2.0).scale == 2.0
    with pytest.raises(GenlabError, match="already registered"):
        register_extractor("recording", RecordingExtractor, description="again")
    register_extractor("recording", PixelExtractor, description="replaced", replace=True)
    assert isinstance(get_extractor("recording"), PixelExtractor)


def test_register_by_module_path_string_resolves_lazily():
    register_extractor(
        "pixels-again", "genlab.metrics.features.pixels:PixelExtractor", description="same"
    )
    assert isinstance(get_extractor("pixels-again", size=2), PixelExtractor)
    register_extractor("broken", "genlab.no_such_module:Thing", description="broken")
    with pytest.raises(GenlabError, match=r"could not be loaded from 'genlab\.no_such_module"):
        get_extractor("broken")


@pytest.mark.parametrize("factory", ["no_colon_here", 42])
def test_bad_factories_are_rejected(factory):
    with pytest.raises(GenlabError, match="factory"):
        register_extractor("bad", factory, description="bad")


def test_extract_features_from_a_tensor_in_batches():
    images = torch.randint(0, 256, (10, 1, 3, 3), dtype=torch.uint8)
    extractor = RecordingExtractor()
    features = extract_features(extractor, images, batch_size=4, progress=False)
    assert extractor.batch_sizes == [4, 4, 2]
    values = images.flatten(start_dim=1).to(torch.float32)
    torch.testing.assert_close(features, torch.stack([values.sum(1), values.mean(1)], dim=1))


def test_extract_features_from_an_iterable_with_labels():
    images = torch.randint(0, 256, (7, 3, 2, 2), dtype=torch.uint8)
    batches = [(images[:5], torch.zeros(5)), [images[5:], torch.zeros(2)]]
    extractor = RecordingExtractor()
    features = extract_features(extractor, iter(batches), batch_size=3, progress=False)
    assert extractor.batch_sizes == [3, 2, 2]
    torch.testing.assert_close(features, RecordingExtractor()(images))


def test_pixel_extractor_through_the_loop_satisfies_the_protocol():
    images = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    extractor = get_extractor("pixels", size=4)
    features = extract_features(extractor, images, batch_size=4, progress=False)
    assert features.shape == (6, 48)
    assert isinstance(extractor, FeatureExtractor)
    torch.testing.assert_close(features, PixelExtractor(size=4)(images))


def test_progress_bar_counts_images_per_second(capsys):
    images = torch.zeros(5, 1, 2, 2, dtype=torch.uint8)
    extract_features(RecordingExtractor(), images, batch_size=2, progress=True)
    err = capsys.readouterr().err
    assert "recording features" in err
    assert "5/5" in err
    assert "img/s" in err


def test_wrong_output_shape_is_reported():
    class Broken(RecordingExtractor):
        dim = 3

    with pytest.raises(GenlabError, match=r"returned .* \(2, 2\) for 2 images; .* shape \(2, 3\)"):
        extract_features(Broken(), torch.zeros(2, 1, 2, 2, dtype=torch.uint8), progress=False)


def test_no_images_and_bad_batches_are_rejected():
    with pytest.raises(GenlabError, match="no images"):
        extract_features(RecordingExtractor(), [], progress=False)
    with pytest.raises(GenlabError, match="image batch must be a uint8"):
        extract_features(RecordingExtractor(), [torch.zeros(2, 1, 2, 2)], progress=False)
    with pytest.raises(GenlabError, match="batch_size"):
        extract_features(
            RecordingExtractor(), torch.zeros(2, 1, 2, 2, dtype=torch.uint8), batch_size=0
        )
