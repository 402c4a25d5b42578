"""The run folder: its layout, checkpoints, record, evaluations, and samplers rebuilt from it.

Training writes run folders; sampling, evaluation, the report and the experiments read them, all
through this package (`RunFolder` for one folder seen whole; the functions below for one piece).
"""

from genlab.runs.checkpoint import (
    CHECKPOINT_DIR,
    checkpoint_step,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
)
from genlab.runs.evaluations import READING_KEY, evaluation_name, write_evaluation
from genlab.runs.folder import RunFolder
from genlab.runs.layout import (
    CONFIG_FILE,
    DEFAULT_ROOT,
    EVALUATIONS_DIR,
    LIPSCHITZ_FILE,
    MODEL_FILE,
    SAMPLES_DIR,
    check_run_dir,
    is_run_dir,
    new_run_dir,
    read_json,
    sample_path,
)
from genlab.runs.records import (
    METRICS_FILE,
    eval_key,
    is_eval_key,
    read_metrics,
    split_eval_key,
    truncate_metrics,
)
from genlab.runs.sampler import generate, iter_generated, load_sampler
from genlab.runs.source import RUN, RunSource

__all__ = [
    "CHECKPOINT_DIR",
    "CONFIG_FILE",
    "DEFAULT_ROOT",
    "EVALUATIONS_DIR",
    "LIPSCHITZ_FILE",
    "METRICS_FILE",
    "MODEL_FILE",
    "READING_KEY",
    "RUN",
    "SAMPLES_DIR",
    "RunFolder",
    "RunSource",
    "check_run_dir",
    "checkpoint_step",
    "eval_key",
    "evaluation_name",
    "generate",
    "is_eval_key",
    "is_run_dir",
    "iter_generated",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "load_sampler",
    "new_run_dir",
    "read_json",
    "read_metrics",
    "sample_path",
    "split_eval_key",
    "truncate_metrics",
    "write_evaluation",
]
