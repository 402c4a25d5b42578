"""Training throughput: genlab's loop against a minimal hand-written PyTorch loop, same computation.

Both loops train the same networks (same seed, same initial weights) with the same optimiser,
batch, objective, gradient penalty and n_critic on the same in-memory data; the hand loop has no
logging, checkpoints, EMA or checks. Each is run ``--repeats`` times, interleaved, and the median
images/s is compared. genlab's overhead should stay within 5%.

    python benchmarks/train_throughput.py --data mnist --steps 60        # needs GENLAB_DATA_DIR
    python benchmarks/train_throughput.py --data digits --steps 300
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from genlab.data.sources import load_dataset
from genlab.models.registry import build_critic, build_generator
from genlab.training.config import resolve_config
from genlab.training.trainer import Trainer


def genlab_loop(config) -> float:
    """Seconds for ``schedule.steps`` generator steps of the Trainer, final checkpoint included."""
    with tempfile.TemporaryDirectory() as folder:
        config.out = f"{folder}/run"
        trainer = Trainer.start(config)
        start = time.perf_counter()
        trainer.train()
        return time.perf_counter() - start


def hand_loop(config) -> float:
    """The same computation written directly: WGAN-GP or clipped WGAN with n_critic steps."""
    torch.manual_seed(config.seed)
    images = load_dataset(config.data, limit=config.limit).images
    model_config = config.model.for_data(tuple(images.shape[1:]))
    optimiser, objective = config.optimiser, config.objective
    generator, critic = build_generator(model_config), build_critic(model_config)
    opt_g = torch.optim.Adam(
        generator.parameters(), lr=optimiser.lr_generator, betas=optimiser.betas
    )
    opt_d = torch.optim.Adam(critic.parameters(), lr=optimiser.lr_critic, betas=optimiser.betas)
    order = torch.randperm(len(images))
    batch, position = config.batch_size, 0
    start = time.perf_counter()
    for _ in range(config.schedule.steps):
        critic.requires_grad_(True)
        for _ in range(objective.n_critic):
            if position + batch > len(images):
                order, position = torch.randperm(len(images)), 0
            real = images[order[position : position + batch]].float() / 127.5 - 1
            position += batch
            with torch.no_grad():
                fake = generator(torch.randn(batch, config.model.latent_dim))
            loss = critic(fake).mean() - critic(real).mean()
            eps = torch.rand(batch, 1, 1, 1) if real.ndim == 4 else torch.rand(batch, 1)
            mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(critic(mix).sum(), mix, create_graph=True)
            loss = loss + objective.gp_weight * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
            opt_d.zero_grad(set_to_none=True)
            loss.backward()
            opt_d.step()
        critic.requires_grad_(False)
        loss_g = -critic(generator(torch.randn(batch, config.model.latent_dim))).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--limit", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())

    def config():
        return resolve_config(
            "wgan-gp",
            data=args.data,
            limit=args.limit,
            steps=args.steps,
            batch_size=args.batch_size,
            width=args.width,
            critic_norm="none",
            progress=False,
            tensorboard=False,
            sample_every=10**9,
            checkpoint_every=10**9,
            log_every=10,
        )

    # Real images drawn per second: n_critic batches per generator step.
    images = args.steps * config().objective.n_critic * args.batch_size
    hand_loop(config())  # warm-up: first-call allocations and kernel selection
    timings = {"hand-written loop": [], "genlab Trainer": []}
    for _ in range(args.repeats):
        timings["hand-written loop"].append(hand_loop(config()))
        timings["genlab Trainer"].append(genlab_loop(config()))
    base = images / statistics.median(timings["hand-written loop"])
    print(
        f"\nWGAN-GP on {args.data}: {args.steps} generator steps × n_critic 5 × batch "
        f"{args.batch_size}, {torch.get_num_threads()} threads, median of {args.repeats}\n"
    )
    print(f"{'loop':<20} {'images/s':>10} {'ratio':>8}")
    for name, seconds in timings.items():
        rate = images / statistics.median(seconds)
        print(f"{name:<20} {rate:>10.1f} {rate / base:>8.3f}")


if __name__ == "__main__":
    main()
