# Sourced by the hires entries: W (hires.mjs beside the kit's node_modules) and b TIMEOUT ARGS…: one hires.mjs run,
# cut so that the entry ends within LIMIT s; per-call CFG lines dropped, GPU state after.
set -u
LIMIT=${LIMIT:-560}
W=$(mktemp -d /tmp/hires.XXXX); ln -s "$ORT_DIR/node_modules" "$W/node_modules"; cp .gpu-inbox/hires.mjs "$W/"
SECONDS=0
b() {
  local t=$1; shift; local left=$((LIMIT - SECONDS)); [ "$t" -lt "$left" ] || t=$left
  [ "$t" -gt 20 ] || { echo "(skipped, no time left: $*)"; return; }
  echo "## \`$*\` (timeout $t s, started $(date -u +%T), entry at ${SECONDS} s)"; echo '```'
  (cd "$W" && env -u OUT timeout "$t" node hires.mjs "$@" --deadline-s $((t - 8)) --tmp "$W" 2>&1 | grep -v '^  CFG call [0-9]*/[0-9]*: ')
  echo "exit status ${PIPESTATUS[0]}"; echo '```'
}
echo "# $(basename "$0" .sh) ($(date -u +%FT%TZ))"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
if [ "${HIRES_TINY:-}" = 1 ]; then DEV=(--ep cpu --vae-tile 256); SD15=tiny; SDXL=tinyxl; BIG=512x256; MID=256x256
else DEV=(--ep cuda); SD15=sd15; SDXL=sdxl; BIG=16384x8192; MID=2048x2048; fi
