"""The ``genlab`` command: a group whose subcommands live one per module and load on demand.

Loading lazily keeps ``genlab --help`` fast (no torch import for the listing) while each command
module stays thin: parse, call the library, print.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings

import click

from genlab.errors import GenlabError, did_you_mean

# name -> (module, attribute, one-line help shown by `genlab --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "train": ("genlab.cli.train", "train", "Train a VAE, GAN, WGAN, WGAN-GP or SN-GAN."),
    "sample": ("genlab.cli.sample", "sample", "Generate images from a trained run."),
    "eval": ("genlab.cli.eval", "eval_", "Measure images: FID, KID, IS, precision/recall, ..."),
    "classifier": ("genlab.cli.classifier", "classifier", "Train or inspect the MNIST classifier."),
    "weights": ("genlab.cli.weights", "weights", "Install and list the FID Inception weights."),
    "lipschitz": ("genlab.cli.lipschitz", "lipschitz", "Bound a critic's Lipschitz constant."),
    "experiment": ("genlab.cli.experiment", "experiment", "Run one of the lecture's experiments."),
    "report": ("genlab.cli.report", "report", "Write an HTML report of one or more training runs."),
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attribute, _ = COMMANDS[cmd_name]
        return getattr(importlib.import_module(module_name), attribute)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            known = ", ".join(sorted(COMMANDS))
            ctx.fail(f"no command {name!r}{did_you_mean(name, COMMANDS)}; the commands are {known}")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="genlab")
def cli() -> None:
    """genlab: train generative models of images and measure how good the generated images are."""


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, printing user errors as one line without a traceback."""
    warnings.formatwarning = _one_line_warning
    try:
        cli.main(args=argv, prog_name="genlab", standalone_mode=False)
    except GenlabError as exc:
        click.echo(f"{_error_label()}: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        # One line like every other error, with where to read more, not click's usage block.
        command = exc.ctx.command_path if exc.ctx is not None else "genlab"
        click.echo(f"{_error_label()}: {exc.format_message()} (see '{command} --help')", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    _leave_process_group()


def _leave_process_group() -> None:
    """After a command that went well, let every rank of a torchrun job finish together."""
    # Only a command that joined a job has a group to leave; importing torch to find out would
    # slow every other command down.
    distributed = sys.modules.get("genlab.distributed")
    if distributed is not None:
        distributed.finish()


def _error_label() -> str:
    """``error``, or ``error (rank N)`` in a process of a torchrun job, where every rank reports
    (an error shared by all ranks then shows once per rank, each line saying which)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    return f"error (rank {os.environ.get('RANK', '?')})" if world_size > 1 else "error"


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    # A user of the command needs what happened, not the line of genlab that noticed it.
    return f"warning: {message}\n"
