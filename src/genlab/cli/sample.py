"""``genlab sample``: generated images from a run, as a PNG folder or an .npz file."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("run", type=click.Path(exists=True))
@click.option("--n", "count", type=int, default=64, show_default=True, help="How many samples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the latent noise.")
@click.option("--out", required=True, type=click.Path(), help="A folder (PNG files) or FILE.npz.")
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--no-ema", is_flag=True, help="Use the raw generator even if the run kept an EMA.")
@click.option("--grid", type=click.Path(dir_okay=False), help="Also write one PNG grid of them.")
def sample(
    run: str, count: int, seed: int, out: str, batch_size: int, no_ema: bool, grid: str | None
) -> None:
    """Generate N samples from RUN (a run folder or a checkpoint file)."""
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    from genlab.data.imageio import save_grid, write_image_folder, write_npz
    from genlab.errors import GenlabError
    from genlab.training.generate import iter_generated

    batches = []
    with tqdm(total=count, unit="img", desc="sampling") as bar:
        for batch in iter_generated(run, count, seed=seed, batch_size=batch_size, ema=not no_ema):
            batches.append(batch)
            bar.update(len(batch))
    samples = torch.cat(batches)
    target = Path(out)
    if samples.dtype != torch.uint8:  # 2-D points of a toy run
        if target.suffix != ".npz":
            raise GenlabError("a toy run makes 2-D points, not images; pass --out FILE.npz")
        np.savez(target, points=samples.numpy())
    elif target.suffix == ".npz":
        write_npz(target, samples)
    else:
        write_image_folder(target, samples)
    if grid and samples.dtype == torch.uint8:
        save_grid(grid, samples[:64], nrow=8)
    click.echo(f"wrote {len(samples)} samples to {target}")
