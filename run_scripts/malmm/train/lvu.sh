#!/usr/bin/env bash
# MA-LMM: train on lvu with 4 GPUs (set NPROC to change).
# TASK=director|genre|relationship|scene|way_speaking|writer|year (default relationship).
# Arguments are more key=value overrides, e.g. run.batch_size_train=8 run.accum_grad_iters=2
set -euo pipefail
cd "$(dirname "$0")/../../.."
task="${TASK:-relationship}"
opts=(datasets.lvu.task="$task" run.output_dir="output/malmm/train/lvu_$task")
python -m lavis.check --cfg-path configs/malmm/train/lvu.yaml --options "${opts[@]}" "$@"  # config and data paths, once
torchrun --nproc_per_node="${NPROC:-4}" -m lavis.train --cfg-path configs/malmm/train/lvu.yaml \
  --options "${opts[@]}" "$@"
