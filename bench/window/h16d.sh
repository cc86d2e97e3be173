# Issue 15, window D: 16384×8192 end to end with the VAE's sessions on the split UNet's shared arena (CUDA's pool),
# SD 1.5-size then SDXL-size, then SDXL with its skips parked in pinned host memory.
source .gpu-inbox/hires-lib.sh
b 110 "${DEV[@]}" --unets $SD15 --sizes $BIG --end-to-end --split --row-by-row --device-gib 1000
b 150 "${DEV[@]}" --unets $SDXL --sizes $BIG --end-to-end --split --row-by-row --device-gib 1000
b 150 "${DEV[@]}" --unets $SDXL --sizes $BIG --end-to-end --split --row-by-row --skips-on-host --device-gib 1000
rm -rf "$W"
