#!/usr/bin/env bash
# Stages a GPU window from scratch in the project root (after `npm ci`): everything it makes is git-excluded, so a
# new checkout loses it and this script makes it again (~2 min).
#   .devkit-cuda/partN  the CUDA kit's pieces (../shared/tools/device-kit/cuda-pack.sh, 60 MiB each)
#   .dk/                node (xz), koffi for the kit's node_modules, env.sh and the kit's boot script
#   .dk2/               sharp for the kit's node_modules (the matrix's whole image writes PNGs)
#   .gpu-inbox/         hires.mjs and the hires entries (h16.sh, h16b.sh), the s7-matrix entry (gpu-matrix.mjs,
#                       PyTorch scripts, diffusers' source, the fixtures' tokenizer, specs.json)
# The calls (a carrier tree of ~0 MiB: `git switch --orphan carrier` with /node_modules/ excluded; pieces need it).
# A call carries at most 64 MiB and the machine goes cold 30 s after a call: make each call right after the last.
#   1 (alone)  carry .devkit-cuda/part1: mkdir -p /tmp/cudakit && cp .devkit-cuda/part1/piece.* /tmp/cudakit/
#   2–3        the same for part2, part3
#   4          carry .devkit-cuda/part4, .dk and one hires entry with what it reads (≤ 61 MiB), e.g. for h16d:
#              .gpu-inbox/{hires.mjs,hires-lib.sh,h16d.sh}; h16c also .gpu-inbox/{hires_torch.py,ref}:
#              cp .devkit-cuda/part4/piece.* /tmp/cudakit/ && source .dk/env.sh > $OUT/boot.log 2>&1; LIMIT=395 bash .gpu-inbox/h16d.sh > $OUT/h16d.md 2>&1
#   5          the matrix: carry .dk/{env.sh,boot-cuda.sh,payload.sha256,nm.tar.xz} (node is unpacked by call 4), .dk2
#              (sharp: the matrix writes PNGs) and .gpu-inbox/s7-matrix (9 MB; with part4 and .dk it is over 64 MiB):
#              source .dk/env.sh && bash .gpu-inbox/s7-matrix/run.sh prepare && MATRIX_BUDGET=480 bash .gpu-inbox/s7-matrix/run.sh bench
#   6          any other entry the same way as 5: h16 (session 10), h16b, h16c (every size beside PyTorch, LIMIT=535),
#              h16d (16K end to end, SD 1.5 and SDXL, LIMIT=395)
# The matrix's chart comes back with boxes for letters (no fonts there): npx tsx bench/redraw-matrix.ts its JSON here.
# CPU checks: HIRES_TINY=1 ORT_DIR=$PWD LIMIT=200 bash .gpu-inbox/h16.sh; S7_TINY=1 ORT_DIR=$PWD bash .gpu-inbox/s7-matrix/run.sh prepare|bench
set -euo pipefail
root=$(pwd); here=$(cd "$(dirname "$0")" && pwd); shared=$(cd "$root/../shared" && pwd)
for p in /.dk/ /.dk2/ /.gpu-inbox/ /.devkit-cuda/; do grep -qxF "$p" .git/info/exclude 2>/dev/null || echo "$p" >> "$(git rev-parse --git-common-dir)/info/exclude"; done
[ -d .devkit-cuda/part1 ] || PIECE_MB=60 bash "$shared/tools/device-kit/cuda-pack.sh"
mkdir -p .dk .dk2 .gpu-inbox/s7-matrix
[ -f .dk/node.xz ] || xz -T2 -6 -c "$(command -v node)" > .dk/node.xz
tar -cf - node_modules/koffi node_modules/@koromix | xz -T2 -6 > .dk/nm.tar.xz
tar -cf - node_modules/sharp node_modules/@img/colour node_modules/@img/sharp-libvips-linux-x64 node_modules/@img/sharp-linux-x64 \
  node_modules/detect-libc node_modules/semver | xz -T2 -6 > .dk2/sharp.tar.xz
cp .devkit-cuda/boot-cuda.sh .devkit-cuda/payload.sha256 "$here/env.sh" .dk/
cp "$here"/hires-lib.sh "$here"/h16.sh "$here"/h16b.sh "$here"/h16c.sh "$here"/h16d.sh bench/hires_torch.py .gpu-inbox/
mkdir -p .gpu-inbox/ref && cp "$shared"/reference/*.tar.xz .gpu-inbox/ref/
bundle() { npx esbuild "bench/$1.ts" --bundle --platform=node --format=esm --external:onnxruntime-node --external:sharp --external:koffi --log-level=warning --outfile="$2"; }
bundle hires .gpu-inbox/hires.mjs
E=.gpu-inbox/s7-matrix
bundle gpu-matrix $E/gpu-matrix.mjs
cp bench/gpu_matrix_torch.py bench/sd_unet_torch.py "$shared/reference/diffusers-src.tar.xz" $E/
rm -rf $E/tokenizer && cp -r "$shared/fixtures/tokenizer" $E/
tar -cJf $E/koffi.tar.xz node_modules/koffi node_modules/@koromix
sed -e 's/^  RUN=(); BUDGET=300$/  RUN=(--providers cuda); BUDGET=${MATRIX_BUDGET:-300}/' bench/s7-matrix-inbox.sh > $E/run.sh
node $E/gpu-matrix.mjs --specs-only --work $E > /dev/null
du -sh .dk .dk2 .gpu-inbox .devkit-cuda/part*
