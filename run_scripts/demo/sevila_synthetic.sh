#!/usr/bin/env bash
# The SeViLA CPU demo (about 5 minutes on 2 cores): generated clips in which a coloured shape is on screen for
# a short moment; the question is "what colour is the shape?". Answering from 2 of 16 frames only works if
# the 2 frames show the shape: the point of SeViLA's localizer.
#   1. answerer: a tiny SeViLA learns to answer on clips where the shape is (almost) always visible;
#   2. localizer: starting from the answerer's Q-Former, learns which frames show the shape (frame labels
#      from the event windows, as SeViLA's QVHighlights pre-training), ViT / T5 / answerer frozen;
#   3. the test questions are answered from the localizer's keyframes and from evenly spaced frames.
# Outputs: output/demo/sevila_synthetic/{answerer,localizer,eval_localizer,eval_uniform}/ (metrics, predictions).
# Extra arguments are more --options for every stage, e.g. paths.cache_root=/tmp/cache
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
OUT="${OUT:-output/demo/sevila_synthetic}"
ANSWERER="$OUT/answerer/checkpoint_best.pth"
LOCALIZER="$OUT/localizer/checkpoint_best.pth"

python -m lavis.train --cfg-path configs/demo/sevila_synthetic_answerer.yaml \
  --options run.output_dir="$OUT/answerer" "$@"
python -m lavis.train --cfg-path configs/demo/sevila_synthetic_localizer.yaml \
  --options run.output_dir="$OUT/localizer" model.pretrained="$ANSWERER" model.localizer_init="$ANSWERER" "$@"
for frames in localizer uniform; do
  python -m lavis.evaluate --cfg-path configs/demo/sevila_synthetic_eval.yaml \
    --options run.output_dir="$OUT/eval_$frames" model.keyframes="$frames" \
    model.pretrained="$ANSWERER" model.localizer_init="$LOCALIZER" "$@"
done
python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
acc = {k: json.loads((out / f"eval_{k}" / "results_eval.json").read_text())["test"] for k in ("localizer", "uniform")}
print("\nSeViLA synthetic demo: accuracy on the test questions, 2 of 16 frames (chance 25 %)")
for k, m in acc.items():
    print(f"  {k + ' keyframes':22s} Acc {m['Acc']:6.2f}   mIoP {m['mIoP']:6.2f}   Acc@GQA {m['Acc@GQA']:6.2f}")
print(f"  localizer - uniform:   {acc['localizer']['Acc'] - acc['uniform']['Acc']:+.2f} points")
PY
