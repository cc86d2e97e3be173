// SD3 MMDiT step, the studio's half: loads the random-weight transformer folder that bench/sd3_mmdit_gpu.py
// made (and timed in diffusers) the way the SD3 recipe loads one, builds the studio's graph, times one step
// on the chosen provider and writes a Markdown table with both sides and the output's rel-L2 to PyTorch's.
//   npx tsx bench/sd3-mmdit-studio.ts WORK [--ep cuda|webgpu|cpu] [--md FILE]
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { componentWeights } from '../pipelines/checkpoints/diffusers-folder.ts';
import { readJsonObject } from '../pipelines/checkpoints/json-fields.ts';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { mmditConfigFromDiffusers } from '../pipelines/models/mmdit/config.ts';
import { buildMmditGraph, MMDIT_OUTPUT } from '../pipelines/models/mmdit/model.ts';
import { Session, tensor, type Provider } from '../pipelines/runtime/session.ts';
import { parseArgs } from 'node:util';

interface TorchSide {
  what: string;
  dtype: 'float16' | 'float32';
  median_ms: number;
  steps: number;
  peak_gib: number | null;
  parameters: number;
  latent: number;
  text_tokens: number;
}

const { positionals, values } = parseArgs({ allowPositionals: true, options: { ep: { type: 'string', default: 'cuda' }, md: { type: 'string' } } });
const work = positionals[0];
if (!work) throw new Error('usage: sd3-mmdit-studio.ts WORK [--ep cuda|webgpu|cpu] [--md FILE] (WORK: the folder bench/sd3_mmdit_gpu.py wrote)');
const ep = values.ep as Provider;
const torchSide = JSON.parse(readFileSync(join(work, 'torch.json'), 'utf8')) as TorchSide;
const cfg = mmditConfigFromDiffusers(readJsonObject(join(work, 'transformer', 'config.json')), join(work, 'transformer', 'config.json'));
const inputs = SafetensorsFile.open(join(work, 'inputs.safetensors'));
const feed = (name: string) => tensor(inputs.readFloat32(name), inputs.info(name).shape);
const feeds = Object.fromEntries(['hidden_states', 'encoder_hidden_states', 'pooled_projections', 'timestep'].map((n) => [n, feed(n)]));

let t = performance.now();
const graph = buildMmditGraph(componentWeights(join(work, 'transformer'), 'diffusion_pytorch_model'), cfg, {
  batch: 2, height: torchSide.latent, width: torchSide.latent, textLength: torchSide.text_tokens, dtype: torchSide.dtype,
});
const buildMs = performance.now() - t;
t = performance.now();
// Every node on the GPU, or said: a silent CPU fall-back would time something else.
let fallback = '';
const session = await Session.create(graph, { providers: [ep], forbidCpuFallback: ep !== 'cpu' }).catch(async (e: Error) => {
  fallback = `; some nodes run on the CPU (${e.message.slice(0, 200)})`;
  return Session.create(graph, { providers: [ep] });
});
const sessionS = (performance.now() - t) / 1000;
console.log(session.describe() + fallback);

const [warm, n] = ep === 'cpu' ? [1, 3] : [3, 10];
let out: Float32Array | undefined;
const times: number[] = [];
for (let i = 0; i < warm + n; i++) {
  t = performance.now();
  out = (await session.run(feeds))[MMDIT_OUTPUT].data as Float32Array;
  if (i >= warm) times.push(performance.now() - t);
}
const ms = [...times].sort((a, b) => a - b)[Math.floor(n / 2)];
const ref = SafetensorsFile.open(join(work, 'torch-out.safetensors')).readFloat32('out');
let [num, den] = [0, 0];
for (let i = 0; i < ref.length; i++) {
  num += (out![i] - ref[i]) ** 2;
  den += ref[i] ** 2;
}
const relL2 = Math.sqrt(num / den);

const precision = torchSide.dtype === 'float16' ? 'fp16' : 'fp32';
const lines = [
  `# SD3 MMDiT step: ${(torchSide.parameters / 1e6).toFixed(1)} M parameters (random), batch 2, ${torchSide.latent}² latent, ${torchSide.text_tokens} text tokens, ${precision}`,
  '',
  '| side | median ms per step | steps timed | notes |',
  '| --- | ---: | ---: | --- |',
  `| studio graph, onnxruntime-node ${ep} EP (inputs from host, output to host) | ${ms.toFixed(1)} | ${n} | graph built in ${buildMs.toFixed(0)} ms, session ${sessionS.toFixed(1)} s${fallback} |`,
  `| ${torchSide.what} | ${torchSide.median_ms.toFixed(1)} | ${torchSide.steps} | peak allocated ${torchSide.peak_gib === null ? '–' : `${torchSide.peak_gib.toFixed(2)} GiB`} |`,
  '',
  `studio / PyTorch: ${(ms / torchSide.median_ms).toFixed(2)}×; output rel-L2 to PyTorch's: ${relL2.toExponential(2)}`,
  '',
];
process.stdout.write(lines.join('\n'));
if (values.md) writeFileSync(values.md, lines.join('\n'));
await session.release();
