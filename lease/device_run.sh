#!/usr/bin/env bash
# Continue VANER's constant-LR trunk on a leased GPU machine (the workplace's `device` tool), in three calls that
# each stay under its 64 MiB transfer cap; lease/README.md gives the calls, what each one carries, and why.
#   install   carry .whl and the first backbone chunk(s): install the wheels, check the imports and the GPU
#   backbone  carry the other chunk(s): rebuild the GGUF (lease/gguf_transfer.py) and convert it once
#   train     carry the data, the DBR set and the trunk's resume folder: train inside a time budget, ship the
#             last checkpoint, calibrate its O bias on dev, score test; everything lands in $OUT
# Settings (environment): TRAIN_MINUTES (4.5), BATCH_SIZE (16), DECAY_FRACTION (0.5), RESUME (the trunk folder),
# DEV_SENTENCES (1000 per corpus for the O-bias calibration), TEST_SENTENCES (all; a number for a dry run on CPU).
set -euo pipefail
stage=${1:?usage: lease/device_run.sh install|backbone|train}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" /tmp/pack
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 VANER_CACHE=/tmp/vaner-cache HF_DATASETS_CACHE=/tmp/hf-datasets
export HF_HUB_OFFLINE=1 TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1 TOKENIZERS_PARALLELISM=false
BACKBONE=/tmp/backbone/gemma-3-270m-q4_k_m.gguf
CORPORA="NCBI-disease BC5CDR-disease BC5CDR-chem BC2GM JNLPBA linnaeus s800"
log() { echo "[$(date +%T) device_run $stage] $*"; }
keep_chunks() { if [ -d .xfer/backbone ]; then cp .xfer/backbone/* /tmp/pack/; fi; ls -la /tmp/pack; }

case "$stage" in
install)
    keep_chunks
    arrow_major=$(python3 -c "import pyarrow; print(pyarrow.__version__.split('.')[0])")
    wheels=(.whl/*.whl)
    if [ "$arrow_major" -lt 24 ]; then  # datasets 5.x needs pyarrow >= 24: take the 4.x set instead
        wheels=($(ls .whl/*.whl | grep -vE '/(datasets|dill|multiprocess|fsspec)-') .whl/fallback/*.whl)
    fi
    log "pyarrow $arrow_major; installing ${wheels[*]}"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "${wheels[@]}"
    python3 - <<'EOF'
import datasets, gguf, peft, seqeval, torch, transformers
import train, calibrate_o_bias, evaluate_model  # noqa: F401  (the whole training and scoring import graph)
print({m.__name__: getattr(m, "__version__", "?") for m in (torch, transformers, peft, datasets)},
      torch.cuda.get_device_name(0), flush=True)
EOF
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    ;;
backbone)
    keep_chunks
    python3 -m lease.gguf_transfer unpack --pack /tmp/pack --out "$BACKBONE"
    python3 -c "from backbones import resolve_backbone; print(resolve_backbone('$BACKBONE'))"
    log "backbone converted"
    ;;
train)
    mkdir -p /tmp/data && tar -xzf .xfer/data.tar.gz -C /tmp/data
    resume=${RESUME:-artifacts/resume/vaner-gemma3-270m}
    run=/tmp/run
    start_step=$(basename "$(python3 export_model.py restore --shipped "$resume" --run "$run")" | cut -d- -f2)
    log "restored step $start_step"
    python3 train.py --corpora $CORPORA --data-dir /tmp/data/bioner --dbr artifacts/dbr/vaner-dbr-minilm \
        --backbone "$BACKBONE" --eval-steps 1000 --max-eval-sentences 200 --logging-steps 100 \
        --save-total-limit 2 --lora-dropout 0 --batch-size "${BATCH_SIZE:-16}" --save-adapter-only \
        --time-budget-minutes "${TRAIN_MINUTES:-4.5}" --budget-decay-fraction "${DECAY_FRACTION:-0.5}" \
        --resume "$run/checkpoints/checkpoint-$start_step" --output-dir "$run" --cache-dir /tmp/hf-datasets \
        > "$OUT/train.log" 2>&1 || { tail -c 4000 "$OUT/train.log"; exit 1; }
    tr '\r' '\n' < "$OUT/train.log" | grep -E "time budget|eval step|windows|saved" || true
    last=$(ls -d $run/checkpoints/checkpoint-* | sort -t- -k2 -n | tail -1)
    step=$(basename "$last" | cut -d- -f2)
    python3 export_model.py ship --run "$run" --output /tmp/ship --checkpoint "$last"
    cp /tmp/ship/adapter_model.safetensors "$OUT/adapter_model.safetensors"
    tar -czf "$OUT/ship.tar.gz" -C /tmp/ship --exclude adapter_model.safetensors .
    log "shipped step $step"
    # the shipped config names the run's recorded backbone (gemma3-270m, a PyPI package not installed there)
    model=$(python3 -c "from export_model import materialize; print(materialize('/tmp/ship', backbone='$BACKBONE'))")
    python3 calibrate_o_bias.py --model "$model" --data-dir /tmp/data/bioner --corpora $CORPORA \
        --max-sentences "${DEV_SENTENCES:-1000}" --results "$OUT/o_bias.json" 2>&1 | grep -v "it/s]" | tail -20
    log "calibrated"
    python3 evaluate_model.py --model "$model" --corpora $CORPORA --data-dir /tmp/data/bioner --split test \
        --o-bias "$OUT/o_bias.json" --output-dir /tmp/test ${TEST_SENTENCES:+--max-sentences $TEST_SENTENCES} 2>&1 | grep -v "it/s]" | tail -20
    cp /tmp/test/metrics.test.json "$OUT/metrics.test.json"
    log "scored test"
    ;;
*) echo "unknown stage $stage" >&2; exit 2 ;;
esac
