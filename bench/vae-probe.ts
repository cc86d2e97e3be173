// Where a tiled VAE's time goes (issue 15, the 16K VAE): one tile's decode or encode on the provider (fp16 or fp32,
// plain or fused GroupNorm), the session's run alone and the Vae class's path around it (the input's conversion, the
// fp16 check), with ORT's per-op profile; or the host side of a whole tiled decode (crop, blend, normalise) with a
// stand-in tile function, so the GPU's share and the host's can be told apart; or a whole image's tiled encode and
// decode (`tiled`) as a ladder stage runs them, beside the memory plan's estimate. One configuration per process.
// bench/vae_probe_torch.py times diffusers' AutoencoderKL on the same weights, bench/vae_tiled_torch.py its tiling.
//
//   npx tsx bench/vae-probe.ts --ep cpu --part decode --tile 128 --runs 1           a CPU check
//   node vae-probe.mjs --ep cuda --part decode --dtype float16 --graph fused --tile 1024 --profile
//   node vae-probe.mjs --part host --size 16384x8192 --tile 1024
//   node vae-probe.mjs --ep cuda --part tiled --size 16384x8192 --tile 2048
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SafetensorsFile, f32ToF16 } from '../pipelines/io/safetensors.ts';
import { vaeConfigFromDiffusers } from '../pipelines/models/vae/config.ts';
import { buildVaeDecoderGraph, buildVaeEncoderGraph } from '../pipelines/models/vae/autoencoder.ts';
import { tiledApply, type Nchw } from '../pipelines/models/vae/tiling.ts';
import { Vae } from '../pipelines/models/vae/vae.ts';
import { vaeEstimate } from '../pipelines/recipes/hires/memory-plan.ts';
import { fusedKernels } from '../pipelines/runtime/kernels.ts';
import { NativeSession } from '../pipelines/runtime/native/native-session.ts';
import { brokenImage } from '../pipelines/runtime/result-checks.ts';
import { Session, f16Tensor, tensor, type Provider, type ort } from '../pipelines/runtime/session.ts';
import { startGpuMemorySampler } from './lib/gpu-memory.ts';
import { profileSummary } from './lib/unet-run.ts';
import { Uniform, writeRandomSafetensors } from './lib/random-safetensors.ts';
import { SD_VAE_CONFIG, vaeTensorSpecs } from './lib/vae-tensors.ts';

const { values: a } = parseArgs({
  options: {
    ep: { type: 'string', default: 'cuda' },
    part: { type: 'string', default: 'decode' },
    dtype: { type: 'string', default: 'float16' },
    graph: { type: 'string', default: 'fused' },
    tile: { type: 'string', default: '1024' },
    size: { type: 'string', default: '16384x8192' },
    runs: { type: 'string', default: '3' },
    batch: { type: 'string', default: '1' },
    work: { type: 'string', default: '/tmp/vae-probe' },
    profile: { type: 'boolean', default: false },
    header: { type: 'boolean', default: false },
  },
});
const provider = a.ep as Provider;
const dtype = a.dtype as 'float16' | 'float32';
const tilePx = Number(a.tile);
const runs = Number(a.runs);
const batch = Number(a.batch);
if (!['decode', 'encode', 'host', 'tiled'].includes(a.part)) throw new Error(`--part ${a.part}: give decode, encode, host or tiled`);
if (!Number.isInteger(tilePx) || tilePx % 64) throw new Error(`--tile ${a.tile}: give the tile side in pixels, a multiple of 64`);
const cfg = vaeConfigFromDiffusers(SD_VAE_CONFIG, 'SD VAE');
mkdirSync(a.work, { recursive: true });
const file = join(a.work, 'vae.safetensors');
if (!existsSync(file)) writeRandomSafetensors(file, vaeTensorSpecs(cfg), 'F16', 77);
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[xs.length >> 1];
const timed = async (f: () => unknown): Promise<number> => {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
};

if (a.part === 'host') await hostSide();
else if (a.part === 'tiled') await tiledImage();
else await oneTile(a.part as 'decode' | 'encode');

/** One tile through the bare session (profiled) and through the Vae class, in its own process. */
async function oneTile(part: 'decode' | 'encode'): Promise<void> {
  if (a.header) {
    console.log('| part | tile × batch | dtype | graph | session s | first ms | session run ms | Vae class ms | host share ms | GPU GiB | fp16 output | ORT profile (ms per run) |');
    console.log('| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |');
  }
  const kernels = a.graph === 'fused' ? fusedKernels(provider) : undefined;
  const lat = tilePx / 8;
  const rand = new Uniform(5);
  const sampler = startGpuMemorySampler(join(a.work, `smi-${process.pid}.csv`), provider === 'cuda');
  const row = [part, `${tilePx}² × ${batch}`, dtype, kernels ? 'fused' : 'plain'];
  try {
    const graph = part === 'decode' ? buildVaeDecoderGraph(SafetensorsFile.open(file), cfg, lat, lat, { dtype, kernels }) : buildVaeEncoderGraph(SafetensorsFile.open(file), cfg, tilePx, tilePx, { dtype, kernels });
    let t0 = performance.now();
    const session = await Session.create(graph, { providers: [provider], profilePrefix: a.profile ? join(a.work, `profile-${part}-${process.pid}`) : undefined });
    const sessionS = (performance.now() - t0) / 1000;
    const latents = rand.fill(new Float32Array(batch * 4 * lat * lat), 1.5);
    const image = rand.fill(new Float32Array(batch * 3 * tilePx * tilePx), 1);
    const feeds: Record<string, ort.Tensor> = part === 'decode' ? { latents: dtype === 'float16' ? f16Tensor(f32ToF16(latents), [batch, 4, lat, lat]) : tensor(latents, [batch, 4, lat, lat]) } : { image: dtype === 'float16' ? f16Tensor(f32ToF16(image), [batch, 3, tilePx, tilePx]) : tensor(image, [batch, 3, tilePx, tilePx]) };
    let out = {} as Awaited<ReturnType<Session['run']>>;
    const firstMs = await timed(async () => (out = await session.run(feeds)));
    const runMs: number[] = [];
    for (let r = 0; r < runs; r++) runMs.push(await timed(async () => (out = await session.run(feeds))));
    let state = '–';
    if (part === 'decode' && dtype === 'float16') state = brokenImage(out.image.data as Float32Array) ?? 'finite';
    const profile = a.profile && session.inner instanceof NativeSession ? profileSummary(session.inner.endProfiling(), 1 + runs).replace(/^profile \([^)]*\): /, '') : '–';
    await session.release();
    // The same tile through the Vae class (its own sessions): what a tiled decode pays per tile.
    const vae = new Vae(SafetensorsFile.open(file), cfg, { session: { providers: [provider] }, decodeDtype: dtype, encodeDtype: dtype, kernels, tiling: false });
    const call = part === 'decode' ? () => vae.decode({ data: latents, dims: [batch, 4, lat, lat] }) : () => vae.encode({ data: image, dims: [batch, 3, tilePx, tilePx] });
    await call();
    const classMs: number[] = [];
    for (let r = 0; r < runs; r++) classMs.push(await timed(call));
    if (part === 'decode' && vae.currentDecodeDtype !== dtype) state += ', the Vae class redid it in fp32';
    await vae.release();
    const gib = sampler?.stop();
    const [run, cls] = [median(runMs), median(classMs)];
    console.log(`| ${row.join(' | ')} | ${sessionS.toFixed(1)} | ${firstMs.toFixed(0)} | ${run.toFixed(1)} | ${cls.toFixed(1)} | ${(cls - run).toFixed(1)} | ${gib?.toFixed(2) ?? '–'} | ${state} | ${profile} |`);
  } catch (e) {
    sampler?.stop();
    console.log(`| ${row.join(' | ')} | failed: ${(e as Error).message.split('\n')[0].slice(0, 200)} | | | | | | | |`);
  }
}

/**
 * The host side of a tiled decode of the whole image: a stand-in decoder (a fixed random tile, as the session's
 * float32 output) so only the crop, the blend and the fp16 check the Vae class adds per tile are timed.
 */
async function hostSide(): Promise<void> {
  const [width, height] = a.size.split('x').map(Number);
  const lat = tilePx / 8;
  const latents: Nchw = { data: new Uniform(3).fill(new Float32Array(4 * (height / 8) * (width / 8)), 1), dims: [1, 4, height / 8, width / 8] };
  const out = new Uniform(4).fill(new Float32Array(3 * tilePx * tilePx), 1);
  let tiles = 0;
  let checkMs = 0;
  const t0 = performance.now();
  await tiledApply(latents, lat, lat / 4, 8, async () => {
    tiles++;
    checkMs += await timed(() => brokenImage(out));
    return { data: out, dims: [1, 3, tilePx, tilePx] };
  });
  const totalS = (performance.now() - t0) / 1000;
  console.log('| image | tile | tiles | host total s | of it: fp16 check s | crop + blend s | peak RSS GiB |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  console.log(`| ${width}×${height} | ${tilePx} | ${tiles} | ${totalS.toFixed(2)} | ${(checkMs / 1000).toFixed(2)} | ${(totalS - checkMs / 1000).toFixed(2)} | ${(process.resourceUsage().maxRSS / 2 ** 20).toFixed(1)} |`);
}

/** A whole image's tiled encode (with the posterior noise) and decode of its latents, as a ladder stage runs them. */
async function tiledImage(): Promise<void> {
  const [width, height] = a.size.split('x').map(Number);
  const kernels = a.graph === 'fused' ? fusedKernels(provider) : undefined;
  const tile = tilePx / 8;
  const plan = vaeEstimate({ provider, bytesPerValue: dtype === 'float16' ? 2 : 4, images: 1 }, { width, height }, tile, batch);
  if (a.header) {
    console.log('| image | tile × per run | dtype | graph | tiles | encode s | decode s | VAE s | plan: VAE s | GPU GiB | plan: GiB | fp16 kept | peak RSS GiB |');
    console.log('| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |');
  }
  const rand = new Uniform(11);
  const sampler = startGpuMemorySampler(join(a.work, `smi-${process.pid}.csv`), provider === 'cuda');
  const vae = new Vae(SafetensorsFile.open(file), cfg, { session: { providers: [provider] }, decodeDtype: dtype, encodeDtype: dtype, kernels });
  const image: Nchw = { data: rand.fill(new Float32Array(3 * width * height), 1), dims: [1, 3, height, width] };
  const noise = rand.fill(new Float32Array(4 * (width / 8) * (height / 8)), 1);
  let tiles = 0;
  let encoded: Awaited<ReturnType<Vae['encode']>> | undefined;
  const encodeS = (await timed(async () => (encoded = await vae.encode(image, noise, (_, total) => (tiles = total), { vaeTile: tile, vaeTilesPerRun: batch })))) / 1000;
  const decodeS = (await timed(() => vae.decode(encoded!.latents, undefined, { vaeTile: tile, vaeTilesPerRun: batch }))) / 1000;
  await vae.release();
  const gib = sampler?.stop();
  const kept = dtype === 'float32' ? '–' : `encode ${vae.currentEncodeDtype}, decode ${vae.currentDecodeDtype}`;
  const f = (x: number) => x.toFixed(2);
  console.log(`| ${width}×${height} | ${tilePx} × ${batch} | ${dtype} | ${kernels ? 'fused' : 'plain'} | ${tiles} | ${f(encodeS)} | ${f(decodeS)} | ${f(encodeS + decodeS)} | ${f(plan.encodeSeconds + plan.decodeSeconds)} | ${gib?.toFixed(2) ?? '–'} | ${(plan.bytes / 2 ** 30).toFixed(1)} | ${kept} | ${(process.resourceUsage().maxRSS / 2 ** 20).toFixed(1)} |`);
}
