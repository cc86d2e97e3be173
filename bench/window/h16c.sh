# Issue 15, window C: every stage size in one call, beside LinFusion's own PyTorch pipeline, on the code as it is now
# (CUDA's pool as the split UNet's arena): SD 1.5 16K end to end, SDXL 16K end to end, PyTorch's ladder stages
# (bench/hires_torch.py --ladder: the studio's strengths), then both UNets at 2048²…8192×4096 as the plan runs them.
# Carries .gpu-inbox/ref (diffusers' and LinFusion's source, ../shared/reference) and .gpu-inbox/hires_torch.py.
source .gpu-inbox/hires-lib.sh
b 130 "${DEV[@]}" --unets $SD15 --sizes $BIG --end-to-end --split --row-by-row --device-gib 1000
b 150 "${DEV[@]}" --unets $SDXL --sizes $BIG --end-to-end --split --row-by-row --device-gib 1000
t=$((LIMIT - SECONDS - 150)); [ "$t" -gt 150 ] && t=150
if [ "${HIRES_TINY:-}" != 1 ] && [ "$t" -gt 60 ]; then
  echo "## LinFusion's PyTorch ladder stages (hires_torch.py --steps 50 --ladder, timeout $t s, entry at ${SECONDS} s)"; echo '```'
  mkdir -p /tmp/ref && for f in .gpu-inbox/ref/*.tar.xz; do xz -dc "$f" | tar -x -C /tmp/ref; done
  PYTHONPATH=/tmp/ref/diffusers/src:/tmp/ref/linfusion HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 timeout "$t" \
    python3 .gpu-inbox/hires_torch.py --steps 50 --ladder --deadline-s $((t - 30)) 2>&1 | grep -v Warning
  echo "exit status ${PIPESTATUS[0]}"; echo '```'
fi
SMALL=2048x2048,4096x4096,8192x4096; [ "${HIRES_TINY:-}" = 1 ] && SMALL=$MID
b 200 "${DEV[@]}" --unets $SD15,$SDXL --sizes $SMALL --calls 2
rm -rf "$W"
