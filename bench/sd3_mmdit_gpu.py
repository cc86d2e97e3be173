# GPU bench: one SD3-medium MMDiT step (batch 2 = CFG, 1024², 333 text tokens, fp16, random weights) through
# the studio's own graph on onnxruntime (CUDA EP when the Python package has it) beside diffusers' PyTorch
# model loaded with the same weights. Inputs from bench/sd3-mmdit-export.ts; run on the GPU machine:
#   python3 sd3_mmdit_gpu.py <export dir> <diffusers src>
import json, os, sys, time
sys.path.insert(0, sys.argv[2])
import numpy as np, torch
import onnxruntime as ort

out_dir = sys.argv[1]
meta = json.load(open(f'{out_dir}/sd3m-tensors.json'))
header = open(f'{out_dir}/sd3m-header.bin', 'rb').read()
hjson = json.loads(header[8:])
os.makedirs(os.path.dirname(meta['weights']), exist_ok=True)
torch.manual_seed(0)
t0 = time.time()
with open(meta['weights'], 'wb') as f:
    f.write(header)
    for n in meta['names']:
        shape = hjson[n]['shape']
        w = torch.randn(*shape, device='cuda', dtype=torch.float32) * (0.02 if len(shape) > 1 else 0.1)
        if n.endswith('norm_out.linear.weight') or '.norm1' in n:
            w *= 0.5
        f.write(w.half().cpu().numpy().tobytes())
print(f'weights written in {time.time() - t0:.1f} s ({os.path.getsize(meta["weights"]) / 2**30:.2f} GiB)', flush=True)

g = torch.Generator().manual_seed(1)
x = torch.randn(2, 16, 128, 128, generator=g)
ctx = torch.randn(2, 333, 4096, generator=g)
pooled = torch.randn(2, 2048, generator=g)
ts = torch.tensor([500.0, 500.0])
rows = []

def bench(fn, n=10, warm=3):
    for _ in range(warm):
        fn()
    times = []
    for _ in range(n):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return 1000 * sorted(times)[n // 2]

# ---- the studio's graph on onnxruntime
print('onnxruntime', ort.__version__, ort.get_available_providers(), flush=True)
ours = None
if 'CUDAExecutionProvider' in ort.get_available_providers():
    model_path = '/sd3m.onnx'  # external data locations are relative to the filesystem root
    open(model_path, 'wb').write(open(f'{out_dir}/sd3m.onnx', 'rb').read())
    so = ort.SessionOptions()
    t0 = time.time()
    sess = ort.InferenceSession(model_path, so, providers=['CUDAExecutionProvider'])
    load_s = time.time() - t0
    feeds = {'hidden_states': x.numpy(), 'encoder_hidden_states': ctx.numpy(), 'pooled_projections': pooled.numpy(), 'timestep': ts.numpy()}
    io = sess.io_binding()
    for k, v in feeds.items():
        io.bind_ortvalue_input(k, ort.OrtValue.ortvalue_from_numpy(v, 'cuda', 0))
    io.bind_output('out', 'cuda')
    ms = bench(lambda: sess.run_with_iobinding(io))
    ours = io.copy_outputs_to_cpu()[0]
    ms_host = bench(lambda: sess.run(None, feeds), n=5, warm=1)
    rows.append({'what': 'studio graph, ORT CUDA EP fp16 (inputs on GPU)', 'median_ms': ms, 'session_s': load_s})
    rows.append({'what': 'studio graph, ORT CUDA EP fp16 (inputs from host)', 'median_ms': ms_host})
    del sess
else:
    rows.append({'what': 'studio graph: this onnxruntime has no CUDA EP, not run'})

# ---- diffusers in PyTorch, same weights
from diffusers import SD3Transformer2DModel
from safetensors.torch import load_file
cfg = dict(sample_size=128, patch_size=2, in_channels=16, num_layers=24, attention_head_dim=64, num_attention_heads=24,
           joint_attention_dim=4096, caption_projection_dim=1536, pooled_projection_dim=2048, out_channels=16, pos_embed_max_size=192)
m = SD3Transformer2DModel(**cfg).to(torch.float16)
missing, unexpected = m.load_state_dict(load_file(meta['weights']), strict=True), None
m = m.to('cuda').eval()
xc, cc, pc, tc = x.cuda().half(), ctx.cuda().half(), pooled.cuda().half(), ts.cuda()
with torch.no_grad():
    run = lambda: m(xc, cc, pc, tc, return_dict=False)[0]
    ms = bench(lambda: (run(), torch.cuda.synchronize()))
    ref = run().float().cpu().numpy()
rows.append({'what': 'diffusers PyTorch fp16 (SDPA)', 'median_ms': ms})
if ours is not None:
    rows.append({'what': 'ORT vs PyTorch output rel-L2', 'value': float(np.linalg.norm(ours - ref) / np.linalg.norm(ref))})
print(json.dumps({'gpu': torch.cuda.get_device_name(), 'torch': torch.__version__, 'parameters': meta['parameters'], 'rows': rows}, indent=1))
