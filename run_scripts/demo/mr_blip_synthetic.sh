#!/usr/bin/env bash
# The CPU demo: generate a small synthetic video benchmark (once, cached), train a tiny Mr. BLIP on it,
# evaluate, and print the metrics next to the trivial "whole video" baseline.
# Outputs: output/demo/mr_blip_synthetic/ (result/*_predictions.jsonl, *_metrics.json, *_windows.png, log.jsonl)
set -euo pipefail
cd "$(dirname "$0")/../.."
# One compute thread: the second core decodes videos in the data-loader worker.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
python -m lavis.train --cfg-path configs/demo/mr_blip_synthetic.yaml "$@"
