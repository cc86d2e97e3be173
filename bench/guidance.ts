// Cost of head-level guidance on the tiny SD 1.x fixture: time per denoising step of plain CFG
// against CFG + PAG (every head of the mid layer), CFG + SoftPAG (nine heads at u = 0.5, spread over
// the UNet) and the CFG-free forms, then the wall time of a small HeadHunter search and of its resume.
//
//   npx tsx bench/guidance.ts [--size 256] [--steps 4] [--repeats 5] [--ep cpu]
//                             [--search-size 128] [--search-layers 3,10] [--rounds 2] [--k 2]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fixture } from '../test/fixtures.ts';
import { SdPipeline, type SdGenerateOptions } from '../pipelines/recipes/sd/pipeline.ts';
import type { Provider } from '../pipelines/runtime/session.ts';
import { expandHeadSpec, parseHeadSpec } from '../pipelines/heads/spec.ts';
import { matchPagLayers } from '../pipelines/models/unet/layers.ts';
import { SdHeadModel } from '../pipelines/heads/sd-model.ts';
import { headHunter } from '../pipelines/heads/headhunter.ts';
import { sharpness } from '../pipelines/heads/objectives.ts';

const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: '256' },
    steps: { type: 'string', default: '4' },
    repeats: { type: 'string', default: '5' },
    ep: { type: 'string', default: 'cpu' },
    'search-size': { type: 'string', default: '128' },
    'search-steps': { type: 'string', default: '2' },
    'search-layers': { type: 'string', default: '3,10' },
    rounds: { type: 'string', default: '2' },
    k: { type: 'string', default: '2' },
  },
});
const int = (name: string, v: string | undefined, min = 1) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number of at least ${min} (got ${v})`);
  return n;
};
const size = int('size', args.size, 64);
const steps = int('steps', args.steps);
const repeats = int('repeats', args.repeats);

const pipe = SdPipeline.load(fixture('sd15-tiny'), { providers: [args.ep as Provider] });
const mid = matchPagLayers(pipe.layers, ['mid']);
const softHeads = expandHeadSpec(parseHeadSpec('L1H0:0.5,L2H3:0.5,L3H1:0.5,L4H7:0.5,L6H2:0.5,L8H5:0.5,L10H0:0.5,L12H4:0.5,L14H6:0.5'), pipe.layers);
const pag = expandHeadSpec(parseHeadSpec(mid.map((l) => `L${l}:1`).join(',')), pipe.layers);
const base: SdGenerateOptions = { prompt: 'a red apple on a wooden table', negative: '', steps, cfg: 5, sampler: 'euler', seed: 1, width: size, height: size };

const variants: Array<[string, number, SdGenerateOptions]> = [
  ['no guidance (cfg 1)', 1, { ...base, cfg: 1 }],
  ['PAG only (cfg 1, mid layer)', 2, { ...base, cfg: 1, heads: { scale: 3, picks: pag } }],
  ['plain CFG', 2, base],
  ['CFG + PAG (mid layer, u = 1)', 3, { ...base, heads: { scale: 3, picks: pag } }],
  ['CFG + SoftPAG (9 heads, u = 0.5)', 3, { ...base, heads: { scale: 3, picks: softHeads } }],
];

// Variants take turns within each repeat, so load from other processes falls on all of them alike;
// the minimum is the least disturbed figure.
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [, , o] of variants) await pipe.generate(o); // warm-up: builds each batch size's session
const perStep = variants.map(() => [] as number[]);
for (let r = 0; r < repeats; r++) {
  for (const [i, [, , o]] of variants.entries()) perStep[i].push((await pipe.generate(o)).timings.denoise / steps);
}
const cfgIndex = variants.findIndex(([name]) => name === 'plain CFG');
const cfgMin = Math.min(...perStep[cfgIndex]);

console.log(`\nGuided step on sd15-tiny, ${size}², ${args.ep}, euler, ${repeats} interleaved runs of ${steps} steps (UNet rows per step = batch)\n`);
console.log('| guidance | UNet batch | ms per step, min | median | min × plain CFG |');
console.log('| --- | --- | --- | --- | --- |');
variants.forEach(([name, batch], i) => {
  const min = Math.min(...perStep[i]);
  console.log(`| ${name} | ${batch} | ${min.toFixed(1)} | ${median(perStep[i]).toFixed(1)} | ${(min / cfgMin).toFixed(2)} |`);
});

const searchSize = int('search-size', args['search-size'], 64);
const searchLayers = args['search-layers']!.split(',').map(Number);
const candidates = searchLayers.flatMap((l) => Array.from({ length: pipe.layers[l].heads }, (_, head) => ({ layer: l, head })));
const model = new SdHeadModel(pipe, { prompt: 'a red apple on a wooden table', steps: int('search-steps', args['search-steps']), cfg: 1, sampler: 'euler' });
const dir = mkdtempSync(join(tmpdir(), 'bench-guidance-'));
try {
  const search = { objective: sharpness, rounds: int('rounds', args.rounds), k: int('k', args.k), u: 1, scale: 3, size: searchSize, candidates, cacheFile: join(dir, 'cache.json') };
  let t = performance.now();
  const first = await headHunter(model, search);
  const firstMs = performance.now() - t;
  t = performance.now();
  const resumed = await headHunter(model, search);
  const resumedMs = performance.now() - t;
  console.log(`\nHeadHunter search: sharpness, ${search.rounds} rounds of k = ${search.k}, ${candidates.length} candidate heads (layers ${searchLayers.join(', ')}), ${searchSize}² previews of ${model.settings.steps} steps, PAG-only\n`);
  console.log('| run | previews rendered | from cache | wall time | per preview |');
  console.log('| --- | --- | --- | --- | --- |');
  console.log(`| first | ${first.renders} | ${first.cachedEvaluations} | ${(firstMs / 1000).toFixed(2)} s | ${(firstMs / first.renders).toFixed(0)} ms |`);
  console.log(`| rerun (resumed) | ${resumed.renders} | ${resumed.cachedEvaluations} | ${(resumedMs / 1000).toFixed(3)} s | – |`);
  const table = [['no perturbation', first.baselines!.none], ['PAG on every head', first.baselines!.allHeads], ...first.rounds.map((r) => [`after round ${r.round + 1}`, r.score!] as [string, number])];
  console.log(`\n| set | sharpness |\n| --- | --- |\n${table.map(([n, s]) => `| ${n} | ${(s as number).toPrecision(5)} |`).join('\n')}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
  await pipe.release();
}
