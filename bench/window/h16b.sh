# Issue 15, window B: the low-memory ways end to end, SDXL's skips parked, and the plan's own choice within 24 GiB.
source .gpu-inbox/hires-lib.sh
b 130 "${DEV[@]}" --unets $SD15 --sizes $BIG --end-to-end --split --layer-sessions --row-by-row --skips-on-host --device-gib 1000
b 150 "${DEV[@]}" --unets $SDXL --sizes $BIG --split --row-by-row --skips-on-host --device-gib 1000 --calls 1 --vae-sizes 256x256
b 120 "${DEV[@]}" --unets $SD15 --sizes $BIG --end-to-end --budget-gib 24 --device-gib 1000
b 100 "${DEV[@]}" --unets $SDXL --sizes $MID,4096x4096 --device-gib 1000 --calls 2 --vae-sizes 256x256
rm -rf "$W"
