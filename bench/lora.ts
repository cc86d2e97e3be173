// LoRA cost at SD 1.5 size (random weights, CPU fp32 here, batch 2 as with CFG, 256² so a step fits the
// 2-core box): load time (graph build + session creation, where ORT folds W + Σ w·ΔW into the weights)
// and time per step, with 0, 1 and 5 LoCon-style LoRAs (rank 32 on every attention, feed-forward and
// projection layer, and on the resnet convolutions). Prints a table; numbers go to bench/NOTES.md.
//   npx tsx bench/lora.ts [--size 256] [--steps 2] [--counts 0,1,5] [--tmp DIR]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { parseUNetConfig } from '../pipelines/models/unet/config.ts';
import { buildUNet } from '../pipelines/models/unet/unet.ts';
import { softmaxAttention } from '../pipelines/attention/softmax.ts';
import { Session, tensor } from '../pipelines/runtime/session.ts';
import { applyLoras } from '../pipelines/lora/apply.ts';
import type { PipelineSources } from '../pipelines/checkpoints/index.ts';
import { requireFreeDisk, safetensorsBytes, Uniform, writeRandomSafetensors } from './lib/random-safetensors.ts';
import { SD15_UNET_CONFIG, unetTensorSpecs, type TensorSpec } from './lib/unet-tensors.ts';

const { values: args } = parseArgs({ options: { size: { type: 'string', default: '256' }, steps: { type: 'string', default: '2' }, counts: { type: 'string', default: '0,1,5' }, tmp: { type: 'string', default: tmpdir() } } });
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

const loraFileSpecs = loraSpecs();
requireFreeDisk(args.tmp, safetensorsBytes(unetSpecs, 'F16') + 5 * safetensorsBytes(loraFileSpecs, 'F16'));
const work = mkdtempSync(join(args.tmp, 'studio-bench-lora-'));
const rows: string[][] = [];
try {
  let t0 = performance.now();
  const weights = join(work, 'unet.safetensors');
  writeRandomSafetensors(weights, unetSpecs, 'F16', 1234);
  const loraFiles = [1, 2, 3, 4, 5].map((k) => {
    const path = join(work, `lora-${k}.safetensors`);
    writeRandomSafetensors(path, loraFileSpecs, 'F16', 100 + k);
    return path;
  });
  console.log(`random weights written in ${((performance.now() - t0) / 1000).toFixed(1)} s; each LoRA ${(safetensorsBytes(loraFileSpecs, 'F16') / 1e6).toFixed(0)} MB, ${loraFileSpecs.length / 3} layers`);
  const latent = size / 8;
  const rand = new Uniform(7);
  const feeds = {
    sample: tensor(rand.fill(new Float32Array(BATCH * 4 * latent * latent), 1), [BATCH, 4, latent, latent]),
    timestep: tensor(new Float32Array(BATCH).fill(500), [BATCH]),
    encoder_hidden_states: tensor(rand.fill(new Float32Array(BATCH * 77 * 768), 1), [BATCH, 77, 768]),
  };
  for (const n of args.counts.split(',').map(Number)) {
    const file = SafetensorsFile.open(weights);
    const base = { family: 'sd1', path: weights, unet: file, textEncoders: [], unetConfig: SD15_UNET_CONFIG } as unknown as PipelineSources;
    t0 = performance.now();
    const { sources } = applyLoras(base, loraFiles.slice(0, n).map((path) => ({ path, weight: 0.8 })));
    const { graph } = buildUNet(sources.unet, cfg, { batch: BATCH, height: latent, width: latent, dtype: 'float32', selfAttention: softmaxAttention() });
    const buildS = (performance.now() - t0) / 1000;
    t0 = performance.now();
    const session = await Session.create(graph, { providers: ['cpu'] });
    const sessionS = (performance.now() - t0) / 1000;
    const rssGb = process.memoryUsage().rss / 2 ** 30;
    await session.run(feeds);
    const times: number[] = [];
    for (let i = 0; i < steps; i++) {
      t0 = performance.now();
      await session.run(feeds);
      times.push((performance.now() - t0) / 1000);
    }
    await session.release();
    const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)];
    rows.push([String(n), graph.summary().nodes.toString(), buildS.toFixed(1), sessionS.toFixed(1), median.toFixed(2), rssGb.toFixed(2)]);
    console.log(`${n} LoRAs: build ${buildS.toFixed(1)} s, session ${sessionS.toFixed(1)} s, step ${times.map((t) => t.toFixed(2)).join(' / ')} s`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(`\nSD 1.5 UNet, random weights (fp16 file, fp32 compute), CPU, batch ${BATCH}, ${size}², LoRA rank ${RANK} with LoCon convs, weight 0.8`);
console.log('| LoRAs | graph nodes | build s | session (load + fold) s | s / step (median) | RSS GB |');
console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
