"""Tiny real training runs for the report tests, and a headless-Chromium page checker.

The runs are trained once per session with the real `Trainer` (a few seconds in all) and must not
be changed by tests; a test that needs to change a run copies it first (`copy_run`).
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from genlab.training.config import resolve_config
from genlab.training.trainer import Trainer

#: Synthetic periodic evaluations appended to the GAN run's log: step -> (FID, CI low, CI high,
#: precision). Values are distinctive so that tests can find them in the page.
EVAL_RECORDS = {
    4: (48.25, 45.5, 51.75, 0.3125),
    8: (31.5, 29.25, 33.75, 0.4375),
    12: (22.75, 21.125, 24.5, 0.5625),
}
#: A synthetic final evaluation in the shape `genlab.metrics.evaluate.evaluate` returns.
FINAL_EVALUATION = {
    "fid": 17.3456,
    "fid_ci_low": 16.0625,
    "fid_ci_high": 18.9375,
    "kid_mean": 0.04321,
    "kid_std": 0.00275,
    "kid_mean_ci_low": 0.03875,
    "kid_mean_ci_high": 0.04766,
    "precision": 0.7139,
    "recall": 0.4551,
    "protocol": {
        "features": {"extractor": "classifier-mnist", "input_size": 28},
        "reference": "mnist:test (10000 images)",
        "n_a": 10000,
        "n_b": 5000,
        "metrics": ["fid", "kid", "pr"],
    },
}


@pytest.fixture(scope="session")
def eval_records() -> dict:
    return EVAL_RECORDS


@pytest.fixture(scope="session")
def final_evaluation_dict() -> dict:
    return FINAL_EVALUATION


# Twelve steps with a grid every two: enough for a strip of samples over time.
TRAINING = dict(steps=12, sample_every=2, checkpoint_every=100)


def append_eval_records(run_dir: Path, features: str = "classifier-mnist") -> None:
    with (run_dir / "metrics.jsonl").open("a") as log:
        for step, (fid, low, high, precision) in EVAL_RECORDS.items():
            record = {
                "step": step,
                "time": 0.1 * step,
                f"{features}/fid": fid,
                f"{features}/fid_ci_low": low,
                f"{features}/fid_ci_high": high,
                f"{features}/precision": precision,
            }
            log.write(json.dumps(record) + "\n")


@dataclass(frozen=True)
class Runs:
    gan: Path  # wgan-gp with evaluation records and a final evaluation
    vae: Path  # a VAE: no critic, no evaluations
    killed: Path  # config written, killed before the first step: no log, samples or checkpoint


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory, tiny_config) -> Runs:
    root = tmp_path_factory.mktemp("runs")
    gan = Trainer.start(tiny_config("wgan-gp", root / "00000-wgan-gp-digits", **TRAINING)).train()
    append_eval_records(gan)
    (gan / "evaluations").mkdir()
    (gan / "evaluations" / "final.json").write_text(json.dumps(FINAL_EVALUATION))
    vae = Trainer.start(tiny_config("vae", root / "00001-vae-digits", **TRAINING)).train()
    killed_config = resolve_config(
        "wgan", data="digits", hidden=(16, 16), latent_dim=4, out=str(root / "00002-killed")
    )
    killed = Trainer.start(killed_config).run_dir
    return Runs(gan=gan, vae=vae, killed=killed)


@pytest.fixture(scope="session")
def report(runs: Runs, tmp_path_factory: pytest.TempPathFactory):
    """The report of the three session runs (read-only), Lipschitz bounds on 16 points."""
    from genlab.report import write_report

    out = tmp_path_factory.mktemp("report") / "report.html"
    return write_report([runs.gan, runs.vae, runs.killed], out=out, lipschitz_points=16)


@pytest.fixture
def copy_run(tmp_path: Path):
    """``copy_run(path)``: a private copy of a session run, free to change."""

    def copy(path: Path, name: str | None = None) -> Path:
        return Path(shutil.copytree(path, tmp_path / (name or path.name)))

    return copy


# --- Headless browser -------------------------------------------------------------------------

#: Injected into a test copy of a page (the shipped page has no script): records JavaScript
#: errors, resource load failures (captured on window, as image errors do not bubble) and
#: console.error calls, then after `load` writes them with every image's naturalWidth into a
#: <pre id="browser-check"> that --dump-dom prints.
CHECK_SCRIPT = """<script>
(function () {
  var errors = [];
  window.addEventListener("error", function (event) {
    errors.push(event.message ? String(event.message)
      : "failed to load " + (event.target && event.target.tagName));
  }, true);
  var original = console.error;
  console.error = function () {
    errors.push(Array.prototype.join.call(arguments, " "));
    original.apply(console, arguments);
  };
  window.addEventListener("load", function () {
    var images = Array.prototype.map.call(document.images, function (img) {
      return {alt: img.alt, complete: img.complete, width: img.naturalWidth};
    });
    var out = document.createElement("pre");
    out.id = "browser-check";
    out.textContent = JSON.stringify({images: images, errors: errors});
    document.body.appendChild(out);
  });
})();
</script>"""
_CHECK_START = '<pre id="browser-check">'


@dataclass(frozen=True)
class PageCheck:
    """What the browser saw: each image's (alt, naturalWidth), errors, console lines."""

    images: list[tuple[str, int]]
    errors: list[str]
    console: list[str]

    @property
    def broken_images(self) -> list[str]:
        return [alt for alt, width in self.images if width <= 0]


class Browser:
    """Headless Chromium driven through its command line (no Python browser package needed)."""

    def __init__(self, executable: str) -> None:
        self.executable = executable

    def _run(self, page: Path, *options: str, timeout: float = 90) -> subprocess.CompletedProcess:
        command = [
            self.executable,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            *options,
            page.resolve().as_uri(),
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)

    def screenshot(self, page: Path, out: Path, *, width: int = 1200, height: int = 2000) -> Path:
        result = self._run(page, f"--screenshot={out.resolve()}", f"--window-size={width},{height}")
        if not out.is_file():
            raise AssertionError(f"chromium wrote no screenshot: {result.stderr[-2000:]}")
        return out

    def check(self, page: Path) -> PageCheck:
        """Load a copy of ``page`` with `CHECK_SCRIPT` and report what happened."""
        text = page.read_text(encoding="utf-8")
        if "<head>" not in text:
            raise AssertionError(f"{page} has no <head> to put the check script in")
        copy = page.with_name(page.stem + ".browser-check.html")
        copy.write_text(text.replace("<head>", "<head>" + CHECK_SCRIPT, 1), encoding="utf-8")
        result = self._run(
            copy, "--dump-dom", "--virtual-time-budget=5000", "--enable-logging=stderr", "--v=0"
        )
        dom = result.stdout
        start = dom.find(_CHECK_START)
        if start < 0:
            raise AssertionError(f"the check script did not run: {result.stderr[-2000:]}")
        end = dom.index("</pre>", start)
        report = json.loads(html.unescape(dom[start + len(_CHECK_START) : end]))
        console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
        return PageCheck(
            images=[(image["alt"], int(image["width"])) for image in report["images"]],
            errors=list(report["errors"]),
            console=console,
        )


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser() -> Browser:
    """Headless Chromium; skipped where absent unless GENLAB_REQUIRE_BROWSER=1 (CI)."""
    executable = find_chromium()
    if executable is None:
        message = "no chromium, chromium-browser or google-chrome on PATH; install chromium"
        if os.environ.get("GENLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " (GENLAB_REQUIRE_BROWSER=1)")
        pytest.skip(message)
    return Browser(executable)
