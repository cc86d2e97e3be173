// LoRA cost at SD 1.5 size (random weights, CPU fp32 here, batch 2 as with CFG, 256² so a step fits the
// 2-core box): load time (merging W + Σ w·ΔW into the load's own weight file, one tensor at a time, then
// creating the session), peak memory and time per step, with 0, 1 and 5 LoCon-style LoRAs (rank 32 on
// every attention, feed-forward and projection layer, and on the resnet convolutions). Each row runs in a
// child process of its own, so its peak RSS is its own. Prints a table; numbers go to bench/NOTES.md.
//   npx tsx bench/lora.ts [--size 256] [--steps 2] [--counts 0,1,5] [--tmp DIR]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { parseUNetConfig } from '../pipelines/models/unet/config.ts';
import { buildUNet } from '../pipelines/models/unet/unet.ts';
import { softmaxAttention } from '../pipelines/attention/softmax.ts';
import { Session, tensor } from '../pipelines/runtime/session.ts';
import { applyLoras } from '../pipelines/lora/apply.ts';
import { mergeLoraWeights } from '../pipelines/lora/merge.ts';
import type { PipelineSources } from '../pipelines/checkpoints/index.ts';
import { requireFreeDisk, safetensorsBytes, Uniform, writeRandomSafetensors } from './lib/random-safetensors.ts';
import { SD15_UNET_CONFIG, unetTensorSpecs, type TensorSpec } from './lib/unet-tensors.ts';

const { values: args } = parseArgs({ options: { size: { type: 'string', default: '256' }, steps: { type: 'string', default: '2' }, counts: { type: 'string', default: '0,1,5' }, tmp: { type: 'string', default: tmpdir() }, row: { type: 'string' }, work: { type: 'string' } } });
const size = Number(args.size);
const steps = Number(args.steps);
const BATCH = 2;
const RANK = 32;
const cfg = parseUNetConfig(SD15_UNET_CONFIG, 'SD 1.5 config (bench)');
const unetSpecs = unetTensorSpecs(cfg);
const TARGETS = /(attn[12]\.to_(q|k|v|out\.0)|proj_in|proj_out|ff\.net\.(0\.proj|2)|resnets\.\d+\.conv[12]|time_emb_proj)\.weight$/;

/** A kohya LoCon file: down [r, in, k, k], up [out, r, 1, 1] (or [r, in] / [out, r] for Linear), alpha. */
function loraSpecs(): TensorSpec[] {
  return unetSpecs.filter((t) => TARGETS.test(t.name)).flatMap((t): TensorSpec[] => {
    const key = `lora_unet_${t.name.slice(0, -'.weight'.length).replace(/\./g, '_')}`;
    const conv = t.shape.length === 4;
    return [
      { name: `${key}.lora_down.weight`, shape: [RANK, ...t.shape.slice(1)], init: { kind: 'uniform', bound: 0.01 } },
      { name: `${key}.lora_up.weight`, shape: [t.shape[0], RANK, ...(conv ? [1, 1] : [])], init: { kind: 'uniform', bound: 0.01 } },
      { name: `${key}.alpha`, shape: [], init: { kind: 'ones' } },
    ];
  });
}

interface Row {
  loras: number;
  merged: number;
  mergeS: number;
  buildS: number;
  sessionS: number;
  stepS: number[];
  peakRssGb: number;
  load: string;
}

const load1 = () => loadavg()[0].toFixed(1);

/** One row, in this (child) process: merge, build, create the session, run the steps. */
async function row(work: string, n: number): Promise<Row> {
  const weights = join(work, 'unet.safetensors');
  const loraFiles = [1, 2, 3, 4, 5].slice(0, n).map((k) => join(work, `lora-${k}.safetensors`));
  const loadAtStart = load1();
  const base = { family: 'sd1', path: weights, unet: SafetensorsFile.open(weights), textEncoders: [], unetConfig: SD15_UNET_CONFIG } as unknown as PipelineSources;
  let t0 = performance.now();
  const { sources } = applyLoras(base, loraFiles.map((path) => ({ path, weight: 0.8 })));
  const merged = await mergeLoraWeights(sources, work);
  const mergeS = (performance.now() - t0) / 1000;
  t0 = performance.now();
  const { graph } = buildUNet(sources.unet, cfg, { batch: BATCH, height: size / 8, width: size / 8, dtype: 'float32', selfAttention: softmaxAttention() });
  const buildS = (performance.now() - t0) / 1000;
  t0 = performance.now();
  const session = await Session.create(graph, { providers: ['cpu'] });
  const sessionS = (performance.now() - t0) / 1000;
  const latent = size / 8;
  const rand = new Uniform(7);
  const feeds = {
    sample: tensor(rand.fill(new Float32Array(BATCH * 4 * latent * latent), 1), [BATCH, 4, latent, latent]),
    timestep: tensor(new Float32Array(BATCH).fill(500), [BATCH]),
    encoder_hidden_states: tensor(rand.fill(new Float32Array(BATCH * 77 * 768), 1), [BATCH, 77, 768]),
  };
  await session.run(feeds);
  const stepS: number[] = [];
  for (let i = 0; i < steps; i++) {
    t0 = performance.now();
    await session.run(feeds);
    stepS.push((performance.now() - t0) / 1000);
  }
  await session.release();
  merged?.release();
  return { loras: n, merged: merged?.tensors ?? 0, mergeS, buildS, sessionS, stepS, peakRssGb: process.resourceUsage().maxRSS / 2 ** 20, load: `${loadAtStart}–${load1()}` };
}

if (args.row !== undefined) {
  console.log(`ROW ${JSON.stringify(await row(args.work!, Number(args.row)))}`);
} else {
  const loraFileSpecs = loraSpecs();
  requireFreeDisk(args.tmp, 2 * safetensorsBytes(unetSpecs, 'F16') + 5 * safetensorsBytes(loraFileSpecs, 'F16'));
  const work = mkdtempSync(join(args.tmp, 'studio-bench-lora-'));
  const rows: Row[] = [];
  try {
    const t0 = performance.now();
    writeRandomSafetensors(join(work, 'unet.safetensors'), unetSpecs, 'F16', 1234);
    for (const k of [1, 2, 3, 4, 5]) writeRandomSafetensors(join(work, `lora-${k}.safetensors`), loraFileSpecs, 'F16', 100 + k);
    console.log(`random weights written in ${((performance.now() - t0) / 1000).toFixed(1)} s; each LoRA ${(safetensorsBytes(loraFileSpecs, 'F16') / 1e6).toFixed(0)} MB, ${loraFileSpecs.length / 3} layers`);
    for (const n of args.counts.split(',').map(Number)) {
      const out = execFileSync(process.execPath, [...process.execArgv, import.meta.filename, '--row', String(n), '--work', work, '--size', String(size), '--steps', String(steps)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
      const r = JSON.parse(/^ROW (.*)$/m.exec(out)![1]) as Row;
      rows.push(r);
      console.log(`${n} LoRAs: merge ${r.mergeS.toFixed(1)} s (${r.merged} weights), build ${r.buildS.toFixed(1)} s, session ${r.sessionS.toFixed(1)} s, step ${r.stepS.map((t) => t.toFixed(2)).join(' / ')} s, peak RSS ${r.peakRssGb.toFixed(2)} GB, load average ${r.load}`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.log(`\nSD 1.5 UNet, random weights (fp16 file, fp32 compute), CPU, batch ${BATCH}, ${size}², LoRA rank ${RANK} with LoCon convs, weight 0.8`);
  console.log('| LoRAs | merged weights | merge s | graph build s | session s | load s (merge + build + session) | s / step (median) | peak RSS GB | load average (1 min, start–end) |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const r of rows) {
    const median = [...r.stepS].sort((a, b) => a - b)[Math.floor(r.stepS.length / 2)];
    console.log(`| ${r.loras} | ${r.merged} | ${r.mergeS.toFixed(1)} | ${r.buildS.toFixed(1)} | ${r.sessionS.toFixed(1)} | ${(r.mergeS + r.buildS + r.sessionS).toFixed(1)} | ${median.toFixed(2)} | ${r.peakRssGb.toFixed(2)} | ${r.load} |`);
  }
}
