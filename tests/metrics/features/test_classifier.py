"""The MNIST classifier extractor: shipped weights verified and accurate on real MNIST, features
consistent with the unfolded network, input rules, checksum failures, and the training path."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
import torch
import torch.nn.functional as F

from genlab.data.mnist import load_mnist
from genlab.errors import ChecksumError, DataUnavailableError, GenlabError
from genlab.metrics.features import classifier as clf
from genlab.metrics.features.classifier import (
    CLASSIFIER_MNIST_SHA256,
    ClassifierConfig,
    ClassifierExtractor,
    FoldedClassifier,
    MNISTClassifier,
    load_classifier,
    preprocess,
    train_classifier,
)
from genlab.metrics.features.inception import PROTOCOL_RESIZE, PROTOCOL_WEIGHTS_SHA256
from genlab.metrics.features.registry import get_extractor
from genlab.metrics.modes import MODES_COVERED, mode_coverage


@pytest.fixture(scope="module")
def extractor() -> ClassifierExtractor:
    return ClassifierExtractor()


@pytest.fixture(scope="module")
def mnist_test(mnist_dir):
    return load_mnist("test", data_dir=mnist_dir.parent, download=False).subset(1000)


def test_shipped_weights_match_the_pin_and_the_metadata(extractor):
    path = clf.shipped_weights_path()
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == CLASSIFIER_MNIST_SHA256 == extractor.sha256
    assert len(data) < 600_000  # a few hundred KB, shipped inside the package
    metadata = json.loads(clf.metadata_path_for(path).read_text())
    assert metadata["sha256"] == CLASSIFIER_MNIST_SHA256
    assert metadata["test_accuracy"] >= 0.99
    assert metadata["test_images"] == 10000
    assert metadata["config"] == json.loads(extractor.config.to_json())
    assert metadata["command"].startswith("OMP_NUM_THREADS=1 genlab classifier train --epochs ")
    assert metadata["threads"] == 1


def test_accuracy_on_the_first_1000_mnist_test_images(extractor, mnist_test):
    predicted = extractor.predict(mnist_test.images)
    accuracy = (predicted == mnist_test.labels).double().mean().item()
    assert accuracy >= 0.985


def test_probabilities_are_a_softmax_agreeing_with_predictions(extractor, mnist_test):
    images = mnist_test.images[:200]
    probabilities = extractor.probabilities(images)
    assert probabilities.shape == (200, 10)
    assert probabilities.dtype == torch.float32
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(200))
    # Each prediction is a most probable class; near-ties may resolve either way in float32.
    predicted = extractor.predict(images)
    chosen = probabilities.gather(1, predicted[:, None])[:, 0]
    assert (chosen >= probabilities.max(dim=1).values - 1e-6).all()
    # Real digits: the classifier finds every one of the ten classes.
    assert mode_coverage(probabilities)[MODES_COVERED] == 10


def test_features_shape_dtype_and_determinism(extractor, mnist_test):
    images = mnist_test.images[:300]
    features = extractor(images)
    assert extractor.dim == 128
    assert features.shape == (300, 128)
    assert features.dtype == torch.float32
    assert torch.isfinite(features).all()
    assert (features >= 0).all()  # taken after the ReLU
    assert torch.equal(features, extractor(images))
    small_batches = ClassifierExtractor(batch_size=7)(images)
    torch.testing.assert_close(small_batches, features, rtol=1e-5, atol=1e-5)
    assert extractor(images[:0]).shape == (0, 128)


def test_folded_network_matches_the_trained_network(extractor, mnist_test):
    # Reference: the unfolded network in eval mode on the same [-1, 1] input (x / 127.5 - 1).
    x = mnist_test.images[:100].float() / 127.5 - 1.0
    with torch.inference_mode():
        expected_features = extractor.network.penultimate(x)
        expected_logits = extractor.network(x)
    torch.testing.assert_close(extractor(mnist_test.images[:100]), expected_features)
    torch.testing.assert_close(
        extractor.logits(mnist_test.images[:100]), expected_logits, rtol=1e-4, atol=1e-4
    )


def test_fold_batch_norm_formula_on_a_random_network():
    torch.manual_seed(1)
    model = MNISTClassifier(ClassifierConfig(channels=(4, 6), hidden=5))
    for layer in model.features:
        if isinstance(layer, torch.nn.BatchNorm2d):  # non-trivial statistics and affine terms
            layer.running_mean.uniform_(-1, 1)
            layer.running_var.uniform_(0.5, 2)
            layer.weight.data.uniform_(-2, 2)  # negative scales too (BN precedes the pool)
            layer.bias.data.uniform_(-1, 1)
    model.eval()
    x = torch.randn(8, 1, 28, 28)
    with torch.inference_mode():
        torch.testing.assert_close(FoldedClassifier(model)(x), model(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(GenlabError, match="eval mode"):
        FoldedClassifier(model.train())


def test_protocol_names_everything_that_changes_the_features(extractor):
    protocol = extractor.protocol()
    assert protocol["extractor"] == "classifier-mnist"
    assert protocol[PROTOCOL_WEIGHTS_SHA256] == CLASSIFIER_MNIST_SHA256
    assert protocol[PROTOCOL_RESIZE] == "error"
    other = ClassifierExtractor(rgb="luminance", resize="bilinear").protocol()
    assert other != protocol
    assert json.loads(json.dumps(protocol)) == protocol


def test_registry_builds_the_extractor():
    built = get_extractor("classifier-mnist", batch_size=64)
    assert built.name == "classifier-mnist"
    assert built.dim == 128


def test_rgb_input_is_refused_unless_luminance_is_asked_for(extractor, mnist_test):
    gray = mnist_test.images[:50]
    rgb = gray.expand(-1, 3, -1, -1).contiguous()
    with pytest.raises(GenlabError, match=r"grayscale.*rgb='luminance'"):
        extractor(rgb)
    # Gray replicated to RGB has luminance (0.299 + 0.587 + 0.114) · v = v.
    luminance = ClassifierExtractor(rgb="luminance")
    torch.testing.assert_close(luminance(rgb), extractor(gray), rtol=1e-5, atol=1e-4)
    # Independent luma: pure red 200 → 0.299 · 200 = 59.8 before the [-1, 1] scaling.
    red = torch.zeros(1, 3, 28, 28, dtype=torch.uint8)
    red[:, 0] = 200
    x = preprocess(red, rgb="luminance")
    torch.testing.assert_close(x, torch.full((1, 1, 28, 28), 59.8 / 127.5 - 1.0))


def test_other_sizes_are_refused_unless_resize_is_asked_for(extractor, mnist_test):
    images = mnist_test.images[:500]
    large = images.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # 56×56 digits
    with pytest.raises(GenlabError, match=r"28×28 images, got 56×56.*resize='bilinear'"):
        extractor(large)
    resizing = ClassifierExtractor(resize="bilinear")
    x = preprocess(large[:3], resize="bilinear")
    reference = F.interpolate(
        large[:3].float(), size=(28, 28), mode="bilinear", align_corners=False, antialias=True
    )
    torch.testing.assert_close(x, reference / 127.5 - 1.0)
    accuracy = (resizing.predict(large) == mnist_test.labels[:500]).double().mean().item()
    assert accuracy >= 0.97


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"rgb": "average"}, "rgb mode"),
        ({"resize": "nearest"}, "resize mode"),
        ({"batch_size": 0}, "batch_size"),
        ({"sha256": "0" * 64}, "weights=PATH"),
    ],
)
def test_invalid_options_are_rejected(options, match):
    with pytest.raises(GenlabError, match=match):
        ClassifierExtractor(**options)


def test_non_uint8_images_are_rejected(extractor):
    with pytest.raises(GenlabError, match="uint8"):
        extractor(torch.rand(2, 1, 28, 28))


def _corrupt_copy(tmp_path):
    copy = tmp_path / "classifier-mnist.safetensors"
    shutil.copyfile(clf.shipped_weights_path(), copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit inside the tensor data
    copy.write_bytes(bytes(data))
    return copy


def test_corrupted_shipped_weights_raise_checksum_error(tmp_path, monkeypatch):
    corrupt = _corrupt_copy(tmp_path)
    monkeypatch.setattr(clf, "shipped_weights_path", lambda *_: corrupt)
    with pytest.raises(ChecksumError, match=rf"{corrupt.name}.*expected {CLASSIFIER_MNIST_SHA256}"):
        ClassifierExtractor()
    with pytest.raises(ChecksumError, match="reinstall genlab"):
        ClassifierExtractor(weights=corrupt, sha256=CLASSIFIER_MNIST_SHA256)


def test_missing_or_foreign_weights_files(tmp_path):
    with pytest.raises(DataUnavailableError, match="genlab classifier train"):
        ClassifierExtractor(weights=tmp_path / "absent.safetensors")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(GenlabError, match="not a safetensors file"):
        load_classifier(garbage)
    from safetensors.torch import save_file

    # A genlab header over truncated tensor data, loaded without a pinned SHA-256.
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(clf.shipped_weights_path().read_bytes()[:-100])
    with pytest.raises(GenlabError, match="damaged tensors"):
        load_classifier(truncated)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, foreign)
    with pytest.raises(GenlabError, match="not a genlab classifier"):
        load_classifier(foreign)


def test_config_round_trip_and_unknown_fields():
    config = ClassifierConfig(channels=(8, 16), hidden=32, dropout=0.1)
    assert ClassifierConfig.from_json(config.to_json()) == config
    with pytest.raises(GenlabError, match="unknown fields"):
        ClassifierConfig.from_json('{"hidden": 32, "widht": 3}')
    with pytest.raises(GenlabError, match="too small"):
        ClassifierConfig(channels=(8, 8, 8, 8, 8, 8))


def test_tiny_training_run_is_deterministic_and_learns(tmp_path, mnist_dir):
    state_before = torch.random.get_rng_state()
    options = dict(
        data_dir=mnist_dir.parent,
        epochs=1,
        seed=3,
        batch_size=32,
        learning_rate=3e-3,
        train_limit=1024,
        test_limit=500,
        config=ClassifierConfig(channels=(8, 16), hidden=32),
    )
    path, accuracy = train_classifier(out=tmp_path / "a" / "tiny.safetensors", **options)
    again, accuracy_again = train_classifier(out=tmp_path / "b" / "tiny.safetensors", **options)
    assert torch.equal(torch.random.get_rng_state(), state_before)  # caller's RNG untouched
    assert path.read_bytes() == again.read_bytes()
    assert accuracy == accuracy_again
    assert accuracy >= 0.4  # 32 steps on 1024 digits: far above the 10% of chance

    metadata = clf.read_metadata(path)
    assert metadata["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert metadata["test_accuracy"] == accuracy
    assert metadata["limits"] == {"train": 1024, "test": 500}
    assert "--limit 1024 --test-limit 500" in metadata["command"]
    assert not list(path.parent.glob("*.tmp"))  # atomic writes leave no temporaries

    trained = ClassifierExtractor(weights=path, sha256=metadata["sha256"])
    assert trained.dim == 32
    assert trained.protocol()[PROTOCOL_WEIGHTS_SHA256] == metadata["sha256"]
    test = load_mnist("test", data_dir=mnist_dir.parent, download=False).subset(500)
    correct = int((trained.predict(test.images) == test.labels).sum())
    # The extractor folds batch norm into the convolutions, which moves logits by rounding only:
    # just an image whose top two logits (nearly) tie may change its prediction.
    top2 = trained.logits(test.images).topk(2, dim=1).values
    near_ties = int((top2[:, 0] - top2[:, 1] <= 1e-4 * top2.abs().max()).sum())
    assert abs(correct - round(accuracy * 500)) <= near_ties
