#!/usr/bin/env bash
# SMS: train on charades with 4 GPUs (set NPROC to change). Extra arguments go to lavis: e.g. --options run.output_dir=...
set -euo pipefail
cd "$(dirname "$0")/../../.."
python -m lavis.check --cfg-path configs/sms/train/charades.yaml "$@"   # config and data paths, once, before the workers start
torchrun --nproc_per_node="${NPROC:-4}" -m lavis.train --cfg-path configs/sms/train/charades.yaml "$@"
