"""One option name per concept across commands; every option has help and shows its default."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from genlab.cli.main import cli

# Commands whose options are held to "help text, and the default shown" here.
OWNED = (
    ("sample",),
    ("experiment", "parallel-lines"),
    ("experiment", "toy"),
    ("experiment", "clipping"),
    ("experiment", "compare"),
    ("classifier", "train"),
    ("classifier", "info"),
    ("lipschitz",),
    ("report",),
    ("weights", "import"),
    ("weights", "list"),
)

# The old name of a concept -> the one name every command uses now.
RENAMED = {"--points": "--lipschitz-points", "--learning-rate": "--lr", "--train-limit": "--limit"}


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    ctx = click.Context(cli)
    for name in path:
        command = command.get_command(ctx, name)
    return command


def _all_commands():
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        if isinstance(command, click.Group):
            for sub in command.list_commands(ctx):
                yield (name, sub), command.get_command(ctx, sub)
        else:
            yield (name,), command


def _visible_options(command: click.Command):
    return [p for p in command.params if isinstance(p, click.Option) and not p.hidden]


@pytest.mark.parametrize("path", OWNED, ids=" ".join)
def test_every_option_has_help_and_shows_its_default(path):
    command = _command(path)
    ctx = click.Context(command, **command.context_settings)
    for option in _visible_options(command):
        assert option.help, f"{' '.join(path)} {option.opts[0]} has no help text"
        default = option.get_default(ctx, call=False)
        # No default (None, or click's UNSET) and a flag that is off by default have none to show.
        if default not in (None, False) and not isinstance(default, type(click.core.UNSET)):
            record = option.get_help_record(ctx)[1]
            assert "[default: " in record, f"{' '.join(path)} {option.opts[0]} hides its default"


def test_no_command_shows_an_old_name():
    for path, command in _all_commands():
        names = {name for option in _visible_options(command) for name in option.opts}
        assert not names & set(RENAMED), (
            f"genlab {' '.join(path)} still shows {names & set(RENAMED)}"
        )


def test_the_lipschitz_points_option_has_one_name():
    for path in (("lipschitz",), ("report",)):
        names = {name for option in _visible_options(_command(path)) for name in option.opts}
        assert "--lipschitz-points" in names


def test_classifier_train_uses_the_names_of_train():
    train = {name for o in _visible_options(_command(("train",))) for name in o.opts}
    classifier = {
        name for o in _visible_options(_command(("classifier", "train"))) for name in o.opts
    }
    for name in ("--lr", "--limit", "--no-progress", "--data-dir", "--seed", "--batch-size"):
        assert name in train
        assert name in classifier


def test_an_old_name_still_works_with_a_deprecation_note(monkeypatch):
    from genlab.metrics.features import classifier as clf

    seen = {}

    def fake_train(**options):
        seen.update(options)
        return clf.Path("w.safetensors"), 0.5

    monkeypatch.setattr(clf, "train_classifier", fake_train)
    result = CliRunner().invoke(
        cli, ["classifier", "train", "--learning-rate", "0.01", "--train-limit", "7"]
    )
    assert result.exit_code == 0, result.output
    assert seen["learning_rate"] == 0.01
    assert seen["train_limit"] == 7
    assert "deprecated" in result.stderr
    assert "--lr" in result.stderr
    assert "--limit" in result.stderr


def test_help_of_every_owned_command_renders():
    for path in OWNED:
        result = CliRunner().invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, result.output
