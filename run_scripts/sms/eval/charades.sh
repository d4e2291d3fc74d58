#!/usr/bin/env bash
# SMS: eval on charades with 8 GPUs (set NPROC to change). Extra arguments go to lavis: e.g. --options run.output_dir=...
set -euo pipefail
cd "$(dirname "$0")/../../.."
python -m lavis.check --cfg-path configs/sms/eval/charades.yaml "$@"   # config and data paths, once, before the workers start
torchrun --nproc_per_node="${NPROC:-8}" -m lavis.evaluate --cfg-path configs/sms/eval/charades.yaml "$@"
