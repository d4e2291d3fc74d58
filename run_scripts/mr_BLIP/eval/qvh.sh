#!/usr/bin/env bash
# Mr. BLIP: eval on qvh with 8 GPUs (set NPROC to change; keep the effective batch at 32 when training).
# Extra arguments go to lavis: e.g. --options run.output_dir=output/my_run
set -euo pipefail
cd "$(dirname "$0")/../../.."
python -m lavis.check --cfg-path configs/mr_BLIP/eval/qvh.yaml "$@"   # config and data paths, once, before the workers start
torchrun --nproc_per_node="${NPROC:-8}" -m lavis.evaluate --cfg-path configs/mr_BLIP/eval/qvh.yaml "$@"
