# On the GPU machine, from the project root, after the CUDA kit's pieces are in /tmp/cudakit: `source .dk/env.sh`.
# Node on PATH, the kit unpacked once (onnxruntime-node 1.29 + its CUDA provider in /tmp/ort129, CUDA/cuDNN from
# PyTorch's pip packages on LD_LIBRARY_PATH), koffi beside it, and sharp where a call carries .dk2. Every later call
# sources it again (cheap).
mkdir -p /tmp/devkit/bin
[ -x /tmp/devkit/bin/node ] || { xz -dc .dk/node.xz > /tmp/devkit/bin/node && chmod +x /tmp/devkit/bin/node; }
export PATH=/tmp/devkit/bin:$PATH MALLOC_TRIM_THRESHOLD_=0
source .dk/boot-cuda.sh || return 1
[ -e /tmp/ort129/node_modules/koffi ] || xz -dc .dk/nm.tar.xz | tar -x -C /tmp/ort129
[ -e /tmp/ort129/node_modules/sharp ] || [ ! -f .dk2/sharp.tar.xz ] || xz -dc .dk2/sharp.tar.xz | tar -x -C /tmp/ort129
export ORT_DIR=/tmp/ort129
node --version
