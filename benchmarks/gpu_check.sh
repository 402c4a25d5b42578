#!/usr/bin/env bash
# The GPU check of issue 16, one script for a short GPU loan (about 15 minutes, start-up included).
#
#   bash benchmarks/gpu_check.sh            # on a CUDA machine, from the repository root
#   bash benchmarks/gpu_check.sh --dry-run  # on a CPU: every step at tiny sizes, gloo, no CUDA
#   SECTIONS="fid throughput" bash benchmarks/gpu_check.sh   # a subset, e.g. to rerun one
#
# What it checks, each result under $OUT (default ./gpu-check-out) as JSON or a log:
#   fid         FID Inception features of CIFAR-10 JPEGs (train vs test, FID_N of each) on CUDA
#               with TF32 off (genlab's protocol) and on (PyTorch's default for convolutions),
#               and on the CPU for the first CPU_N of each: CUDA without TF32 must equal the CPU
#               to 1e-4 relative in FID                                     -> fid_devices.json
#   throughput  images/s of the network and of the whole extractor at batch 200 and 500
#                                                                            -> throughput.json
#   eval        `genlab eval` end to end: the 10 000 test images against E2E_N train images
#               (50 000: the whole train split), no cache                  -> eval_e2e.json/.log
#   train       TRAIN_STEPS generator steps of each preset on CUDA against CPU_TRAIN_STEPS on
#               the CPU, steps/s (MNIST, batch 64)                           -> train_steps.json
#   resume      WGAN-GP with deterministic algorithms: a run of RESUME_STEPS steps against one
#               killed (SIGKILL) after its checkpoint at RESUME_STEPS/2 and resumed: the same
#               losses after the checkpoint (needs the CUDA RNG state in checkpoints)
#                                                                            -> resume.json
#   torchrun    `torchrun --nproc_per_node 1` (NCCL on CUDA, NCCL_DEBUG=INFO in the log): one
#               training run, one evaluation
#                                                                            -> torchrun_*.log
# and summary.txt with the wall time of each section. Needs GENLAB_DATA_DIR (mnist/ and
# cifar10-jpeg/; default ../shared/data, else shared/data) and GENLAB_INCEPTION_WEIGHTS (default
# .cache/fid-weights/default_1.pt: copy the weights there and carry .cache/ to a fresh machine).
# PYTHON names the interpreter (default: python on PATH, which needs a CUDA build of torch).
# A failing section is recorded and the next one runs; the exit status says whether any failed.
set -uo pipefail

DRY_RUN=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY_RUN=1; fi

OUT="${OUT:-./gpu-check-out}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
if [[ -z "${GENLAB_DATA_DIR:-}" ]]; then
    for candidate in "$ROOT/../shared/data" "$ROOT/shared/data"; do
        if [[ -d "$candidate" ]]; then GENLAB_DATA_DIR="$(cd "$candidate" && pwd)"; break; fi
    done
fi
export GENLAB_DATA_DIR="${GENLAB_DATA_DIR:?set it to the folder with mnist/ and cifar10-jpeg/}"
export GENLAB_INCEPTION_WEIGHTS="${GENLAB_INCEPTION_WEIGHTS:-$ROOT/.cache/fid-weights/default_1.pt}"
# Deterministic cuBLAS for --deterministic runs (resume); harmless elsewhere.
export CUBLAS_WORKSPACE_CONFIG="${CUBLAS_WORKSPACE_CONFIG:-:4096:8}"
PYTHON="${PYTHON:-python}"

if [[ $DRY_RUN == 1 ]]; then
    DEVICE=cpu
    FID_N=${FID_N:-4} CPU_N=${CPU_N:-4} BATCH_SIZES=${BATCH_SIZES:-2,3} THROUGHPUT_BATCHES=1
    E2E_N=${E2E_N:-4} E2E_REF=${E2E_REF:-4}
    TRAIN_STEPS=${TRAIN_STEPS:-2} CPU_TRAIN_STEPS=${CPU_TRAIN_STEPS:-2}
    PRESETS=${PRESETS:-wgan-gp,vae} RESUME_STEPS=${RESUME_STEPS:-4} TORCHRUN_STEPS=2 TORCHRUN_N=4
else
    DEVICE=cuda
    FID_N=${FID_N:-10000} CPU_N=${CPU_N:-2000} BATCH_SIZES=${BATCH_SIZES:-200,500}
    THROUGHPUT_BATCHES=${THROUGHPUT_BATCHES:-5} E2E_N=${E2E_N:-50000} E2E_REF=${E2E_REF:-all}
    TRAIN_STEPS=${TRAIN_STEPS:-300} CPU_TRAIN_STEPS=${CPU_TRAIN_STEPS:-30}
    PRESETS=${PRESETS:-wgan,wgan-gp,dcgan,gan,sngan,vae} RESUME_STEPS=${RESUME_STEPS:-200}
    TORCHRUN_STEPS=${TORCHRUN_STEPS:-100} TORCHRUN_N=${TORCHRUN_N:-2000}
fi
SECTIONS="${SECTIONS:-fid throughput eval train resume torchrun}"
CHECK=("$PYTHON" "$HERE/gpu_check.py")
GENLAB=("$PYTHON" -m genlab)
SUMMARY="$OUT/summary.txt"

{
    echo "gpu_check.sh $(date -u +%FT%TZ) dry_run=$DRY_RUN device=$DEVICE"
    "$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'devices', [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])"
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
    fi
} | tee "$SUMMARY"

run_section() {  # name, then the command; records status and seconds, never stops the script
    local name=$1; shift
    local start=$SECONDS
    echo "== $name: $*" | tee -a "$SUMMARY"
    if "$@" >"$OUT/$name.log" 2>&1; then status=ok; else status="FAILED (exit $?)"; fi
    echo "   $status in $((SECONDS - start)) s (log: $name.log)" | tee -a "$SUMMARY"
    tail -n 25 "$OUT/$name.log"
}

wanted() { [[ " $SECTIONS " == *" $1 "* ]]; }

if wanted fid; then
    run_section fid_devices "${CHECK[@]}" fid-devices --device "$DEVICE" --n "$FID_N" \
        --cpu-n "$CPU_N" --json "$OUT/fid_devices.json"
fi

if wanted throughput; then
    run_section throughput "${CHECK[@]}" throughput --device "$DEVICE" \
        --batch-sizes "$BATCH_SIZES" --batches "$THROUGHPUT_BATCHES" --json "$OUT/throughput.json"
fi

if wanted eval; then
    run_section eval_e2e "${GENLAB[@]}" eval cifar10-jpeg:test cifar10-jpeg:train \
        --n "$E2E_N" --n-ref "$E2E_REF" --device "$DEVICE" --no-cache --no-progress \
        --json "$OUT/eval_e2e.json"
fi

if wanted train; then
    run_section train_steps "${CHECK[@]}" train-steps --device "$DEVICE" --presets "$PRESETS" \
        --steps "$TRAIN_STEPS" --cpu-steps "$CPU_TRAIN_STEPS" --json "$OUT/train_steps.json"
fi

resume_check() {
    local half=$((RESUME_STEPS / 2))
    local common=(train --preset wgan-gp --data mnist --steps "$RESUME_STEPS" --device "$DEVICE"
        --deterministic --checkpoint-every "$half" --log-every 1 --sample-every 100000
        --no-progress --no-tensorboard)
    rm -rf "$OUT/runs/resume-full" "$OUT/runs/resume-killed"
    "${GENLAB[@]}" "${common[@]}" --out "$OUT/runs/resume-full" || return 1
    "${GENLAB[@]}" "${common[@]}" --out "$OUT/runs/resume-killed" &
    local pid=$!
    # Kill as soon as the checkpoint at the half-way step is on disk (SIGKILL: no clean-up).
    local checkpoint
    checkpoint="$OUT/runs/resume-killed/checkpoints/step-$(printf '%08d' "$half").pt"
    while kill -0 "$pid" 2>/dev/null && [[ ! -f "$checkpoint" ]]; do sleep 0.2; done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    [[ -f "$checkpoint" ]] || { echo "no checkpoint at step $half"; return 1; }
    echo "killed after $checkpoint; resuming"
    "${GENLAB[@]}" train --resume "$OUT/runs/resume-killed" --steps "$RESUME_STEPS" \
        --device "$DEVICE" --no-progress || return 1
    "${CHECK[@]}" same-losses "$OUT/runs/resume-full" "$OUT/runs/resume-killed" --after "$half" \
        --json "$OUT/resume.json"
}

if wanted resume; then
    run_section resume resume_check
fi

if wanted torchrun; then
    TORCHRUN=(env NCCL_DEBUG=INFO "$PYTHON" -m torch.distributed.run --standalone
        --nproc_per_node 1)
    run_section torchrun_train "${TORCHRUN[@]}" -m genlab train \
        --preset wgan-gp --data mnist --steps "$TORCHRUN_STEPS" --device "$DEVICE" \
        --out "$OUT/runs/torchrun-train" --no-progress --no-tensorboard
    # --num-images, not --n: torchrun's parser would read --n as one of its own options.
    run_section torchrun_eval "${TORCHRUN[@]}" -m genlab eval \
        mnist:test mnist:train --num-images "$TORCHRUN_N" --device "$DEVICE" --no-cache \
        --no-progress --json "$OUT/torchrun_eval.json"
fi

echo "done; results in $OUT" | tee -a "$SUMMARY"
if grep -q FAILED "$SUMMARY"; then exit 1; fi
