#!/usr/bin/env bash
# The GPU inbox entry `.gpu-inbox/hires/` (bench/NOTES.md): bench/hires.ts bundled (hires.mjs) on the CUDA
# provider, SD 1.5-size UNet + LinFusion with the memory plan's pieces; HIRES_ARGS picks the sizes, CFG rows per
# call and VAE tile (window 1: the probe below); UNet rows then VAE rows until the deadline; one result file
# $OUT/hires.md. Run from the project root after the device kit's boot
# scripts (node on PATH, the CUDA onnxruntime-node in /tmp/ort129/node_modules).
#   HIRES_TINY=1 ORT_DIR=$PWD bash .gpu-inbox/hires/run.sh   # the same on a CPU, tiny UNet at 256², to check it
set -u
D=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-/tmp/hires-out}; mkdir -p "$OUT"
ORT_DIR=${ORT_DIR:-/tmp/ort129}
# Run the bundle beside that onnxruntime-node (not the project's CPU build in ./node_modules).
W=$(mktemp -d /tmp/hires-inbox.XXXX)
ln -s "$ORT_DIR/node_modules" "$W/node_modules"
cp "$D/hires.mjs" "$W/hires.mjs"
if [ "${HIRES_TINY:-}" = 1 ]; then
  ARGS=(--ep cpu --unets tiny --sizes 512x256 --split --row-by-row --vae-tile 256 --deadline-s 100 --tmp "$W")
else
  # Window 1's probe: the UNet split into sessions, CFG rows one at a time, at 16K and 8K (past the old plan's
  # refusal); the VAE in 1024 px tiles at 8192×4096.
  ARGS=(--ep cuda --unets sd15 --sizes 16384x8192,8192x4096 --split --row-by-row --vae-tile 1024 --vae-sizes 8192x4096 --device-gib 1000 --deadline-s 128 --tmp "$W")
fi
{
  echo "# issue 15: the studio's ladder stages, bench/hires.ts ($(date -u +%FT%TZ))"
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  echo '```'
  (cd "$W" && env -u OUT timeout 138 node hires.mjs "${ARGS[@]}" 2>&1)
  echo "exit status $?"
  echo '```'
} > "$OUT/hires.md" 2>&1
rm -rf "$W"
tail -30 "$OUT/hires.md"
