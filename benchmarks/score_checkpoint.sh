#!/usr/bin/env bash
# Ship one checkpoint of a train.py run as the committed adapter folder, calibrate its O bias on dev, and score
# it on the seven test splits.
#
#   benchmarks/score_checkpoint.sh RUN_DIR STEP [SHIPPED_DIR]      e.g. runs/vaner-gemma3-270m 5000
#
# Writes SHIPPED_DIR (default models/vaner-gemma3-270m; with its training state, so `export_model.py restore`
# can continue from it), benchmarks/results/vaner_stepSTEP_o_bias.json (calibrate_o_bias.py on the first
# VANER_CALIBRATION_SENTENCES dev sentences per corpus, default 1000) and RUN_DIR/test-stepSTEP/metrics.test.json
# (bf16 where the CPU has it natively; each corpus also scored without the bias), then re-ships with the bias
# and the test metrics in config.json and the model card. Pick STEP on the dev evaluations, never on test.
set -euo pipefail
RUN=${1:?usage: score_checkpoint.sh RUN_DIR STEP [SHIPPED_DIR]}; STEP=${2:?usage: score_checkpoint.sh RUN_DIR STEP [SHIPPED_DIR]}
SHIPPED=${3:-models/vaner-gemma3-270m}
DATA=${VANER_DATA_DIR:-../shared/data/bioner}
CKPT=$RUN/checkpoints/checkpoint-$STEP
CALIBRATION=benchmarks/results/vaner_step${STEP}_o_bias.json
[[ -d "$CKPT" ]] || { echo "score_checkpoint.sh: no checkpoint folder $CKPT" >&2; exit 2; }
precision=()
python -c "import sys; from precision import cpu_has_native_bf16; sys.exit(0 if cpu_has_native_bf16() else 1)" && precision=(--bf16)
python export_model.py ship --run "$RUN" --output "$SHIPPED" --checkpoint "$CKPT" --link-code
full=$(python export_model.py materialize --shipped "$SHIPPED" | tail -1)
python calibrate_o_bias.py --model "$full" --data-dir "$DATA" "${precision[@]}" \
  --max-sentences "${VANER_CALIBRATION_SENTENCES:-1000}" --results "$CALIBRATION"
python evaluate_model.py --model "$full" --corpora NCBI-disease BC5CDR-disease BC5CDR-chem BC2GM JNLPBA linnaeus s800 \
  --data-dir "$DATA" --split test "${precision[@]}" --o-bias "$CALIBRATION" --output-dir "$RUN/test-step$STEP"
python export_model.py ship --run "$RUN" --output "$SHIPPED" --checkpoint "$CKPT" --link-code \
  --calibration "$CALIBRATION" --test-metrics "$RUN/test-step$STEP/metrics.test.json"
