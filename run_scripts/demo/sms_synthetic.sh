#!/usr/bin/env bash
# The SMS CPU demo: clips whose event is a tone over an unchanging picture. Trains a tiny SMS (audio branch)
# and a tiny Mr. BLIP (pictures only) on the same generated clips, then prints both next to the whole-video
# baseline. Extra arguments go to both runs (e.g. --options run.max_epoch=2).
# Outputs: output/demo/sms_synthetic/ and output/demo/sms_synthetic_mr_blip/ (result/test_best_metrics.json, ...)
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
python -m lavis.train --cfg-path configs/demo/sms_synthetic.yaml "$@"
python -m lavis.train --cfg-path configs/demo/sms_synthetic_mr_blip.yaml "$@"
python -m lavis.evaluation.compare \
  "SMS=output/demo/sms_synthetic/result/test_best_metrics.json" \
  "Mr. BLIP=output/demo/sms_synthetic_mr_blip/result/test_best_metrics.json"
