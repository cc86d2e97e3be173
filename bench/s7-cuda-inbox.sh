#!/usr/bin/env bash
# GPU inbox entry `s7-cuda` (issue 14, s7-a, window 1): the per-step cells still not met, on the studio's sessions as
# they now are — LinFusion's token mean as a GEMM, and a CUDA graph by default for the whole UNet (`studio`; the
# `studio,graph=0` rows are the same session without one). bench/cuda-probe.ts (native CUDA sessions, random fp16
# weights written by the probe, fused graph, CFG batch 2, median of 4 steps), diffusers' UNet2DConditionModel (fp16,
# SDPA) timed first on the same weights in the same call:
#   1. SD 1.5 at 1024² (softmax, LinFusion; graph on and off) and 2048² (graph on);
#   2. SDXL at 2048² then 1024² (softmax, LinFusion; graph on): its random weights alone take ~31 s, so 1024²
#      (0.51× / 0.66× in session 5) comes last, where the deadline may cut it.
# Every part has its own timeout; together at most 146 s (LIMIT 150). Rows past a part's deadline say so.
# Entry folder: run.sh (this file), inbox-setup.sh, koffi.tar.xz, gpu_matrix_torch.py, sd_unet_torch.py, the diffusers
# source tarball (../shared/reference), and the bundle: npx esbuild bench/cuda-probe.ts --bundle --platform=node
#   --format=esm --external:onnxruntime-node --external:sharp --external:koffi --outfile=.gpu-inbox/s7-cuda/cuda-probe.mjs
#   S7_TINY=1 ORT_DIR=$PWD bash .gpu-inbox/s7-cuda/run.sh    # the CPU check at a tiny size (no PyTorch)
set -u
D=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAME=$(basename "$D")
ORT_DIR=${ORT_DIR:-/tmp/ort129}
source "$D/inbox-setup.sh"
F=/work/shared/fixtures
if [ "${S7_TINY:-}" = 1 ]; then
  SD=(--ep cpu --unet-config "$F/sd15-tiny/unet/config.json" --sizes 64,128 --steps 2); XL=(--ep cpu --unet-config "$F/sdxl-tiny/unet/config.json" --sizes 128,64 --steps 2)
  A=64; B=128
else
  export PYTHONPATH=$(diffusers_src) HF_HUB_OFFLINE=1
  SD=(--ep cuda --sizes 1024,2048 --steps 4 --torch "$W" --python python3); XL=(--ep cuda --sizes 2048,1024 --steps 4 --torch "$W" --python python3)
  A=1024; B=2048
fi
N=native-caller:studio
SECONDS=0
# part SECONDS MODEL CONFIGS ARGS…: one cuda-probe.mjs run cut at SECONDS (no new row 12 s before): its table and PyTorch's,
# or the rows done when the timeout cut it.
part() {
  local t; t=$(cap "$1")
  (cd "$W" && timeout "$t" node cuda-probe.mjs --tmp "$W/$2" --model "$2" --configs "$3" --deadline-s $((t - 12)) "${@:4}" 2>&1 \
    | awk '/^(random|PyTorch)/ { print; next } /UNet, fp/ { s = 1; rows = "" } s { print; next } /^\| [0-9]/ { rows = rows $0 "\n" } END { if (!s) printf "%s", rows }'
   echo "exit status ${PIPESTATUS[0]}")
}
R=$OUT/$NAME.md
{
  report_head "issue 14 (s7-a), window 1: GEMM token mean for LinFusion, CUDA graphs by default, beside PyTorch"
  echo; echo "## SD 1.5"
  part 70 sd15 "$N@$A;$N%linfusion@$A;$N,graph=0@$A;$N,graph=0%linfusion@$A;$N%linfusion@$B;$N@$B" "${SD[@]}"
  echo; echo "## SDXL"
  part 70 sdxl "$N@$A;$N%linfusion@$A;$N@$B;$N%linfusion@$B" "${XL[@]}"
} > "$R" 2>&1
rm -rf "$W" "/tmp/$NAME-ref"
cat "$R"
