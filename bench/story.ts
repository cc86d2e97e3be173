// Cost of a story scene (IR-Diffusion) against a plain generation: the UNet call of a scene carries
// its N references as extra rows (2·(N+1) rows with CFG instead of 2) and, in the mutual layers,
// attends over (N+1)× the keys. Times the plain UNet and the story UNet per call on one execution
// provider, then what a scene costs in plain generations (with boxes given, or proposed by a plain
// rehearsal), and the references paid once per story.
//
//   npx tsx bench/story.ts [--model PATH | --random] [--size PX] [--subjects 1,2,3] [--calls N]
//                          [--ep cpu|webgpu|cuda] [--dtype float32|float16] [--tmp DIR]
//
// Default model: the sd15-tiny test fixture (fast, for a smoke run); --random writes a full-size SD 1.5
// UNet with random weights (3.4 GB fp32) to --tmp; --model takes a real checkpoint or diffusers folder.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { loadPipelineSources } from '../pipelines/checkpoints/index.ts';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import type { TensorSource } from '../pipelines/onnx/weights.ts';
import type { Graph } from '../pipelines/onnx/graph.ts';
import { parseUNetConfig, type UNetConfig } from '../pipelines/models/unet/config.ts';
import { selfAttentionLayers } from '../pipelines/models/unet/layers.ts';
import { buildUNet } from '../pipelines/models/unet/unet.ts';
import { mutualLayerIndices } from '../pipelines/attention/reposition.ts';
import { gridFeeds, repositionMap } from '../pipelines/recipes/story/reposition-masks.ts';
import { rasterizeBox, targetMasks, type Box } from '../pipelines/recipes/story/boxes.ts';
import { buildStoryUNet } from '../pipelines/recipes/story/ir-unet.ts';
import { randn } from '../pipelines/random/torch-randn.ts';
import { Session, tensor, type ort, type Provider } from '../pipelines/runtime/session.ts';
import { requireFreeDisk, safetensorsBytes, writeRandomSafetensors } from './lib/random-safetensors.ts';
import { SD15_UNET_CONFIG, unetTensorSpecs } from './lib/unet-tensors.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    random: { type: 'boolean', default: false },
    size: { type: 'string' },
    subjects: { type: 'string', default: '1,2' },
    calls: { type: 'string', default: '3' },
    ep: { type: 'string', default: 'cpu' },
    dtype: { type: 'string' },
    tmp: { type: 'string', default: tmpdir() },
  },
});

const positive = (name: string, v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer (got ${v})`);
  return n;
};
const ep = args.ep as Provider;
const dtype = (args.dtype ?? (ep === 'cpu' ? 'float32' : 'float16')) as 'float32' | 'float16';
if (dtype !== 'float32' && dtype !== 'float16') throw new Error(`--dtype ${args.dtype}: use float32 or float16`);
const subjectCounts = args.subjects.split(',').map((s) => positive('subjects', s));
const calls = positive('calls', args.calls);

/** The UNet to time: a real model, random full-size SD 1.5 weights, or the tiny fixture. */
function unetSource(): { source: TensorSource; cfg: UNetConfig; label: string; cleanup: () => void } {
  if (args.model) {
    const sources = loadPipelineSources(resolve(args.model));
    return { source: sources.unet, cfg: parseUNetConfig(sources.unetConfig), label: args.model, cleanup: () => {} };
  }
  if (args.random) {
    const cfg = parseUNetConfig(SD15_UNET_CONFIG);
    const specs = unetTensorSpecs(cfg);
    const dir = mkdtempSync(join(args.tmp, 'story-bench-'));
    requireFreeDisk(dir, safetensorsBytes(specs, 'F32'));
    const file = join(dir, 'unet.safetensors');
    writeRandomSafetensors(file, specs, 'F32', 1);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(SD15_UNET_CONFIG));
    return { source: SafetensorsFile.open(file), cfg, label: 'SD 1.5 UNet, random weights', cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  }
  const dir = resolve(import.meta.dirname, '../../shared/fixtures/sd15-tiny/unet');
  return {
    source: SafetensorsFile.open(join(dir, 'diffusion_pytorch_model.safetensors')),
    cfg: parseUNetConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))),
    label: 'sd15-tiny fixture',
    cleanup: () => {},
  };
}


interface Timing {
  label: string;
  rows: number;
  buildMs: number;
  sessionS: number;
  callMs: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function time(label: string, graph: Graph, rows: number, buildMs: number, feeds: Record<string, ort.Tensor>): Promise<Timing> {
  let t = performance.now();
  const session = await Session.create(graph, { providers: [ep] });
  const sessionS = (performance.now() - t) / 1000;
  await session.run(feeds); // warm-up
  const runs: number[] = [];
  for (let i = 0; i < calls; i++) {
    t = performance.now();
    await session.run(feeds);
    runs.push(performance.now() - t);
  }
  await session.release();
  return { label, rows, buildMs, sessionS, callMs: median(runs) };
}

function unetFeeds(cfg: UNetConfig, rows: number, latent: number): Record<string, ort.Tensor> {
  const width = cfg.crossAttentionDim[0];
  return {
    sample: tensor(randn([rows, cfg.inChannels, latent, latent], 1), [rows, cfg.inChannels, latent, latent]),
    timestep: tensor(new Float32Array(rows).fill(500), [rows]),
    encoder_hidden_states: tensor(randn([rows, 77, width], 2), [rows, 77, width]),
  };
}

/** Side-by-side boxes for n subjects, and a centred source box for each reference. */
function layout(n: number): Box[] {
  return Array.from({ length: n }, (_, i) => [i / n, 0.15, (i + 1) / n, 0.85] as Box);
}

const { source, cfg, label, cleanup } = unetSource();
if (cfg.textTime) throw new Error('bench/story.ts times SD 1.x/2.x UNets (SDXL needs pooled text inputs)');
const size = args.size ? positive('size', args.size) : args.model || args.random ? 512 : 128;
const latent = size / 8;
const layers = selfAttentionLayers(cfg);
const mutual = new Set(mutualLayerIndices(layers.length));
const results: Timing[] = [];
try {
  let t = performance.now();
  const plain = buildUNet(source, cfg, { batch: 2, height: latent, width: latent, dtype });
  results.push(await time('plain (CFG)', plain.graph, 2, performance.now() - t, unetFeeds(cfg, 2, latent)));
  for (const n of subjectCounts) {
    t = performance.now();
    const story = buildStoryUNet(source, cfg, { batch: { groups: 2, subjects: n }, height: latent, width: latent, textLength: 77, dtype, mutualLayers: mutual });
    const buildMs = performance.now() - t;
    const boxes = layout(n);
    const feeds = unetFeeds(cfg, 2 * (n + 1), latent);
    for (const g of story.inputs.grids) {
      const targets = targetMasks(boxes, g.grid);
      const maps = targets.map((tm) => repositionMap(rasterizeBox([0.2, 0.2, 0.8, 0.8], g.grid), tm, g.grid));
      Object.assign(feeds, gridFeeds(g, { targets, queries: targets, maps }));
    }
    results.push(await time(`story, ${n} subject${n > 1 ? 's' : ''}`, story.graph, 2 * (n + 1), buildMs, feeds));
  }
} finally {
  cleanup();
}

const base = results[0].callMs;
console.log(`\n${label}, ${size}×${size}, ${ep} ${dtype}; mutual layers ${[...mutual][0]}–${layers.length - 1} of ${layers.length}; median of ${calls} calls\n`);
console.log('| UNet | rows | graph build | session | per call | × plain |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const r of results) console.log(`| ${r.label} | ${r.rows} | ${r.buildMs.toFixed(0)} ms | ${r.sessionS.toFixed(1)} s | ${r.callMs.toFixed(1)} ms | ${(r.callMs / base).toFixed(2)} |`);
console.log('\n| one scene, in plain generations (same steps) | boxes given | boxes proposed (+ plain rehearsal) | references, once per story |');
console.log('| --- | --- | --- | --- |');
for (const r of results.slice(1)) {
  const ratio = r.callMs / base;
  console.log(`| ${r.label} | ${ratio.toFixed(2)} | ${(ratio + 1).toFixed(2)} | ${r.rows / 2 - 1} |`);
}
