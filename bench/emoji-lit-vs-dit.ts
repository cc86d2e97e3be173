// emoji-LiT (ReLU linear attention + depthwise conv) against emoji-DiT (softmax attention): time per
// denoiser step as the token count grows — linear against quadratic. Random weights of the shipped
// models' widths (names and shapes read from assets/models/emoji-{dit,lit}), pos_embed sized to each
// grid, batch 2 (CFG), CPU provider, median of the timed runs after one warm-up.
//
//   npx tsx bench/emoji-lit-vs-dit.ts [--latents 16,64,128] [--runs 3] [--batch 2] [--threads N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { readEmojiConfig, type EmojiTransformerConfig } from '../pipelines/models/emoji/config.ts';
import { buildEmojiDiT } from '../pipelines/models/emoji/dit.ts';
import { Session, tensor } from '../pipelines/runtime/session.ts';
import { Uniform, writeRandomSafetensors } from './lib/random-safetensors.ts';
import type { TensorSpec } from './lib/unet-tensors.ts';
import { allFinite } from '../pipelines/runtime/result-checks.ts';

const { values: args } = parseArgs({
  options: {
    latents: { type: 'string', default: '16,64,128' },
    runs: { type: 'string', default: '3' },
    batch: { type: 'string', default: '2' },
    threads: { type: 'string' },
  },
});

const positive = (name: string, v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: ${v} is not a positive integer`);
  return n;
};
const latents = args.latents.split(',').map((v) => positive('latents', v.trim()));
const runs = positive('runs', args.runs);
const batch = positive('batch', args.batch);
const threads = args.threads === undefined ? undefined : positive('threads', args.threads);

const MODELS = resolve(import.meta.dirname, '..', 'assets', 'models');
const VAE_FACTOR = 4; // emoji-vae: 64² images ↔ 16² latents

/** The shipped model's tensor list with pos_embed resized to the grid; U(±1/√fan-in) like PyTorch's init. */
function randomSpecs(name: string, cfg: EmojiTransformerConfig, latent: number): TensorSpec[] {
  const file = SafetensorsFile.open(join(MODELS, name, 'model.safetensors'));
  const tokens = (latent / cfg.patch_size) ** 2;
  return file.keys().sort().map((key) => {
    const shape = key === 'pos_embed' ? [1, tokens, cfg.hidden_size] : [...file.info(key).shape];
    const bound = shape.length > 1 ? 1 / Math.sqrt(shape.slice(1).reduce((a, b) => a * b, 1)) : 0.02;
    return { name: key, shape, init: { kind: 'uniform', bound } };
  });
}

function randomFeeds(cfg: EmojiTransformerConfig, latent: number) {
  const rand = new Uniform(7);
  const f = (shape: number[], bound = 1) => tensor(rand.fill(new Float32Array(shape.reduce((a, b) => a * b, 1)), bound), shape);
  const mask = new Float32Array(batch * 24).fill(0);
  for (let b = 0; b < batch; b++) mask.fill(1, b * 24, b * 24 + 1 + 10 * ((b + 1) % 2)); // a 10-word prompt and the empty one
  return {
    x: f([batch, cfg.in_channels, latent, latent]),
    t: tensor(new Float32Array(batch).fill(0.5), [batch]),
    text_tokens: f([batch, 24, cfg.text_dim]),
    text_mask: tensor(mask, [batch, 24]),
    text_pooled: f([batch, cfg.text_dim]),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timePerStep(name: string, latent: number, work: string): Promise<number> {
  const cfg = readEmojiConfig(join(MODELS, name), ['emoji-dit', 'emoji-lit']);
  const path = join(work, `${name}-${latent}.safetensors`);
  writeRandomSafetensors(path, randomSpecs(name, cfg, latent), 'F32', 1234);
  const graph = buildEmojiDiT(SafetensorsFile.open(path), cfg, { batch, latentSize: latent });
  const session = await Session.create(graph, { providers: ['cpu'], intraOpThreads: threads });
  try {
    const feeds = randomFeeds(cfg, latent);
    const first = await session.run(feeds);
    if (!allFinite(first.out.data as Float32Array)) throw new Error(`${name} at latent ${latent}: output is not finite`);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await session.run(feeds);
      times.push(performance.now() - t0);
    }
    return median(times);
  } finally {
    await session.release();
    rmSync(path);
  }
}

const work = mkdtempSync(join(tmpdir(), 'studio-bench-emoji-'));
const lines = [
  `emoji-LiT vs emoji-DiT, time per step (batch ${batch}, CPU provider${threads ? `, ${threads} threads` : ''}, median of ${runs} after 1 warm-up)`,
  '',
  '| image | latent | tokens | emoji-DiT (softmax) | emoji-LiT (linear) | DiT / LiT |',
  '| --- | --- | --- | --- | --- | --- |',
];
console.log(lines.join('\n'));
try {
  for (const latent of latents) {
    const dit = await timePerStep('emoji-dit', latent, work);
    const lit = await timePerStep('emoji-lit', latent, work);
    const image = latent * VAE_FACTOR;
    const tokens = (latent / readEmojiConfig(join(MODELS, 'emoji-dit'), ['emoji-dit']).patch_size) ** 2;
    console.log(`| ${image}² | ${latent}² | ${tokens} | ${dit.toFixed(1)} ms | ${lit.toFixed(1)} ms | ${(dit / lit).toFixed(2)}× |`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
