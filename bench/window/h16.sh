# Issue 15, window A: the 16K stage on the code as it is now (native CUDA sessions, no planner reuse, one shared arena),
# most-needed first: SD 1.5 end to end (time, memory with the skips on the GPU), the skips parked in pinned host
# memory, SDXL-size 16K, then layer sessions.
source .gpu-inbox/hires-lib.sh
b 130 "${DEV[@]}" --unets $SD15 --sizes $BIG --end-to-end --split --row-by-row --device-gib 1000
b 60 "${DEV[@]}" --unets $SD15 --sizes $BIG --split --row-by-row --skips-on-host --device-gib 1000 --calls 2 --vae-sizes 256x256
b 150 "${DEV[@]}" --unets $SDXL --sizes $BIG --split --row-by-row --device-gib 1000 --calls 1 --vae-sizes 256x256
b 60 "${DEV[@]}" --unets $SD15 --sizes $BIG --split --layer-sessions --row-by-row --device-gib 1000 --calls 2 --vae-sizes 256x256
rm -rf "$W"
