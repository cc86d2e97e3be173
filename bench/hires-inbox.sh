#!/usr/bin/env bash
# The GPU inbox entry `.gpu-inbox/hires/` (bench/NOTES.md): bench/hires.ts bundled (hires.mjs) on the CUDA
# provider, SD 1.5-size UNet + LinFusion, UNet rows then VAE rows until the deadline; one result file
# $OUT/<entry>.md. The entry's folder name picks what runs: `hires` the stages up to 8192×4096 as the memory plan
# runs them within 24 GiB, `hires16k` the 16384×8192 stage split into sessions with one CFG row at a time and
# ORT's profile per piece. Run from the project root after the device kit's boot
# scripts (node on PATH, the CUDA onnxruntime-node in /tmp/ort129/node_modules).
#   HIRES_TINY=1 ORT_DIR=$PWD bash .gpu-inbox/hires/run.sh   # the same on a CPU, tiny UNet at 512×256, to check it
set -u
D=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAME=$(basename "$D")
OUT=${OUT:-/tmp/hires-out}; mkdir -p "$OUT"
ORT_DIR=${ORT_DIR:-/tmp/ort129}
# Run the bundle beside that onnxruntime-node (not the project's CPU build in ./node_modules).
W=$(mktemp -d /tmp/hires-inbox.XXXX)
ln -s "$ORT_DIR/node_modules" "$W/node_modules"
cp "$D/hires.mjs" "$W/hires.mjs"
if [ "$NAME" = hires16k ]; then
  ARGS=(--sizes 16384x8192 --split --row-by-row --vae-tile 1024 --device-gib 1000 --calls 0 --profile)
else
  ARGS=(--sizes 2048x2048,4096x4096,8192x4096 --budget-gib 24)
fi
# Tiny: the same choices on a CPU at 512×256 (the later --sizes wins).
if [ "${HIRES_TINY:-}" = 1 ]; then ARGS+=(--ep cpu --unets tiny --sizes 512x256 --deadline-s 100 --tmp "$W")
else ARGS+=(--ep cuda --unets sd15 --deadline-s 130 --tmp "$W"); fi
{
  echo "# issue 15: the studio's ladder stages, bench/hires.ts ($(date -u +%FT%TZ))"
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  echo '```'
  (cd "$W" && env -u OUT timeout 138 node hires.mjs "${ARGS[@]}" 2>&1)
  echo "exit status $?"
  echo '```'
} > "$OUT/$NAME.md" 2>&1
rm -rf "$W"
tail -30 "$OUT/$NAME.md"
