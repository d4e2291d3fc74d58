#!/usr/bin/env bash
# CALCE stage 2: eval on qvh with 4 GPUs (set NPROC to change). Extra arguments go to lavis (--options ...).
set -euo pipefail
cd "$(dirname "$0")/../../.."
python -m lavis.check --cfg-path configs/calce/eval/qvh_stage2.yaml "$@"   # config and data paths, once, before the workers start
torchrun --nproc_per_node="${NPROC:-4}" -m lavis.evaluate --cfg-path configs/calce/eval/qvh_stage2.yaml "$@"
