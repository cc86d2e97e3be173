#!/usr/bin/env bash
# GPU inbox entry `vae16k-final` (issue 15, s6-a, window 2): the studio's tiled VAE (encode + decode of a random
# image, fp16, fused GroupNorm, native CUDA sessions with the studio tuning) at 4096², 8192×4096 and 16384×8192, one
# process per size (GPU peak per size), beside the memory plan's estimate (bench/vae-probe.ts --part tiled); then
# diffusers' AutoencoderKL tiled as LinFusion tiles it (2048 px) on the same weights (bench/vae_tiled_torch.py).
# Every part has its own timeout; together at most 146 s (LIMIT 150). As `vae16k-tiles`: only the largest size, at one
# 1024 px tile per run and at 2048 px tiles (the tilings the plan passes over).
# Entry folder: run.sh (this file), inbox-setup.sh, koffi.tar.xz, sd_vae_torch.py and the torch script, the diffusers
# source tarball (../shared/reference), and the bundle: npx esbuild bench/vae-probe.ts --bundle --platform=node --format=esm --external:onnxruntime-node
#   --external:sharp --external:koffi --outfile=.gpu-inbox/vae16k-final/vae-probe.mjs
#   VAE16K_TINY=1 ORT_DIR=$PWD bash .gpu-inbox/vae16k-final/run.sh    # the CPU check at a tiny size
set -u
D=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAME=$(basename "$D")
ORT_DIR=${ORT_DIR:-/tmp/ort129}
source "$D/inbox-setup.sh"
# The studio's tile side (px) and tiles per session run: window 1's choice (bench/NOTES.md).
TILE=${TILE:-1024}; PER_RUN=${PER_RUN:-4}
if [ "${VAE16K_TINY:-}" = 1 ]; then
  EP=cpu; SIZES=(512x256 768x256); TILE=256; TORCH=0
else
  EP=cuda; SIZES=(4096x4096 8192x4096 16384x8192); TORCH=1
fi
SECONDS=0
R=$OUT/$NAME.md
if [ "$NAME" = vae16k-tiles ]; then
  # The same tiled run at the largest size with the tilings the plan passes over: one 1024 px tile per run, one 2048 px.
  {
    report_head "issue 15 (s6-a): the 16K tiled VAE at one 1024 px tile per run and at 2048 px tiles"
    probe 65 --header --part tiled --size "${SIZES[-1]}" --tile "$TILE" --batch 1 --dtype float16 --graph fused
    probe 65 --part tiled --size "${SIZES[-1]}" --tile $((2 * TILE)) --batch 1 --dtype float16 --graph fused
  } > "$OUT/$NAME.md" 2>&1
  rm -rf "$W"; cat "$OUT/$NAME.md"; exit 0
fi
{
  report_head "issue 15 (s6-a), window 2: the tiled VAE at 4K–16K on the H200, studio vs diffusers"
  echo; echo "## The studio: tiled encode + decode, fp16, fused GroupNorm, tiles $TILE px × $PER_RUN per run; GPU = nvidia-smi's peak above the process start"
  header=--header
  for size in "${SIZES[@]}"; do probe 60 $header --part tiled --size "$size" --tile "$TILE" --batch "$PER_RUN" --dtype float16 --graph fused; header=; done
  echo; echo "## diffusers AutoencoderKL, fp16, enable_tiling with 2048 px tiles (LinFusion's), same weights"
  if [ $TORCH = 1 ]; then (cd "$W" && PYTHONPATH=$(diffusers_src) HF_HUB_OFFLINE=1 timeout $(cap 80) python3 vae_tiled_torch.py --weights "$W/vae/vae.safetensors" --sizes 16384x8192,8192x4096,4096x4096 --deadline-s $((120 - SECONDS)) 2>&1 | grep -v -i "warn\|float32: \[\]" | tail -6); else echo "(skipped on the CPU)"; fi
  echo; echo "## With what time is left: the largest size with one tile per run"
  probe 40 --header --part tiled --size "${SIZES[-1]}" --tile "$TILE" --batch 1 --dtype float16 --graph fused
} > "$R" 2>&1
rm -rf "$W"
cat "$R"
