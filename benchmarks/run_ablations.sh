#!/usr/bin/env bash
# Issue 6 ablations at one budget: Gemma 3 270M + LoRA, 1 epoch of one corpus (NCBI-disease or s800), seed 42 by default,
# dev-selected checkpoint (every 230 steps), then scored on test.  Resumable: a finished run is skipped and an
# interrupted one continues from its last checkpoint.
#
#   benchmarks/run_ablations.sh RUNS_DIR NAME...      NAME = <corpus>-<variant>, variant in:
#       nodbr (w/o DBR), dbr (VANER_single: + DBR), random (+ random-KB DBR), causal (w/o DBR, causal mask kept),
#       matched (+ random-KB DBR with the retrieved build's name counts and lengths: isolates retrieval)
#   e.g. OMP_NUM_THREADS=1 benchmarks/run_ablations.sh runs/ablations ncbi-causal s800-dbr
#
# VANER_SEED (default 42) sets the training seed: a second seed tells a real difference from seed noise.
#
# VANER_PRECISION=fp32 trains and scores with fp32 weights: on a CPU without native bf16 (AVX512-BF16 / AMX),
# bf16 matmuls are emulated and a step takes minutes instead of seconds.
#
# Then: python benchmarks/ablation_table.py --runs RUNS_DIR ...  writes benchmarks/results/ablations.{json,md}.
set -euo pipefail
RUNS=${1:?usage: run_ablations.sh RUNS_DIR NAME...}; shift
DATA=${VANER_DATA_DIR:-../shared/data/bioner}
DBR=${VANER_DBR:-artifacts/dbr/vaner-dbr-minilm}
KB=${VANER_KB:-../shared/data/kb/biomed_entity_kb.tsv.gz}
SEED=${VANER_SEED:-42}
[[ "$SEED" =~ ^[0-9]+$ ]] || { echo "run_ablations.sh: VANER_SEED must be a non-negative integer, got '$SEED'" >&2; exit 2; }
case "${VANER_PRECISION:-bf16}" in
  bf16) precision=(--bf16) ;;
  fp32) precision=() ;;
  *) echo "run_ablations.sh: VANER_PRECISION must be bf16 or fp32, got '$VANER_PRECISION'" >&2; exit 2 ;;
esac
for name in "$@"; do
  case "${name%%-*}" in
    ncbi) corpus=NCBI-disease ;;
    s800) corpus=s800 ;;
    *) echo "run_ablations.sh: unknown corpus in run name '$name' (ncbi-* or s800-*)" >&2; exit 2 ;;
  esac
  case "${name#*-}" in
    nodbr) flags=(--dbr none) ;;
    dbr) flags=(--dbr "$DBR") ;;
    random) flags=(--dbr random --kb "$KB") ;;
    matched) flags=(--dbr matched --dbr-reference "$DBR" --kb "$KB") ;;
    causal) flags=(--dbr none --causal) ;;
    *) echo "run_ablations.sh: unknown variant in run name '$name' (nodbr|dbr|random|matched|causal)" >&2; exit 2 ;;
  esac
  out="$RUNS/$name"
  if [[ -f "$out/test/metrics.test.json" ]]; then echo "[$name] done already"; continue; fi
  mkdir -p "$out"
  echo "[$name] train $(date -u +%FT%TZ)"
  python train.py --corpora "$corpus" --data-dir "$DATA" "${flags[@]}" "${precision[@]}" --epochs 1 --eval-steps 230 \
    --logging-steps 20 --save-total-limit 2 --seed "$SEED" --output-dir "$out" --resume >> "$out/train.log" 2>&1
  echo "[$name] test $(date -u +%FT%TZ)"
  python evaluate_model.py --model "$out/model" --corpora "$corpus" --data-dir "$DATA" --split test "${precision[@]}" \
    --output-dir "$out/test" >> "$out/test.log" 2>&1
  echo "[$name] done $(date -u +%FT%TZ)"
done
