#!/bin/bash
# Starts the whole pipeline in the background on the GPU machine, outside the repository copy
# (which the device tool re-syncs on every call). Extra arguments go to run.py (e.g. --smoke).
set -e
ROOT=${TRAIN_ROOT:-/root/train}
if [ -f "$ROOT/pid" ] && kill -0 "$(cat "$ROOT/pid")" 2>/dev/null; then echo "pipeline already running"; exit 0; fi
mkdir -p "$ROOT"
rm -rf "$ROOT/code"
cp -r training "$ROOT/code"
cp .cache/emoji-data/emoji64.pack "$ROOT/emoji64.pack"
cd "$ROOT"
PYTHONUNBUFFERED=1 setsid nohup python3 code/run.py --data emoji64.pack --work work \
  --assets out/assets/models --docs out/docs "$@" > log 2>&1 < /dev/null &
echo $! > pid
echo "started pid $(cat pid)"
