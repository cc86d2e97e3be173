#!/usr/bin/env bash
# GPU inbox entry `s14g-final` (issue 14, s5-14g, window 2), with the studio's default CUDA sessions (the native
# session, `studio` tuning; koffi carried as koffi.tar.xz):
#   1. the VAE decode (bench/vae-decode.ts, SD VAE size, random weights) fp16/fp32 × plain/fused GroupNorm+SiLU at
#      512²/1024², each in its own process, beside diffusers' AutoencoderKL on the same weights (vae_decode_torch.py);
#   2. the attention stack of bench/mha-formats.ts (separate Q/K/V) under ORT's attention kernels: its own choice,
#      sdpa=1 (flash), sdpa=2 (memory-efficient), beside PyTorch SDPA (mha_formats_torch.py).
# Every part has its own timeout; together at most 146 s (LIMIT 150).
# Bundles (from /work/w14g): npx esbuild bench/{vae-decode,mha-formats}.ts --bundle --platform=node --format=esm
#   --external:onnxruntime-node --external:sharp --external:koffi --outfile=.gpu-inbox/s14g-final/<name>.mjs
#   S14G_TINY=1 ORT_DIR=/work/w14g bash .gpu-inbox/s14g-final/run.sh    # the CPU check at a tiny size
set -u
D=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-/tmp/s14g-final-out}; mkdir -p "$OUT"
ORT_DIR=${ORT_DIR:-/tmp/ort129}
W=$(mktemp -d /tmp/s14g-final.XXXX)
mkdir -p "$W/node_modules/@koromix"
for p in "$ORT_DIR"/node_modules/* "$ORT_DIR"/node_modules/@*/*; do [ -e "$W/node_modules/${p#$ORT_DIR/node_modules/}" ] || ln -s "$p" "$W/node_modules/${p#$ORT_DIR/node_modules/}" 2>/dev/null; done
[ -e "$W/node_modules/koffi" ] || tar -xJf "$D/koffi.tar.xz" -C "$W"
cp "$D"/*.mjs "$D"/*.py "$W/"
if [ "${S14G_TINY:-}" = 1 ]; then
  EP=cpu; VS=(--sizes 64 --runs 1); MA=(--ep cpu --tokens 256 --shapes 2x8 --runs 2 --layers 2 --formats separate); TORCH=0
else
  EP=cuda; VS=(--sizes 512,1024 --runs 3); MA=(--ep cuda --formats separate --tokens 16384,65536 --runs 5 --deadline-s 11); TORCH=1
  mkdir -p /tmp/s14g-ref && xz -dc "$D/diffusers-src.tar.xz" | tar -x -C /tmp/s14g-ref
fi
R=$OUT/s14g-final.md
{
  echo "# issue 14 (s5-14g), window 2: VAE decode plain/fused, attention kernels ($(date -u +%FT%TZ))"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  echo; echo "## The studio's VAE decode (native CUDA session, studio tuning), one process per row group"
  first=1
  for cfg in "float16" "float16 --fused" "float32" "float32 --fused"; do
    set -- $cfg
    H=(); [ $first = 1 ] || H=(--rows-only); first=0
    (cd "$W" && timeout 15 node vae-decode.mjs --ep $EP "${VS[@]}" --work "$W/vae" --dtypes "$@" "${H[@]}" 2>&1 | grep '^|')
  done
  echo; echo "## diffusers AutoencoderKL, same weights"
  if [ $TORCH = 1 ]; then (cd "$W" && PYTHONPATH=/tmp/s14g-ref/diffusers/src HF_HUB_OFFLINE=1 timeout 20 python3 vae_decode_torch.py --weights "$W/vae/vae.safetensors" 2>&1 | grep -v Warning | tail -8); else echo "(skipped on the CPU)"; fi
  for tuning in studio studio,sdpa=1 studio,sdpa=2; do
    echo; echo "## Attention stack, separate Q/K/V, STUDIO_CUDA_TUNING=$tuning"
    (cd "$W" && STUDIO_CUDA_TUNING=$tuning timeout 15 node mha-formats.mjs "${MA[@]}" 2>&1 | grep '^|')
  done
  echo; echo "## PyTorch SDPA, same stack"
  if [ $TORCH = 1 ]; then (cd "$W" && timeout 20 python3 mha_formats_torch.py --tokens 16384,65536 --runs 5 2>&1 | grep '^|'); else echo "(skipped on the CPU)"; fi
} > "$R" 2>&1
rm -rf "$W"
cat "$R"
