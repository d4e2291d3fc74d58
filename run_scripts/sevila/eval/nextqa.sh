#!/usr/bin/env bash
# SeViLA: inference on NExT-QA with 4 GPUs (set NPROC to change; keep batch x accumulation x GPUs when training).
# Extra arguments go to lavis: e.g. --options run.output_dir=output/my_run model.pretrained=PATH
set -euo pipefail
cd "$(dirname "$0")/../../.."
torchrun --nproc_per_node="${NPROC:-4}" -m lavis.evaluate --cfg-path configs/sevila/eval/nextqa.yaml "$@"
