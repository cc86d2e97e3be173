#!/usr/bin/env bash
# GPU inbox entries `hires`, `hires16k`, `hires-sdxl` and `hires-sdxl16k` (issue 15): bench/hires.ts bundled (hires.mjs) on the CUDA
# provider, native sessions with the studio tuning, random fp16 weights; the entry's folder name picks what runs:
# - hires: SD 1.5-size UNet + LinFusion, the stages up to 8192×4096 as the memory plan runs them within 24 GiB.
# - hires16k: SD 1.5-size UNet + LinFusion at 16384×8192 end to end in one process (--end-to-end: tiled VAE encode,
#   the ladder's 5 CFG calls each timed, tiled VAE decode; UNet split into sessions, CFG rows one at a time, the plan's
#   FF pieces and VAE tiles), then the same UNet with the skips in host memory (--skips-on-host), one timed call.
# - hires-sdxl: SDXL-size UNet + LinFusion at 16384×8192, 2048², 4096², 8192×4096, the plan's choices within 48 GiB
#   (the least in which its 16K stage fits), first call + 1 timed call each.
# - hires-sdxl16k: SDXL-size UNet + LinFusion at 16384×8192 split into sessions, CFG rows one at a time, the skips
#   held on the GPU, first call + 1 timed call.
# - hires16k-host: SD 1.5-size UNet + LinFusion at 16384×8192 split, rows one at a time, first call + 2 timed calls
#   each: the skips parked in pinned host memory (ORT's CUDA pinned allocator), in pageable host memory, and on the GPU.
# - hires16k-e2e: as hires16k's first row, with the skips parked in pinned host memory.
# - hires-sdxl-rows: SDXL-size UNet + LinFusion at 4096², the plan's FF pieces, CFG rows together and one at a time
#   (the plan's ×2 for a whole graph one row at a time rests on one row, SDXL 8192×4096), first call + 2 timed calls.
# Each part has its own timeout; together at most 146 s (LIMIT 150). One result file $OUT/<entry>.md.
# Entry folder: run.sh (this file) and the bundle:
#   npx esbuild bench/hires.ts --bundle --platform=node --format=esm --external:onnxruntime-node --external:sharp
#     --external:koffi --outfile=.gpu-inbox/<entry>/hires.mjs
#   HIRES_TINY=1 ORT_DIR=$PWD bash .gpu-inbox/<entry>/run.sh   # the CPU check: tiny UNets at 512×256
set -u
D=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAME=$(basename "$D")
OUT=${OUT:-/tmp/$NAME-out}; mkdir -p "$OUT"
ORT_DIR=${ORT_DIR:-/tmp/ort129}
W=$(mktemp -d /tmp/$NAME.XXXX)
ln -s "$ORT_DIR/node_modules" "$W/node_modules"
cp "$D/hires.mjs" "$W/hires.mjs"
SECONDS=0
# bench SECONDS ARGS…: one hires.mjs run, cut so that everything ends within 146 s of the start.
bench() {
  local t=$(( $1 < 146 - SECONDS ? $1 : 146 - SECONDS ))
  [ "$t" -gt 10 ] || { echo "(skipped: no time left) ${*:2}"; return; }
  echo "## \`${*:2}\` (timeout ${t} s)"; echo '```'
  (cd "$W" && env -u OUT timeout "$t" node hires.mjs "${@:2}" --deadline-s $((t - 6)) --tmp "$W" 2>&1)
  echo "exit status $?"; echo '```'
}
if [ "${HIRES_TINY:-}" = 1 ]; then
  DEV=(--ep cpu --vae-tile 256); SD15=tiny; SDXL=tinyxl; BIG=512x256; SMALL=256x256,384x256; MID=384x256
else
  DEV=(--ep cuda); SD15=sd15; SDXL=sdxl; BIG=16384x8192; SMALL=2048x2048,4096x4096,8192x4096; MID=4096x4096
fi
{
  echo "# issue 15: $NAME, bench/hires.ts ($(date -u +%FT%TZ))"
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  if [ "$NAME" = hires-sdxl16k ]; then
    bench 146 "${DEV[@]}" --unets $SDXL --sizes $BIG --split --row-by-row --device-gib 1000 --calls 1 --vae-sizes 256x256
  elif [ "$NAME" = hires16k-host ]; then
    bench 52 "${DEV[@]}" --unets $SD15 --sizes $BIG --split --row-by-row --skips-on-host --device-gib 1000 --calls 2 --vae-sizes 256x256
    bench 50 "${DEV[@]}" --unets $SD15 --sizes $BIG --split --row-by-row --skips-on-host --park pageable --device-gib 1000 --calls 2 --vae-sizes 256x256
    bench 44 "${DEV[@]}" --unets $SD15 --sizes $BIG --split --row-by-row --device-gib 1000 --calls 2 --vae-sizes 256x256
  elif [ "$NAME" = hires-sdxl-rows ]; then
    bench 70 "${DEV[@]}" --unets $SDXL --sizes $MID --device-gib 1000 --calls 2 --vae-sizes 256x256
    bench 76 "${DEV[@]}" --unets $SDXL --sizes $MID --row-by-row --device-gib 1000 --calls 2 --vae-sizes 256x256
  elif [ "$NAME" = hires16k-e2e ]; then
    bench 146 "${DEV[@]}" --unets $SD15 --sizes $BIG --end-to-end --split --row-by-row --skips-on-host --device-gib 1000
  elif [ "$NAME" = hires ]; then
    bench 146 "${DEV[@]}" --unets $SD15 --sizes $SMALL --budget-gib 24
  elif [ "$NAME" = hires-sdxl ]; then
    bench 146 "${DEV[@]}" --unets $SDXL --sizes $BIG,$SMALL --budget-gib 48 --calls 1 --vae-sizes 256x256
  else
    bench 100 "${DEV[@]}" --unets $SD15 --sizes $BIG --end-to-end --split --row-by-row --device-gib 1000
    bench 46 "${DEV[@]}" --unets $SD15 --sizes $BIG --split --row-by-row --skips-on-host --device-gib 1000 --calls 1 --vae-sizes 256x256
  fi
} > "$OUT/$NAME.md" 2>&1
rm -rf "$W"
tail -40 "$OUT/$NAME.md"
