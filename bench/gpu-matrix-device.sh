#!/usr/bin/env bash
# bench/gpu-matrix.ts on the GPU machine, in two phases over back-to-back calls (bench/NOTES.md has the calls).
# Run from the project root with DIR = the carried folder holding this script, gpu-matrix.mjs (the esbuild
# bundle), gpu_matrix_torch.py, sd_unet_torch.py, specs.json (`--specs-only`), tokenizer/,
# diffusers-src.tar.xz, koffi.tar.xz (node_modules/koffi and @koromix/koffi-linux-x64: the native session's FFI,
# external to the bundle) and the CUDA kit's boot-cuda.sh + payload.sha256.
#   prepare: joins the CUDA kit's pieces (in /tmp/cudakit), unpacks diffusers and starts making the random
#            models in the background (setsid: it outlives the call), so the next call finds them ready.
#   bench [BUDGET_S]: Node (the WebGPU kit, .devkit), waits for the models, runs the matrix into $OUT.
set -u
D=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
W=/tmp/gm14
export PYTHONPATH=/tmp/ref/diffusers/src:$D HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
case "${1:-}" in
  prepare)
    mkdir -p /tmp/ref "$W" && xz -dc "$D/diffusers-src.tar.xz" | tar -x -C /tmp/ref
    python3 -c "import diffusers; print('diffusers', diffusers.__version__)"
    cp "$D/specs.json" "$W/specs.json"
    (cd "$D" && setsid nohup python3 "$D/gpu_matrix_torch.py" make --out "$W" --tokenizer "$D/tokenizer" --linfusion-specs "$W/specs.json" > "$W/make.log" 2>&1 < /dev/null &)
    source "$D/boot-cuda.sh" && ls /tmp/ort129/node_modules/onnxruntime-node/bin/napi-v*/linux/x64/
    nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv ;;
  bench)
    source .devkit/boot.sh && source "$D/boot-cuda.sh" || exit 1
    cp "$D/gpu-matrix.mjs" /tmp/ort129/gpu-matrix.mjs
    # the bundle leaves sharp external (native): the CUDA children resolve it beside the CUDA onnxruntime-node
    mkdir -p /tmp/ort129/node_modules/@img
    mkdir -p node_modules/@koromix && tar -xJf "$D/koffi.tar.xz"
    mkdir -p /tmp/ort129/node_modules/@koromix
    for p in sharp detect-libc semver @img/colour @img/sharp-linux-x64 @img/sharp-libvips-linux-x64 koffi @koromix/koffi-linux-x64; do ln -sfn "$PWD/node_modules/$p" "/tmp/ort129/node_modules/$p"; done
    for i in $(seq 1 90); do [ -f "$W/MADE" ] && break; sleep 1; done
    cat "$W/make.log"
    [ -f "$W/MADE" ] || { echo "the random models are not ready"; exit 1; }
    node "$D/gpu-matrix.mjs" --work "$W" --out "$OUT" --cuda-entry /tmp/ort129/gpu-matrix.mjs --torch-script "$D/gpu_matrix_torch.py" \
      --tokenizer "$D/tokenizer" --budget-s "${2:-330}" 2>&1 | tee "$OUT/gpu-matrix.log" | grep -v '^\s*$' | tail -60 ;;
  *) echo "usage: $0 prepare|bench [BUDGET_S]"; exit 2 ;;
esac
