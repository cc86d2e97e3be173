#!/usr/bin/env bash
# GPU inbox entry `mha-formats` (issue 14, s5-14g): attention input layouts on ORT's CUDA provider — separate
# Q/K/V MatMuls (the studio's graph), packed QKV [B,S,N,3,H] + packed KV, packed QKV only, one MatMul + Split —
# at 4096/16384/65536 tokens, heads×d 8×40 (SD 1.5) and 10×64 (SDXL), batch 2, fp16, 4 layers, with nvidia-smi
# memory; the separate layout again with cuDNN SDPA on and with flash off (ORT's env switches); which kernel ORT
# picks (ORT_ENABLE_ATTENTION_KERNEL_DEBUG_INFO); PyTorch SDPA on the same stack in the same call; then the studio's
# VAE decode (bench/vae-decode.ts, random SD VAE weights) in fp16 and fp32 at 512²/1024².
# Bundle: npx esbuild bench/mha-formats.ts --bundle --platform=node --format=esm --external:onnxruntime-node
#   --external:sharp --external:koffi --outfile=.gpu-inbox/mha-formats/mha-formats.mjs (from /work/w14g); the same for
#   bench/vae-decode.ts → vae-decode.mjs.
#   MHA_TINY=1 ORT_DIR=/work/w14g bash .gpu-inbox/mha-formats/run.sh    # the CPU check at a tiny size
set -u
D=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-/tmp/mha-formats-out}; mkdir -p "$OUT"
ORT_DIR=${ORT_DIR:-/tmp/ort129}
W=$(mktemp -d /tmp/mha-formats.XXXX)
ln -s "$ORT_DIR/node_modules" "$W/node_modules"
cp "$D/mha-formats.mjs" "$D/vae-decode.mjs" "$D/mha_formats_torch.py" "$W/"
if [ "${MHA_TINY:-}" = 1 ]; then
  A=(--ep cpu --tokens 256 --shapes 2x8 --runs 2 --layers 2 --formats separate,split); TA=(--tokens 256 --shapes 2x8 --runs 2 --layers 2)
  DBG=(--ep cpu --tokens 256 --shapes 2x8 --runs 1 --layers 1 --formats separate)
  V=(--ep cpu --sizes 64 --runs 1)
else
  A=(--ep cuda --deadline-s 38); TA=()
  V=(--ep cuda --sizes 512,1024 --runs 3)
  DBG=(--ep cuda --tokens 256,4096 --shapes 8x40,10x64 --runs 1 --layers 1)
fi
R=$OUT/mha-formats.md
{
  echo "# issue 14 (s5-14g): attention layouts on ORT CUDA vs PyTorch SDPA ($(date -u +%FT%TZ))"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  echo; echo "## ORT, layouts (default kernels)"
  (cd "$W" && timeout 45 node mha-formats.mjs "${A[@]}" 2>&1 | grep -v '^JSON' | grep -v 'onnxruntime:' ); echo "exit ${PIPESTATUS[0]}"
  echo; echo "## ORT, separate layout, ORT_ENABLE_CUDNN_FLASH_ATTENTION=1"
  (cd "$W" && ORT_ENABLE_CUDNN_FLASH_ATTENTION=1 timeout 15 node mha-formats.mjs "${A[@]}" --formats separate 2>&1 | grep '^|')
  echo; echo "## ORT, separate layout, ORT_DISABLE_FLASH_ATTENTION=1 (memory-efficient attention)"
  (cd "$W" && ORT_DISABLE_FLASH_ATTENTION=1 timeout 15 node mha-formats.mjs "${A[@]}" --formats separate 2>&1 | grep '^|')
  echo; echo "## Kernels ORT picks (ORT_ENABLE_ATTENTION_KERNEL_DEBUG_INFO=1; unique lines)"
  echo '```'
  (cd "$W" && ORT_ENABLE_ATTENTION_KERNEL_DEBUG_INFO=1 timeout 10 node mha-formats.mjs "${DBG[@]}" 2>&1 | grep -v '^JSON' | sort | uniq -c | sort -rn | head -40)
  echo '```'
  echo; echo "## PyTorch SDPA, same stack"
  if [ "${MHA_TINY:-}" = 1 ]; then echo "(skipped on the CPU)"; else (cd "$W" && timeout 25 python3 mha_formats_torch.py "${TA[@]}" 2>&1 | grep -v '^JSON' | tail -20); fi
  echo; echo "## The studio's VAE decode (SD VAE size, random weights), fp16 with its NaN guard and fp32"
  (cd "$W" && timeout 30 node vae-decode.mjs "${V[@]}" --work "$W/vae" 2>&1 | grep -v 'onnxruntime:' | tail -12)
} > "$R" 2>&1
rm -rf "$W"
cat "$R"
