"""The 8×8 digits classifier (classifier-digits): shipped weights pinned and reproducible, accurate
on the held-out digits:test, registered with class logits, refusing other sizes."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
import torch

from genlab.data.sources import load_dataset
from genlab.errors import ChecksumError, GenlabError
from genlab.metrics.features import classifier as clf
from genlab.metrics.features.classifier import (
    CLASSIFIER_DIGITS_SHA256,
    DigitsClassifierExtractor,
    train_classifier,
)
from genlab.metrics.features.inception import PROTOCOL_INPUT_SIZE, PROTOCOL_WEIGHTS_SHA256
from genlab.metrics.features.registry import capabilities, get_extractor

SHIPPED = clf.SHIPPED["digits"]


@pytest.fixture(scope="module")
def extractor() -> DigitsClassifierExtractor:
    return DigitsClassifierExtractor()


@pytest.fixture(scope="module")
def held_out():
    return load_dataset("digits:test")


def test_shipped_weights_match_the_pin_and_the_metadata(extractor):
    data = SHIPPED.weights_path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == CLASSIFIER_DIGITS_SHA256 == extractor.sha256
    assert len(data) < 200_000
    metadata = clf.read_metadata(SHIPPED.weights_path)
    assert metadata["sha256"] == CLASSIFIER_DIGITS_SHA256
    assert metadata["name"] == "classifier-digits"
    assert (metadata["train_images"], metadata["test_images"]) == (1500, 297)
    assert metadata["data"] == {"train": "digits:train", "test": "digits:test"}
    assert metadata["config"] == json.loads(extractor.config.to_json())
    assert metadata["command"].startswith("OMP_NUM_THREADS=1 genlab classifier train --data digits")


def test_accuracy_on_the_held_out_digits_is_the_recorded_one(extractor, held_out):
    predicted = extractor.predict(held_out.images)
    correct = int((predicted == held_out.labels).sum())
    recorded = clf.read_metadata(SHIPPED.weights_path)["test_accuracy"]
    # Folding batch norm moves logits by rounding only: a prediction may change at a near tie.
    top2 = extractor.logits(held_out.images).topk(2, dim=1).values
    near_ties = int((top2[:, 0] - top2[:, 1] <= 1e-4 * top2.abs().max()).sum())
    assert abs(correct - round(recorded * 297)) <= near_ties
    assert correct / 297 >= 0.95


def test_registered_with_class_logits(extractor, held_out):
    built = get_extractor("classifier-digits")
    assert built.name == "classifier-digits"
    assert built.dim == 64
    assert capabilities(built).logits
    assert capabilities(built).classes == 10
    features = built(held_out.images[:50])
    assert features.shape == (50, 64)
    assert features.dtype == torch.float32
    assert built.logits(held_out.images[:50]).shape == (50, 10)
    protocol = built.protocol()
    assert protocol[PROTOCOL_WEIGHTS_SHA256] == CLASSIFIER_DIGITS_SHA256
    assert protocol[PROTOCOL_INPUT_SIZE] == 8


def test_other_sizes_are_refused_naming_the_extractor(extractor):
    images = torch.zeros(2, 1, 28, 28, dtype=torch.uint8)
    with pytest.raises(GenlabError, match=r"classifier-digits takes 8×8 images, got 28×28"):
        extractor(images)


def test_a_damaged_shipped_file_fails_its_pin(tmp_path, monkeypatch):
    corrupt = tmp_path / SHIPPED.weights_filename
    shutil.copyfile(SHIPPED.weights_path, corrupt)
    data = bytearray(corrupt.read_bytes())
    data[-1] ^= 1
    corrupt.write_bytes(bytes(data))
    monkeypatch.setattr(clf, "shipped_weights_path", lambda *_: corrupt)
    with pytest.raises(ChecksumError, match=f"expected {CLASSIFIER_DIGITS_SHA256}"):
        DigitsClassifierExtractor()


def test_unknown_data_set_for_a_classifier():
    with pytest.raises(GenlabError, match="no classifier for 'cifar10'; choose one of mnist"):
        train_classifier(dataset="cifar10")


@pytest.mark.slow
def test_the_recorded_command_reproduces_the_pinned_file(tmp_path):
    metadata = clf.read_metadata(SHIPPED.weights_path)
    if metadata["torch"] != torch.__version__:
        pytest.skip(f"the file was written by torch {metadata['torch']}")
    threads = torch.get_num_threads()
    torch.set_num_threads(metadata["threads"])  # kernels sum in a thread-dependent order
    try:
        path, accuracy = train_classifier(dataset="digits", out=tmp_path / "digits.safetensors")
    finally:
        torch.set_num_threads(threads)
    if metadata.get("cpu_capability") == torch.backends.cpu.get_cpu_capability():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == CLASSIFIER_DIGITS_SHA256
        assert accuracy == metadata["test_accuracy"]
    else:
        # Other vector kernels round otherwise, and 40 epochs carry the difference into every
        # weight: the same recipe must still reach the recorded accuracy, to 6 of 297 images.
        assert abs(accuracy - metadata["test_accuracy"]) <= 6 / 297
