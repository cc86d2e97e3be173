#!/usr/bin/env bash
# The SD3 MMDiT step bench on the GPU machine, both halves in one run (the GPU inbox's .gpu-inbox/sd3/run.sh):
# bench/sd3_mmdit_gpu.py makes the random SD3-medium transformer and times it in diffusers (fp16 CUDA), then the
# esbuild bundle of bench/sd3-mmdit-studio.ts runs the same weights through the studio's graph on onnxruntime-node's
# CUDA provider. One result file: $OUT/sd3.md (the table, then the log).
# Beside this script: sd3_mmdit_gpu.py, sd3-mmdit-studio.mjs, diffusers-src.tar.xz. Environment:
#   ORT_DIR  a folder whose node_modules holds the onnxruntime-node to use (default /tmp/ort129, the CUDA kit's)
#   TINY=1   the proof run: a tiny model on the CPU provider (PyTorch on the CPU too)
#   WORK     the weights folder (default /tmp/sd3-bench); one that already has torch.json skips the PyTorch half
set -uo pipefail
D=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-/tmp/sd3-out}
ORT_DIR=${ORT_DIR:-/tmp/ort129}
WORK=${WORK:-/tmp/sd3-bench}
mkdir -p "$OUT" "$WORK"
LOG=$WORK/log.txt
EP=cuda; [ -n "${TINY:-}" ] && EP=cpu
{
  echo "start $(date -u +%T)"
  if [ ! -f "$WORK/torch.json" ]; then
    mkdir -p /tmp/ref-sd3 && { [ -d /tmp/ref-sd3/diffusers ] || xz -dc "$D/diffusers-src.tar.xz" | tar -x -C /tmp/ref-sd3; }
    PYTHONPATH=/tmp/ref-sd3/diffusers/src HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 timeout 70 python3 "$D/sd3_mmdit_gpu.py" "$WORK" ${TINY:+--tiny}
    echo "PyTorch half rc $? at $(date -u +%T)"
  fi
  cp "$D/sd3-mmdit-studio.mjs" "$ORT_DIR/sd3-mmdit-studio.mjs"
  timeout 70 node "$ORT_DIR/sd3-mmdit-studio.mjs" "$WORK" --ep $EP --md "$WORK/table.md"
  echo "studio half rc $? at $(date -u +%T)"
  [ -n "${TINY:-}" ] || nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
} > "$LOG" 2>&1
{ cat "$WORK/table.md" 2>/dev/null || echo "# SD3 MMDiT step: no table (see the log)"; printf '\n## log\n\n```\n'; tail -c 6000 "$LOG"; printf '```\n'; } > "$OUT/sd3.md"
[ -f "$WORK/table.md" ]
