#!/usr/bin/env bash
# MA-LMM: train on msrvtt_qa with 4 GPUs (set NPROC to change).
# Arguments are more key=value overrides, e.g. run.batch_size_train=8 run.accum_grad_iters=2
set -euo pipefail
cd "$(dirname "$0")/../../.."
opts=(run.output_dir=output/malmm/train/msrvtt_qa)
python -m lavis.check --cfg-path configs/malmm/train/msrvtt_qa.yaml --options "${opts[@]}" "$@"  # config and data paths, once
torchrun --nproc_per_node="${NPROC:-4}" -m lavis.train --cfg-path configs/malmm/train/msrvtt_qa.yaml \
  --options "${opts[@]}" "$@"
