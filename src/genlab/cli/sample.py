"""``genlab sample``: generated images from a run, as a PNG folder or an .npz file."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import click

#: What ``--out`` may be, for error messages.
_OUT_FORMS = "a folder (no suffix, or an existing empty folder) for one PNG per sample, or FILE.npz"


@click.command(context_settings={"show_default": True})
@click.argument("run", type=click.Path(exists=True))
@click.option("--n", "count", type=click.IntRange(min=1), default=64, help="How many samples.")
@click.option("--seed", type=int, default=0, help="Seed of the latent noise.")
@click.option(
    "--out",
    required=True,
    type=click.Path(),
    help="A new or empty folder (one PNG per sample, 000000.png, ...) or FILE.npz (key "
    "'images', or 'points' for a 2-D toy run).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=256,
    help="Samples generated per forward pass (memory, not results).",
)
@click.option("--no-ema", is_flag=True, help="Use the raw generator even if the run kept an EMA.")
@click.option(
    "--grid", type=click.Path(dir_okay=False), help="Also write the first 64 as one PNG grid."
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def sample(
    run: str,
    count: int,
    seed: int,
    out: str,
    batch_size: int,
    no_ema: bool,
    grid: str | None,
    no_progress: bool,
) -> None:
    """Generate N samples from RUN (a run folder or a checkpoint file).

    --out and --grid are checked before anything is generated, and a run that fails leaves
    nothing behind: the folder is written under a temporary name and renamed when complete.
    """
    import torch

    from genlab.errors import GenlabError
    from genlab.fileio import removed_on_failure
    from genlab.progress import Progress
    from genlab.runs import iter_generated

    target = Path(out)
    to_npz = _check_out(target)
    if grid is not None and Path(grid).suffix.lower() != ".png":
        raise GenlabError(
            f"--grid {grid}: {Path(grid).suffix or 'no suffix'!r}, but the grid is a PNG image; "
            "pass a file name ending in .png"
        )

    generated = iter_generated(run, count, seed=seed, batch_size=batch_size, ema=not no_ema)
    first = next(generated)  # loads the network: only now is it known whether it makes images
    if first.dtype != torch.uint8:
        if not to_npz:
            raise GenlabError(
                f"{run} is a toy run: it makes 2-D points, not images; pass --out FILE.npz"
            )
        if grid is not None:
            raise GenlabError(f"{run} is a toy run: it makes 2-D points, so --grid cannot be drawn")
    batches = [first]
    with Progress(total=count, unit="img", desc="sampling", enabled=not no_progress) as bar:
        bar.update(len(first))
        for batch in generated:
            batches.append(batch)
            bar.update(len(batch))
    samples = torch.cat(batches)

    with removed_on_failure(target, *([grid] if grid else [])):
        _write(target, samples, to_npz=to_npz)
        if grid is not None:
            from genlab.data.imageio import save_grid

            save_grid(grid, samples[:64], nrow=8)
    click.echo(f"wrote {len(samples)} samples to {target}")


def _check_out(target: Path) -> bool:
    """True for FILE.npz, False for a folder; anything else is refused with what to pass."""
    from genlab.errors import GenlabError

    if target.suffix.lower() == ".npz":
        if target.is_dir():
            raise GenlabError(f"--out {target} is a folder; pass a file name ending in .npz")
        return True
    if target.is_dir():
        if any(target.iterdir()):
            raise GenlabError(
                f"--out {target} already holds files; pass a new or empty folder, so the samples "
                "are not mixed with others"
            )
        return False
    if target.exists():
        raise GenlabError(f"--out {target} is a file; pass {_OUT_FORMS}")
    if target.suffix:
        raise GenlabError(f"--out {target}: unknown suffix {target.suffix!r}; pass {_OUT_FORMS}")
    return False


def _write(target: Path, samples, *, to_npz: bool) -> None:
    import io

    import numpy as np
    import torch

    from genlab.data import imageio
    from genlab.fileio import atomic_write_bytes

    if samples.dtype != torch.uint8:  # 2-D points of a toy run
        buffer = io.BytesIO()
        np.savez(buffer, points=samples.numpy())
        atomic_write_bytes(target, buffer.getvalue())
    elif to_npz:
        imageio.write_npz(target, samples)
    else:
        # Written under a temporary name beside the target, so the folder appears complete or
        # not at all (a crash can leave only the hidden temporary folder).
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.partial"
        partial.mkdir()
        try:
            imageio.write_image_folder(partial, samples)
            if target.is_dir():
                target.rmdir()  # empty (checked): os.replace cannot replace a folder everywhere
            os.replace(partial, target)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
