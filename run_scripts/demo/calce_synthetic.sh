#!/usr/bin/env bash
# The CALCE CPU demo, both stages through the shared runner:
#   1. train a tiny CALCE stage 1 on generated clips with generated subtitles;
#   2. run stage 1 on every split (lavis.evaluate) and merge its windows into stage-2 annotations;
#   3. train stage 2 from the stage-1 checkpoint; print both stages' test metrics and the whole-video baseline.
# Extra arguments go to every lavis command (e.g. --options paths.cache_root=/tmp/cache).
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
OUT=output/demo/calce_synthetic
python -m lavis.train --cfg-path configs/demo/calce_synthetic_stage1.yaml "$@"
python -m lavis.evaluate --cfg-path configs/demo/calce_synthetic_stage1.yaml --checkpoint "$OUT/stage1/checkpoint_best.pth" \
  --splits train val test "$@"
mkdir -p "$OUT/stage2_ann"
ANN=$(python -c "
import sys
from lavis.common.config import load_config
from lavis.datasets.builders.synthetic import SyntheticMRBuilder
cfg = load_config('configs/demo/calce_synthetic_stage1.yaml', sys.argv[1:])
print(SyntheticMRBuilder(cfg.datasets['synthetic_mr'], 'synthetic_mr').folder('train'))" "${@:2}")
for split in train val test; do
  python -m lavis.datasets.prepare calce-merge --annotations "$ANN/$split.json" \
    --predictions "$OUT/stage1/result/${split}_eval_predictions.jsonl" --output "$OUT/stage2_ann/$split.json"
done
python -m lavis.train --cfg-path configs/demo/calce_synthetic_stage2.yaml "$@"
python -m lavis.evaluation.compare "stage 1=$OUT/stage1/result/test_best_metrics.json" \
  "stage 2=$OUT/stage2/result/test_best_metrics.json"
