// The CPU's two kinds of ORT session on a full-size SD 1.5 UNet (random fp32 weights, CFG batch 2, softmax
// attention): onnxruntime-node's own (`binding`, ORT's planner reusing buffers) against the native one the studio
// uses since session 8 (`native`: ORT's C API, no planner reuse, runs on koffi's worker threads). Each cell runs in
// its own child process, so its peak RSS is its own; the first run is untimed. bench/NOTES.md, session 8.
//
//   npx tsx bench/cpu-sessions.ts [--sizes 512,1024] [--runs 2] [--kinds binding,native] [--linfusion] [--tmp DIR]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { parseUNetConfig } from '../pipelines/models/unet/config.ts';
import { buildUNet, UNET_OUTPUT } from '../pipelines/models/unet/unet.ts';
import { Session, serializeGraph, tensor } from '../pipelines/runtime/session.ts';
import { linfusionAttention, LinFusionModules } from '../pipelines/attention/linfusion.ts';
import { requireFreeDisk, safetensorsBytes, writeRandomLinFusion, writeRandomSafetensors } from './lib/random-safetensors.ts';
import { SD15_UNET_CONFIG, unetTensorSpecs } from './lib/unet-tensors.ts';

const GIB = 2 ** 30;
const cfg = parseUNetConfig(SD15_UNET_CONFIG, 'SD 1.5');

interface Cell { kind: 'native' | 'binding'; size: number; runs: number; weights: string; linfusion?: string }
interface CellResult { atRestGib: number; peakGib: number; msPerStep: number; checksum: number }

/** One cell, in this (child) process: peak RSS after creating the session and after the runs, median step time. */
async function child(c: Cell): Promise<CellResult> {
  const s = c.size / 8;
  const selfAttention = c.linfusion ? linfusionAttention(LinFusionModules.load(c.linfusion)) : undefined;
  const model = serializeGraph(buildUNet(SafetensorsFile.open(c.weights), cfg, { batch: 2, height: s, width: s, selfAttention }).graph);
  const feeds = {
    sample: tensor(new Float32Array(2 * 4 * s * s).fill(0.3), [2, 4, s, s]),
    timestep: tensor(Float32Array.of(500, 500), [2]),
    encoder_hidden_states: tensor(new Float32Array(2 * 77 * 768).fill(0.1), [2, 77, 768]),
  };
  const session = await Session.fromSerialized(model, { providers: ['cpu'], cpuSession: c.kind });
  const atRestGib = (process.resourceUsage().maxRSS * 1024) / GIB;
  const times: number[] = [];
  let out: Float32Array | undefined;
  for (let i = 0; i <= c.runs; i++) {
    const t0 = performance.now();
    out = (await session.run(feeds))[UNET_OUTPUT].data as Float32Array;
    if (i > 0) times.push(performance.now() - t0);
  }
  await session.release();
  times.sort((a, b) => a - b);
  return { atRestGib, peakGib: (process.resourceUsage().maxRSS * 1024) / GIB, msPerStep: times[times.length >> 1], checksum: out!.reduce((a, v) => a + v, 0) };
}

if (process.argv[2] === '--child') {
  console.log(JSON.stringify(await child(JSON.parse(process.argv[3]) as Cell)));
  process.exit(0);
}

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '512,1024' }, runs: { type: 'string', default: '2' }, kinds: { type: 'string', default: 'binding,native' }, linfusion: { type: 'boolean', default: false }, tmp: { type: 'string' } } });
const work = mkdtempSync(join(values.tmp ?? tmpdir(), 'cpu-sessions-'));
try {
  const specs = unetTensorSpecs(cfg);
  requireFreeDisk(work, safetensorsBytes(specs, 'F32'));
  const weights = join(work, 'unet.safetensors');
  writeRandomSafetensors(weights, specs, 'F32', 3);
  const linfusion = values.linfusion ? writeRandomLinFusion(work, cfg, 'F32', 4) : undefined;
  console.log(`SD 1.5 UNet, random fp32 weights, CFG batch 2, ${linfusion ? 'LinFusion' : 'softmax'}; peak RSS of the child process (GiB), ms per step (median)\n`);
  console.log('| size | session | RSS with the session | peak RSS | above the session | ms per step | same output |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | --- |');
  for (const size of values.sizes.split(',').map(Number)) {
    const rows: [string, CellResult][] = [];
    for (const kind of values.kinds.split(',') as Cell['kind'][]) {
      const cell: Cell = { kind, size, runs: Number(values.runs), weights, linfusion };
      const r = spawnSync(process.execPath, ['--import', 'tsx', process.argv[1], '--child', JSON.stringify(cell)], { encoding: 'utf8', maxBuffer: 16 << 20 });
      if (r.status !== 0) throw new Error(`${kind} ${size}²: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
      rows.push([kind, JSON.parse(r.stdout.trim().split('\n').pop()!) as CellResult]);
    }
    const same = rows.every(([, x]) => x.checksum === rows[0][1].checksum) ? (rows.length > 1 ? 'yes' : '–') : `no (${rows.map(([, x]) => x.checksum).join(' vs ')})`;
    for (const [kind, x] of rows) {
      console.log(`| ${size}² | ${kind} | ${x.atRestGib.toFixed(2)} | ${x.peakGib.toFixed(2)} | ${(x.peakGib - x.atRestGib).toFixed(2)} | ${x.msPerStep.toFixed(0)} | ${same} |`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
