"""Quality per CPU-minute: genlab's presets against a textbook WGAN-GP loop, same wall-clock budget.

Each named preset trains on MNIST with genlab's Trainer for ``--minutes`` of training time, and a
hand-written textbook WGAN-GP loop (small DCGAN-like networks, Adam 1e-4 with betas (0.5, 0.9),
λ = 10, n_critic = 5) trains for the same budget with the same number of threads. Each run is then
scored by Inception FID of ``--n-inception`` samples against MNIST test[:n] and by FID in
``classifier-mnist`` space (classifier FD) of ``--n-classifier`` samples against MNIST test[:n].
The floor is each measure between MNIST train[:n] and test[:n]; the ratio column divides a run's
value by the textbook loop's (below 1: better than the textbook loop).

``--parallel`` runs (default 2) train side by side in child processes with ``--threads`` threads
each (default 1), the protocol of the issue's baseline; each child trains and scores its share one
after the other, so a full run takes about ⌈(presets + 1) / parallel⌉ × (minutes + scoring). The
measurement (issue 15, part 2) is the default:

    python benchmarks/quality_per_minute.py --json quality_per_minute.json

on a quiet machine (needs GENLAB_DATA_DIR with mnist/ and, for Inception FID,
GENLAB_INCEPTION_WEIGHTS; ``--skip-inception`` leaves that column out). Its table, with the
machine line printed at the top, belongs in docs/results.md. A preset entry may carry options by
their flat names: ``wgan:clip=0.001`` is the lecture's c, the failure case.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

import genlab
from genlab.data.sources import load_dataset
from genlab.training.config import resolve_config
from genlab.training.trainer import Trainer

DEFAULT_PRESETS = "wgan-gp,wgan,sngan,dcgan,wgan:clip=0.001"
TEXTBOOK = "textbook WGAN-GP loop"
TEXTBOOK_ENTRY = "textbook"  # the textbook loop's place in the list of runs


def machine() -> str:
    """CPU model, cores and torch version: the line a result is recorded with."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, torch {torch.__version__}, {platform.system()}"


def parse_entry(entry: str) -> tuple[str, dict]:
    """``wgan:clip=0.001`` → ("wgan", {"clip": 0.001}): a preset and flat options."""
    preset, _, rest = entry.partition(":")
    options = {}
    for item in filter(None, rest.split(":")):
        key, _, value = item.partition("=")
        try:
            options[key.replace("-", "_")] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            options[key.replace("-", "_")] = value
    return preset.strip(), options


def train_preset(entry: str, args: argparse.Namespace, out: Path) -> tuple[Path, int]:
    """Train one preset on MNIST for the budget; the run folder and its generator steps."""
    preset, options = parse_entry(entry)
    config = resolve_config(
        preset,
        data="mnist",
        data_dir=args.data_dir,
        minutes=args.minutes,
        seed=args.seed,
        out=str(out / entry.replace(":", "_").replace("=", "")),
        progress=False,
        tensorboard=False,
        eval_final=False,
        sample_every=10**9,
        checkpoint_every=10**9,
        **options,
    )
    trainer = Trainer.start(config)
    run_dir = trainer.train()
    return Path(run_dir), trainer.step


class Generator(nn.Module):
    latent_dim = 128

    def __init__(self, d: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(128, 4 * d * 7 * 7), nn.BatchNorm1d(4 * d * 7 * 7), nn.ReLU(),
            nn.Unflatten(1, (4 * d, 7, 7)),
            nn.ConvTranspose2d(4 * d, 2 * d, 4, 2, 1), nn.BatchNorm2d(2 * d), nn.ReLU(),
            nn.ConvTranspose2d(2 * d, 1, 4, 2, 1), nn.Tanh(),
        )  # fmt: skip

    def forward(self, z):
        return self.net(z)


def critic_net(d: int = 64) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, d, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(d, 2 * d, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(2 * d * 7 * 7, 1),
    )  # fmt: skip


def textbook_loop(args: argparse.Namespace) -> tuple[nn.Module, int]:
    """WGAN-GP as the paper writes it (Gulrajani et al. 2017, algorithm 1), nothing more."""
    torch.manual_seed(args.seed)
    images = load_dataset("mnist:train", data_dir=args.data_dir).images
    generator, critic = Generator(), critic_net()
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-4, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.9))
    batch, steps, start = 64, 0, time.perf_counter()
    while time.perf_counter() - start < 60 * args.minutes:
        for _ in range(5):  # n_critic
            real = images[torch.randint(len(images), (batch,))].float() / 127.5 - 1
            with torch.no_grad():
                fake = generator(torch.randn(batch, 128))
            eps = torch.rand(batch, 1, 1, 1)
            mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(critic(mix).sum(), mix, create_graph=True)
            penalty = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
            loss_d = critic(fake).mean() - critic(real).mean() + 10 * penalty  # λ = 10
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        for p in critic.parameters():
            p.requires_grad_(False)
        loss_g = -critic(generator(torch.randn(batch, 128))).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        for p in critic.parameters():
            p.requires_grad_(True)
        steps += 1
    return generator.eval(), steps


def score(source, args: argparse.Namespace, **options) -> dict[str, float | None]:
    """Inception FID and classifier FD of ``source`` against MNIST test."""
    common = dict(metrics="fid", data_dir=args.data_dir, progress=False, **options)
    values: dict[str, float | None] = {"inception_fid": None}
    if not args.skip_inception:
        result = genlab.evaluate("mnist:test", source, n=args.n_inception, **common)
        values["inception_fid"] = float(result["fid"])
    result = genlab.evaluate(
        "mnist:test", source, n=args.n_classifier, features="classifier-mnist", **common
    )
    values["classifier_fd"] = float(result["fid"])
    return values


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def run_entries(entries: list[str], args: argparse.Namespace, out: Path) -> list[dict]:
    """Train and score each entry here, one after the other (``textbook`` is the textbook loop)."""
    scoring_threads = torch.get_num_threads()
    rows = []
    for entry in entries:
        torch.set_num_threads(args.threads)
        if entry == TEXTBOOK_ENTRY:
            generator, steps = textbook_loop(args)
            torch.set_num_threads(scoring_threads)
            row = {"run": TEXTBOOK, "steps": steps, **score(generator, args, value_range=(-1, 1))}
        else:
            run_dir, steps = train_preset(entry, args, out)
            torch.set_num_threads(scoring_threads)
            row = {"run": f"preset {entry}", "steps": steps, **score(run_dir, args)}
        rows.append(row)
        print(
            f"trained and scored {row['run']}: {row['steps']} steps, Inception FID "
            f"{fmt(row['inception_fid'], '.1f')}, classifier FD {row['classifier_fd']:.2f}",
            flush=True,
        )
    return rows


def run_side_by_side(entries: list[str], args: argparse.Namespace, out: Path) -> list[dict]:
    """Share the entries out to ``--parallel`` child processes that run at the same time, each
    with ``--threads`` threads (the issue's protocol: two runs side by side, one thread each)."""
    groups = [entries[i :: args.parallel] for i in range(args.parallel)]
    children = []
    for index, group in enumerate(filter(None, groups)):
        part = out / f"part-{index}.json"
        command = [
            sys.executable, __file__, "--entries", ",".join(group), "--parallel", "1",
            "--minutes", str(args.minutes), "--threads", str(args.threads),
            "--n-inception", str(args.n_inception), "--n-classifier", str(args.n_classifier),
            "--seed", str(args.seed), "--out", str(out / f"runs-{index}"), "--json", str(part),
            "--no-floor", *(["--skip-inception"] if args.skip_inception else []),
            *(["--data-dir", args.data_dir] if args.data_dir else []),
        ]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        children.append((part, subprocess.Popen(command, env=env)))
    for _, child in children:
        if child.wait() != 0:
            raise SystemExit(f"a side-by-side run failed (exit {child.returncode})")
    by_run = {
        row["run"]: row for part, _ in children for row in json.loads(part.read_text())["rows"]
    }
    names = [TEXTBOOK if e == TEXTBOOK_ENTRY else f"preset {e}" for e in entries]
    return [by_run[name] for name in names]


def measure_floor(args: argparse.Namespace) -> dict[str, float | None]:
    """Each measure between MNIST train[:n] and test[:n]: what real images score."""
    floor: dict[str, float | None] = {"inception_fid": None}
    common = dict(metrics="fid", data_dir=args.data_dir, progress=False)
    if not args.skip_inception:
        result = genlab.evaluate("mnist:test", "mnist:train", n=args.n_inception, **common)
        floor["inception_fid"] = float(result["fid"])
    result = genlab.evaluate(
        "mnist:test", "mnist:train", n=args.n_classifier, features="classifier-mnist", **common
    )
    floor["classifier_fd"] = float(result["fid"])
    return floor


def add_ratios(rows: list[dict]) -> None:
    """Each value over the textbook loop's (below 1: better than the textbook loop)."""
    base = next((row for row in rows if row["run"] == TEXTBOOK), None)
    for row in rows:
        for key in ("inception_fid", "classifier_fd"):
            value = row[key]
            reference = None if base is None else base[key]
            row[f"{key}_ratio"] = None if value is None or not reference else value / reference


def print_table(rows: list[dict], floor: dict | None) -> None:
    print(f"\n{'run':<32} {'gen steps':>9} {'Inception FID':>13} {'ratio':>6} "
          f"{'classifier FD':>13} {'ratio':>6}")  # fmt: skip
    for row in rows:
        print(
            f"{row['run']:<32} {row['steps']:>9} {fmt(row['inception_fid'], '.1f'):>13} "
            f"{fmt(row['inception_fid_ratio'], '.2f'):>6} {fmt(row['classifier_fd'], '.2f'):>13} "
            f"{fmt(row['classifier_fd_ratio'], '.2f'):>6}"
        )
    if floor is not None:
        print(
            f"{'floor (train[:n] vs test[:n])':<32} {'-':>9} "
            f"{fmt(floor['inception_fid'], '.1f'):>13} {'':>6} "
            f"{fmt(floor['classifier_fd'], '.2f'):>13}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=DEFAULT_PRESETS, help="comma-separated")
    parser.add_argument(
        "--textbook", action=argparse.BooleanOptionalAction, default=True,
        help="train the textbook WGAN-GP loop too (the ratios' reference)",
    )  # fmt: skip
    parser.add_argument("--entries", default=None, help=argparse.SUPPRESS)  # a child's share
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per run")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each run")
    parser.add_argument("--parallel", type=int, default=2, help="runs side by side")
    parser.add_argument("--n-inception", type=int, default=1000)
    parser.add_argument("--n-classifier", type=int, default=10_000)
    parser.add_argument("--skip-inception", action="store_true")
    parser.add_argument("--floor", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="keep the run folders here")
    parser.add_argument("--json", default=None, help="save the table here")
    args = parser.parse_args()
    if args.entries is not None:
        entries = args.entries.split(",")
    else:
        presets = [entry.strip() for entry in args.presets.split(",") if entry.strip()]
        entries = [TEXTBOOK_ENTRY] * args.textbook + presets
    print(f"machine: {machine()}")
    print(
        f"MNIST, {args.minutes:g} min of training per run, {args.threads} thread(s) each, "
        f"{args.parallel} side by side; Inception FID of {args.n_inception} vs "
        f"test[:{args.n_inception}], classifier FD of {args.n_classifier} vs "
        f"test[:{args.n_classifier}]\n",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as temporary:
        out = Path(args.out or temporary)
        out.mkdir(parents=True, exist_ok=True)
        if args.parallel > 1:
            rows = run_side_by_side(entries, args, out)
        else:
            rows = run_entries(entries, args, out)
    floor = measure_floor(args) if args.floor else None
    add_ratios(rows)
    print_table(rows, floor)
    if args.json:
        table = {"machine": machine(), "options": vars(args), "rows": rows, "floor": floor}
        Path(args.json).write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    main()
