#!/bin/bash
# Waits up to $1 seconds (default 500) for the pipeline, prints the log tail, and once it has
# finished packs the results into $OUT (each file under the device tool's 16 MiB limit).
ROOT=${TRAIN_ROOT:-/root/train}
end=$((SECONDS + ${1:-500}))
while [ $SECONDS -lt $end ]; do
  grep -q 'ALL DONE' "$ROOT/log" && break
  kill -0 "$(cat "$ROOT/pid")" 2>/dev/null || break
  sleep 10
done
grep -v 'lit: inherited' "$ROOT/log" | tail -n 30 | cut -c1-700
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
cp "$ROOT/log" "$OUT/train.log"
if grep -q 'ALL DONE' "$ROOT/log"; then
  cd "$ROOT/out"
  tar cf "$OUT/emoji-dit.tar" assets/models/emoji-dit
  tar cf "$OUT/emoji-lit.tar" assets/models/emoji-lit
  tar cf "$OUT/emoji-rest.tar" assets/models/emoji-dico assets/models/emoji-vae assets/models/emoji-text
  tar cf "$OUT/docs.tar" docs
  cp "$ROOT/work/eval/results.json" "$OUT/results.json"
  ls -la "$OUT"
fi
