#!/usr/bin/env bash
# GPU inbox entry `vae16k` (issue 15, s6-a, window 1): where the 16K tiled VAE's time goes. One 1024 px (and
# 2048 px) tile's decode and encode with the studio's default CUDA sessions (native, `studio` tuning), fp16/fp32 ×
# plain/fused GroupNorm, tiles batched, ORT's per-op profile (bench/vae-probe.ts, one process per row); diffusers'
# AutoencoderKL on the same weights with torch.profiler (bench/vae_probe_torch.py); the host side of a whole
# 16384×8192 tiled decode on the device's CPU; last, what time is left: an 8192×4096 tiled encode + decode. Every part has its own timeout; together at most 146 s (LIMIT 150).
# Entry folder: run.sh (this file), inbox-setup.sh, koffi.tar.xz, sd_vae_torch.py and the torch script, the diffusers
# source tarball (../shared/reference), and the bundle: npx esbuild bench/vae-probe.ts --bundle --platform=node --format=esm --external:onnxruntime-node
#   --external:sharp --external:koffi --outfile=.gpu-inbox/vae16k/vae-probe.mjs
#   VAE16K_TINY=1 ORT_DIR=$PWD bash .gpu-inbox/vae16k/run.sh    # the CPU check at a tiny size
set -u
D=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAME=$(basename "$D")
ORT_DIR=${ORT_DIR:-/tmp/ort129}
source "$D/inbox-setup.sh"
if [ "${VAE16K_TINY:-}" = 1 ]; then
  EP=cpu; T1=64; T2=128; HOST=(--size 1024x512 --tile 256); TILED=(--size 512x256 --tile 256); RUNS=1; TORCH=0
else
  EP=cuda; T1=1024; T2=2048; HOST=(--size 16384x8192 --tile 1024); TILED=(--size 8192x4096 --tile 1024); RUNS=2; TORCH=1
fi
SECONDS=0
R=$OUT/$NAME.md
{
  report_head "issue 15 (s6-a), window 1: one VAE tile on the H200, studio vs diffusers"
  echo; echo "## The studio's VAE, one tile (native CUDA session, studio tuning); session run profiled where the profile column is filled"
  probe 18 --header --part decode --tile $T1 --dtype float16 --graph fused --profile --runs $RUNS
  echo; echo "## diffusers AutoencoderKL, same weights, one tile"
  if [ $TORCH = 1 ]; then (cd "$W" && PYTHONPATH=$(diffusers_src) HF_HUB_OFFLINE=1 timeout $(cap 28) python3 vae_probe_torch.py --weights "$W/vae/vae.safetensors" --tiles $T1,$T2 --runs 2 2>&1 | grep -v Warning | tail -12); else echo "(skipped on the CPU)"; fi
  echo; echo "## The studio's VAE, more rows"
  probe 12 --header --part decode --tile $T1 --dtype float16 --graph plain --profile --runs $RUNS
  probe 12 --part encode --tile $T1 --dtype float16 --graph fused --profile --runs $RUNS
  probe 14 --part decode --tile $T2 --dtype float16 --graph fused --profile --runs $RUNS
  probe 12 --part decode --tile $T1 --dtype float16 --graph fused --batch 4 --runs $RUNS
  echo; echo "## Host side of a whole tiled decode (stand-in tiles; the device's CPU)"
  (cd "$W" && timeout $(cap 20) node vae-probe.mjs --part host "${HOST[@]}" --work "$W/vae" 2>&1 | grep '^|')
  echo; echo "## The studio's VAE, the last rows"
  probe 10 --header --part decode --tile $T1 --dtype float32 --graph fused --runs $RUNS
  probe 10 --part encode --tile $T1 --dtype float16 --graph plain --profile --runs $RUNS
  probe 10 --part encode --tile $T1 --dtype float32 --graph plain --runs $RUNS
  probe 12 --part encode --tile $T2 --dtype float16 --graph fused --runs $RUNS
  probe 10 --part decode --tile $T1 --dtype float32 --graph plain --runs $RUNS
  echo; echo "## A whole image's tiled encode + decode (fp16, fused), beside the memory plan's estimate"
  probe 40 --header --part tiled "${TILED[@]}" --dtype float16 --graph fused
} > "$R" 2>&1
rm -rf "$W"
cat "$R"
