// Cost of a live preview per step and of an upscaler tile, on this machine's CPU: the fitted latent→RGB map
// (SD 1.x latents of a 512² image), a full-width TAESD decoder (random weights, TAESD's layer sizes), the emoji
// model's own decoder, the one-off VAE fit (tiny SD fixture), and Real-ESRGAN-sized SRVGG / RRDBNet tiles.
//
//   npx tsx bench/previews-upscale.ts [--repeats 3] [--tile 128]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeSafetensors, type TensorToWrite } from '../pipelines/io/safetensors.ts';
import { openUpscaler } from '../pipelines/models/upscale/detect.ts';
import { linearPreviewer } from '../pipelines/previews/previewer.ts';
import { taesdPreviewer } from '../pipelines/previews/taesd.ts';
import { EmojiPipeline } from '../pipelines/recipes/emoji/pipeline.ts';
import { SdPipeline } from '../pipelines/recipes/sd/pipeline.ts';
import { Upscaler } from '../pipelines/recipes/upscale/upscaler.ts';
import { fixture } from '../test/fixtures.ts';
import { Uniform } from './lib/random-safetensors.ts';

const { values: args } = parseArgs({ options: { repeats: { type: 'string', default: '3' }, tile: { type: 'string', default: '128' } } });
const repeats = Number(args.repeats);
const tile = Number(args.tile);
const dir = mkdtempSync(join(tmpdir(), 'bench-previews-'));
const rand = new Uniform(1);

function conv(t: Record<string, TensorToWrite>, name: string, out: number, inp: number, k = 3, bias = true): void {
  t[`${name}.weight`] = { dtype: 'F32', shape: [out, inp, k, k], data: rand.fill(new Float32Array(out * inp * k * k), 1 / Math.sqrt(inp * k * k)) };
  if (bias) t[`${name}.bias`] = { dtype: 'F32', shape: [out], data: rand.fill(new Float32Array(out), 0.01) };
}

/** TAESD's decoder sizes: 64 channels, stages of 3, 3, 3 blocks and 1, three ×2 upsamplings. */
function writeTaesd(file: string): void {
  const t: Record<string, TensorToWrite> = {};
  conv(t, '1', 64, 4);
  let i = 3;
  for (const blocks of [3, 3, 3, 1]) {
    for (let b = 0; b < blocks; b++, i++) for (const j of [0, 2, 4]) conv(t, `${i}.conv.${j}`, 64, 64);
    if (blocks === 1) break;
    i++; // the upsample
    conv(t, String(i++), 64, 64, 3, false);
  }
  conv(t, String(i), 3, 64);
  writeSafetensors(file, t);
}

/** Real-ESRGAN's general-x4v3 compact size: 64 features, 32 convs. */
function writeSrvgg(file: string): void {
  const t: Record<string, TensorToWrite> = {};
  conv(t, 'body.0', 64, 3);
  let k = 1;
  for (let c = 0; c <= 32; c++) {
    t[`body.${k}.weight`] = { dtype: 'F32', shape: [64], data: new Float32Array(64).fill(0.1) };
    k++;
    conv(t, `body.${k++}`, c === 32 ? 48 : 64, 64);
  }
  writeSafetensors(file, t);
}

/** RealESRGAN_x4plus's size: 64 features, growth 32, 23 RRDB blocks. */
function writeRrdb(file: string): void {
  const t: Record<string, TensorToWrite> = {};
  conv(t, 'conv_first', 64, 3);
  for (let b = 0; b < 23; b++) for (const r of [1, 2, 3]) for (let c = 1; c <= 5; c++) conv(t, `body.${b}.rdb${r}.conv${c}`, c === 5 ? 64 : 32, 64 + 32 * (c - 1));
  for (const name of ['conv_body', 'conv_up1', 'conv_up2', 'conv_hr']) conv(t, name, 64, 64);
  conv(t, 'conv_last', 3, 64);
  writeSafetensors(file, t);
}

async function time(run: () => Promise<unknown>): Promise<{ first: number; median: number }> {
  let t0 = performance.now();
  await run();
  const first = performance.now() - t0;
  const runs: number[] = [];
  for (let r = 0; r < repeats; r++) {
    t0 = performance.now();
    await run();
    runs.push(performance.now() - t0);
  }
  runs.sort((a, b) => a - b);
  return { first, median: runs[Math.floor(runs.length / 2)] };
}

const rows: [string, string, { first: number; median: number }][] = [];
try {
  const sd = SdPipeline.load(fixture('sd15-tiny'));
  const latents = new Float32Array(4 * 64 * 64).map((_, i) => Math.sin(i));
  const linear = linearPreviewer(sd.vae);
  rows.push(['VAE fit + latent→RGB map (first), then the map', '64² latents → 64² RGB', await time(() => linear(latents, 64, 64))]);
  await sd.release();

  const taesdFile = join(dir, 'taesd_decoder.safetensors');
  writeTaesd(taesdFile);
  const taesd = taesdPreviewer(taesdFile, 4);
  rows.push(['TAESD decoder (random, full size)', '64² latents → 512² RGB', await time(() => taesd(latents, 64, 64))]);

  const emoji = await EmojiPipeline.load('emoji-lit');
  const z = new Float32Array(4 * 16 * 16).map((_, i) => Math.cos(i));
  rows.push(['emoji-lit own decoder', '16² latents → 64² RGB', await time(() => emoji.previewImage(z))]);
  await emoji.release();

  const image = { data: new Float32Array(3 * tile * tile).fill(0.5), dims: [1, 3, tile, tile] as const };
  for (const [name, write] of [['SRVGG ×4 (64 ch, 32 convs)', writeSrvgg], ['RRDBNet ×4 (64/32, 23 blocks)', writeRrdb]] as const) {
    const file = join(dir, `${name.split(' ')[0]}.safetensors`);
    write(file);
    const upscaler = new Upscaler(openUpscaler(file), ['cpu']);
    rows.push([`${name}, one tile`, `${tile}² → ${tile * 4}²`, await time(() => upscaler.upscale(image, { tile: 0, overlap: 0 }))]);
    await upscaler.release();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

process.stdout.write(`\nCPU, ${repeats} timed runs after the first (which includes graph build and session creation)\n\n`);
process.stdout.write('| what | size | first ms | median ms |\n| --- | --- | ---: | ---: |\n');
for (const [what, size, t] of rows) process.stdout.write(`| ${what} | ${size} | ${t.first.toFixed(0)} | ${t.median.toFixed(1)} |\n`);
