// The studio's VAE decode (SD's AutoencoderKL size, random weights) in fp16 and fp32, plain or with the provider's
// fused kernels, one image per size: warm ms per decode, GPU memory above the start, and whether the fp16 decode
// came out broken (NaN/Inf or black) and was redone in fp32 — what a whole image's decode stage costs on the
// provider. bench/vae_decode_torch.py decodes the same weights file with diffusers.
//
//   npx tsx bench/vae-decode.ts --ep cpu --sizes 64 --runs 1     a CPU check
//   node vae-decode.mjs --ep cuda --work /tmp/vae --fused        the GPU inbox run
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { vaeConfigFromDiffusers } from '../pipelines/models/vae/config.ts';
import { Vae } from '../pipelines/models/vae/vae.ts';
import { fusedKernels } from '../pipelines/runtime/kernels.ts';
import type { Provider } from '../pipelines/runtime/session.ts';
import { startGpuMemorySampler } from './lib/gpu-memory.ts';
import { Uniform, writeRandomSafetensors } from './lib/random-safetensors.ts';
import { SD_VAE_CONFIG, vaeTensorSpecs } from './lib/vae-tensors.ts';

const { values: a } = parseArgs({
  options: {
    ep: { type: 'string', default: 'cuda' },
    sizes: { type: 'string', default: '512,1024' },
    dtypes: { type: 'string', default: 'float16,float32' },
    runs: { type: 'string', default: '3' },
    work: { type: 'string', default: '/tmp/vae-decode' },
    fused: { type: 'boolean', default: false },
    'rows-only': { type: 'boolean', default: false },
  },
});
const provider = a.ep as Provider;
const cfg = vaeConfigFromDiffusers(SD_VAE_CONFIG, 'SD VAE');
mkdirSync(a.work, { recursive: true });
const file = join(a.work, 'vae.safetensors');
if (!existsSync(file)) writeRandomSafetensors(file, vaeTensorSpecs(cfg), 'F16', 77);
const kernels = a.fused ? fusedKernels(provider) : undefined;
const graph = kernels ? 'fused' : 'plain';

if (!a['rows-only']) {
  console.log('| size | dtype | graph | first decode ms | warm ms (median) | GPU GiB | fp16 output |');
  console.log('| ---: | --- | --- | ---: | ---: | ---: | --- |');
}
for (const dtype of a.dtypes.split(',') as ('float16' | 'float32')[]) {
  for (const size of a.sizes.split(',').map(Number)) {
    const sampler = startGpuMemorySampler(join(a.work, 'smi.csv'), provider === 'cuda');
    const vae = new Vae(SafetensorsFile.open(file), cfg, { session: { providers: [provider] }, decodeDtype: dtype, tiling: false, kernels });
    const latents = { data: new Uniform(5).fill(new Float32Array(4 * (size / 8) ** 2), 1.5), dims: [1, 4, size / 8, size / 8] as const };
    try {
      let t0 = performance.now();
      const first = await vae.decode(latents);
      const firstMs = performance.now() - t0;
      const times: number[] = [];
      for (let r = 0; r < Number(a.runs); r++) {
        t0 = performance.now();
        await vae.decode(latents);
        times.push(performance.now() - t0);
      }
      const gib = sampler?.stop();
      const state = dtype === 'float32' ? '–' : first.recoveredFrom ? `${first.recoveredFrom}: redone in fp32` : 'finite';
      const built = vae.fusedRefusedBecause ? `plain (fused refused: ${vae.fusedRefusedBecause.slice(0, 120)})` : graph;
      console.log(`| ${size}² | ${dtype} | ${built} | ${firstMs.toFixed(0)} | ${times.sort((p, q) => p - q)[times.length >> 1].toFixed(1)} | ${gib?.toFixed(2) ?? '–'} | ${state} |`);
    } catch (e) {
      sampler?.stop();
      console.log(`| ${size}² | ${dtype} | ${graph} | failed: ${(e as Error).message.split('\n')[0].slice(0, 200)} | | | |`);
    } finally {
      await vae.release();
    }
  }
}
