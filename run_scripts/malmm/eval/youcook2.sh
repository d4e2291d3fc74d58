#!/usr/bin/env bash
# MA-LMM: evaluate on youcook2 with 4 GPUs (set NPROC to change).
# ZERO_SHOT=1: InstructBLIP weights + memory banks, no fine-tuned checkpoint (paper Table 7).
# Arguments are more key=value overrides, e.g. run.batch_size_train=8 run.accum_grad_iters=2
set -euo pipefail
cd "$(dirname "$0")/../../.."
opts=(run.output_dir=output/malmm/eval/youcook2)
if [[ "${ZERO_SHOT:-0}" == 1 ]]; then opts+=(model.finetuned=null run.output_dir="output/malmm/zeroshot/youcook2"); fi
python -m lavis.check --cfg-path configs/malmm/eval/youcook2.yaml --options "${opts[@]}" "$@"  # config and data paths, once
torchrun --nproc_per_node="${NPROC:-4}" -m lavis.evaluate --cfg-path configs/malmm/eval/youcook2.yaml \
  --options "${opts[@]}" "$@"
