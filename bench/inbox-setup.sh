# Sourced by a GPU inbox entry's run.sh (D: the entry's folder; NAME; ORT_DIR: the device kit's onnxruntime-node
# folder): a work folder W whose node_modules are the kit's (koffi unpacked from the entry's koffi.tar.xz where the
# kit has none), holding the entry's bundles and Python scripts, and OUT made.
OUT=${OUT:-/tmp/$NAME-out}; mkdir -p "$OUT"
W=$(mktemp -d /tmp/$NAME.XXXX)
mkdir -p "$W/node_modules/@koromix"
for p in "$ORT_DIR"/node_modules/* "$ORT_DIR"/node_modules/@*/*; do [ -e "$W/node_modules/${p#$ORT_DIR/node_modules/}" ] || ln -s "$p" "$W/node_modules/${p#$ORT_DIR/node_modules/}" 2>/dev/null; done
[ -e "$W/node_modules/koffi" ] || tar -xJf "$D/koffi.tar.xz" -C "$W"
cp "$D"/*.mjs "$D"/*.py "$W/"
# probe SECONDS ARGS…: one vae-probe.mjs process, its table rows, or one row saying why it stopped; each part's
# timeout is cut so that everything ends within 140 s of SECONDS=0.
cap() { local l=$((140 - SECONDS)); if [ "$1" -lt "$l" ]; then echo "$1"; elif [ "$l" -gt 1 ]; then echo "$l"; else echo 1; fi; }
probe() {
  local t; t=$(cap "$1")
  (cd "$W" && timeout "$t" node vae-probe.mjs --ep $EP --work "$W/vae" "${@:2}" > "$W/row.txt" 2>&1; rc=$?
   grep '^|' "$W/row.txt"; [ $rc = 0 ] || echo "| (${*:2}) | exit $rc$([ $rc = 124 ] && echo ", timed out after $t s") | $(grep -v '^|' "$W/row.txt" | tail -1 | cut -c1-200) |")
}
# The diffusers source the entry carries (../shared/reference), unpacked; prints its src folder for PYTHONPATH.
diffusers_src() { mkdir -p "/tmp/$NAME-ref" && xz -dc "$D/diffusers-src.tar.xz" | tar -x -C "/tmp/$NAME-ref" && echo "/tmp/$NAME-ref/diffusers/src"; }
# The report's first lines: its title, the time, the GPU.
report_head() { echo "# $1 ($(date -u +%FT%TZ))"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"; }
