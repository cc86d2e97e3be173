#!/usr/bin/env bash
# GPU inbox entry `s7-matrix` (issue 14, s7-a, window 2): `npm run bench -- gpu-matrix` on the final code, in two calls on
# one warm machine, as bench/gpu-matrix-device.sh (the kit's boot scripts already ran: node on PATH, the CUDA
# onnxruntime-node in $ORT_DIR):
#   run.sh prepare   (LIMIT 60 s): unpacks diffusers, starts making the random models (bench/gpu_matrix_torch.py make:
#                    diffusers' and transformers' own classes, fp16) in the background, so that the next call finds them.
#   run.sh bench     (LIMIT 330 s): waits for them and runs the matrix with a 300 s budget, most-needed rows first:
#                    SD 1.5 + SDXL × softmax/LinFusion × 512²/1024²/2048² on CUDA (native sessions, CUDA graphs as the
#                    studio runs them), PyTorch in the same call, the whole SD 1.5 512² image, then what the budget leaves.
# Writes $OUT/s7-matrix.md (the report, then the log's tail) and $OUT/s7-matrix.json (the chart is drawn from it later:
# bench/lib/matrix-report.ts).
# Entry folder: run.sh (this file), gpu-matrix.mjs (npx esbuild bench/gpu-matrix.ts --bundle --platform=node --format=esm
#   --external:onnxruntime-node --external:sharp --external:koffi), gpu_matrix_torch.py, sd_unet_torch.py, specs.json
#   (`--specs-only`), tokenizer/ (../shared/fixtures/tokenizer), diffusers-src.tar.xz (../shared/reference), koffi.tar.xz.
#   S7_TINY=1 ORT_DIR=$PWD bash .gpu-inbox/s7-matrix/run.sh prepare|bench   # the CPU check: tiny UNets, no PyTorch
set -u
D=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAME=$(basename "$D")
ORT_DIR=${ORT_DIR:-/tmp/ort129}
OUT=${OUT:-/tmp/$NAME-out}; mkdir -p "$OUT"
W=/tmp/$NAME-work
export PYTHONPATH=/tmp/$NAME-ref/diffusers/src:$D HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
if [ "${S7_TINY:-}" = 1 ]; then
  RUN=(--tiny /work/shared/fixtures --providers cpu); BUDGET=100
else
  RUN=(); BUDGET=300
fi
report_head() { echo "# $1 ($(date -u +%FT%TZ))"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"; }
case "${1:-}" in
  prepare)
    {
      report_head "issue 14 (s7-a), window 2: the GPU matrix, call 1 of 2 (prepare)"
      mkdir -p "/tmp/$NAME-ref" "$W" && xz -dc "$D/diffusers-src.tar.xz" | tar -x -C "/tmp/$NAME-ref"
      cp "$D/specs.json" "$W/specs.json"
      if [ "${S7_TINY:-}" = 1 ]; then
        echo "tiny: the models are the fixtures', copied by the bench call"
      else
        python3 -c "import diffusers, torch; print('diffusers', diffusers.__version__, 'torch', torch.__version__)"
        (cd "$D" && setsid nohup python3 "$D/gpu_matrix_torch.py" make --out "$W" --tokenizer "$D/tokenizer" --linfusion-specs "$W/specs.json" > "$W/make.log" 2>&1 < /dev/null &)
        echo "making the random models in the background (log: $W/make.log)"
      fi
      ls "$ORT_DIR"/node_modules/onnxruntime-node/bin/napi-v*/linux/x64/
      nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv 2>/dev/null
    } > "$OUT/$NAME.md" 2>&1
    cat "$OUT/$NAME.md" ;;
  bench)
    # The bundle leaves sharp and koffi external (native): linked beside the CUDA onnxruntime-node from the device
    # kit's node_modules (the project root's), koffi from the entry where the kit has none.
    for p in sharp detect-libc semver @img/colour @img/sharp-linux-x64 @img/sharp-libvips-linux-x64 koffi @koromix/koffi-linux-x64; do
      [ -e "$ORT_DIR/node_modules/$p" ] || { [ -e "$PWD/node_modules/$p" ] && mkdir -p "$(dirname "$ORT_DIR/node_modules/$p")" && ln -sfn "$PWD/node_modules/$p" "$ORT_DIR/node_modules/$p"; }
    done
    [ -e "$ORT_DIR/node_modules/koffi" ] || tar -xJf "$D/koffi.tar.xz" -C "$ORT_DIR"
    cp "$D/gpu-matrix.mjs" "$ORT_DIR/$NAME.mjs"
    SECONDS=0
    for i in $(seq 1 90); do [ -f "$W/MADE" ] || [ "${S7_TINY:-}" = 1 ] && break; sleep 1; done
    BUDGET=$((BUDGET - SECONDS))   # the wait for the models comes out of the matrix's budget: the call stays within 330 s
    rm -rf "$W/out"
    (cd "$ORT_DIR" && timeout $((BUDGET + 25)) node "$NAME.mjs" --work "$W" --out "$W/out" --cuda-entry "$ORT_DIR/$NAME.mjs" \
      --torch-script "$D/gpu_matrix_torch.py" --tokenizer "$D/tokenizer" --budget-s "$BUDGET" "${RUN[@]}") > "$W/log" 2>&1
    rc=$?
    {
      cat "$W"/out/*-gpu-matrix.md 2>/dev/null || echo "no report written (exit status $rc)"
      echo; echo "## Log (exit status $rc; last 60 lines)"; echo '```'
      [ -f "$W/make.log" ] && tail -5 "$W/make.log"
      grep -v '^\s*$' "$W/log" | tail -60; echo '```'
    } > "$OUT/$NAME.md"
    cp "$W"/out/*-gpu-matrix.json "$OUT/$NAME.json" 2>/dev/null
    rm -f "$ORT_DIR/$NAME.mjs"
    tail -30 "$OUT/$NAME.md" ;;
  *) echo "usage: $0 prepare|bench"; exit 2 ;;
esac
