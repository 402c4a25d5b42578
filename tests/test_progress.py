"""Progress in a log file: a few plain lines and no carriage returns; a bar only on a terminal."""

from __future__ import annotations

import io

import pytest
import torch

from genlab.progress import Progress, format_duration


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_file_gets_a_line_every_interval_and_one_at_the_end(capsys):
    clock = FakeClock()
    with Progress(total=5000, desc="training", unit="step", clock=clock) as bar:
        for _ in range(5000):
            clock.now += 0.1  # 10 steps/s: 500 s in all, so one line every 30 s
            bar.update(1)
            bar.set_postfix({"loss": "0.1234"})
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err
    assert len(lines) == 500 // 30 + 1
    assert lines[0] == "training: 300/5000 steps (6%), 10 step/s, eta 7m50s, loss=0.1234"
    assert lines[-1] == "training: 5000/5000 steps (100%), 10 step/s, loss=0.1234"


def test_a_short_loop_writes_only_the_last_line():
    stream, clock = io.StringIO(), FakeClock()
    with Progress(total=10, desc="sampling", unit="img", stream=stream, clock=clock) as bar:
        for _ in range(10):
            clock.now += 0.5
            bar.update(1)
    assert stream.getvalue() == "sampling: 10/10 imgs (100%), 2 img/s\n"


def test_unknown_total_bytes_and_resumed_runs():
    stream, clock = io.StringIO(), FakeClock()
    with Progress(desc="mnist.gz", unit="B", unit_scale=True, stream=stream, clock=clock) as bar:
        clock.now += 4
        bar.update(12_300_000)
    assert stream.getvalue() == "mnist.gz: 12.3 MB, 3.08 MB/s\n"

    stream = io.StringIO()
    bar = Progress(total=100, initial=90, unit="step", stream=stream, clock=clock)
    clock.now += 5
    bar.update(5)
    assert bar.line() == "95/100 steps (95%), 1 step/s, eta 5s"  # the rate counts only new steps
    bar.close()
    bar.close()  # closing twice writes nothing more
    assert stream.getvalue().count("\n") == 1


def test_disabled_writes_nothing():
    stream = io.StringIO()
    with Progress(total=3, enabled=False, stream=stream) as bar:
        bar.update(3)
        bar.set_postfix(loss=1.0)
    assert stream.getvalue() == ""


def test_a_terminal_gets_the_tqdm_bar():
    stream = Terminal()
    with Progress(total=3, desc="sampling", unit="img", stream=stream) as bar:
        bar.update(3)
    assert "\r" in stream.getvalue()
    assert "3/3" in stream.getvalue()


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.4, "0s"), (45, "45s"), (92, "1m32s"), (7500, "2h05m")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


# --- The callers: every bar of genlab writes plain lines when stderr is a file ---------------


def _assert_one_plain_line(err: str, label: str) -> None:
    assert "\r" not in err
    lines = [line for line in err.splitlines() if line.startswith(label)]
    assert len(lines) == 1, err


def test_training_logger(tmp_path, capsys):
    from genlab.training.logging import RunLogger

    logger = RunLogger(tmp_path, total=200, initial=0, tensorboard=False, progress=True)
    for step in range(1, 201):
        logger.advance()
        logger.log(step, {"loss": 0.5})
    logger.close()
    err = capsys.readouterr().err
    _assert_one_plain_line(err, "training: 200/200 steps (100%)")
    assert "loss=0.5" in err


def test_feature_extraction(capsys):
    from genlab.metrics.features.pixels import PixelExtractor
    from genlab.metrics.features.registry import extract_features

    images = torch.randint(0, 256, (40, 1, 4, 4), dtype=torch.uint8)
    extract_features(PixelExtractor(), images, batch_size=4, progress=True)
    _assert_one_plain_line(capsys.readouterr().err, "pixels features: 40/40 imgs")


def test_classifier_training(capsys):
    from genlab.metrics.features.classifier import ClassifierConfig, MNISTClassifier, _train_epochs

    model = MNISTClassifier(ClassifierConfig(channels=(4, 4, 4), hidden=8))
    images = torch.randint(0, 256, (16, 1, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (16,))
    generator = torch.Generator().manual_seed(0)
    _train_epochs(
        model,
        images,
        labels,
        epochs=2,
        batch_size=8,
        learning_rate=1e-3,
        generator=generator,
        progress=True,
    )
    err = capsys.readouterr().err
    _assert_one_plain_line(err, "classifier: 4/4 steps (100%)")
    assert "epoch=2" in err


def test_download(tmp_path, capsys):
    import hashlib

    from genlab.data.download import download_file

    source = tmp_path / "source.bin"
    source.write_bytes(b"x" * 3000)
    expected = hashlib.sha256(source.read_bytes()).hexdigest()
    download_file([source.as_uri()], tmp_path / "dest.bin", sha256=expected, progress=True)
    _assert_one_plain_line(capsys.readouterr().err, "dest.bin: 3 kB/3 kB (100%)")
