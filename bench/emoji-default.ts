// The embedded emoji models on this machine's CPU: load time (configs read, sessions created for the
// text encoder, decoder and the default denoiser batch) and time per image at the default sampler
// settings after load (batch 1; median and min of --runs timed images after one warm-up image), for
// ORT intra-op thread counts given by --threads and image sides given by --sizes (128 = 64² + the 2×
// upsampler). CPU seconds per image (this process, all threads) are printed beside the wall time: on a
// shared machine they show the work done, where wall time also shows the wait for a core.
//
//   npx tsx bench/emoji-default.ts [--models emoji-dit,emoji-lit,emoji-dico] [--runs 5] [--threads 2,1] [--sizes 64,128]
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { EmojiPipeline } from '../pipelines/recipes/emoji/pipeline.ts';
import { EMOJI_MODEL_NAMES, isEmojiModelName } from '../pipelines/recipes/emoji/models.ts';

const { values: args } = parseArgs({
  options: {
    models: { type: 'string', default: EMOJI_MODEL_NAMES.join(',') },
    runs: { type: 'string', default: '5' },
    threads: { type: 'string', default: '2,1' },
    sizes: { type: 'string', default: '64,128' },
    prompt: { type: 'string', default: 'a smiling cat face, noto style' },
  },
});

const models = args.models.split(',').map((m) => m.trim());
for (const m of models) if (!isEmojiModelName(m)) throw new Error(`--models: "${m}" is not one of ${EMOJI_MODEL_NAMES.join(', ')}`);
const runs = Number(args.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer (got ${args.runs})`);
const threadCounts = args.threads.split(',').map(Number);
if (threadCounts.some((t) => !Number.isInteger(t) || t < 1)) throw new Error(`--threads must list positive integers (got ${args.threads})`);
const sizes = args.sizes.split(',').map(Number);
if (sizes.some((s) => s !== 64 && s !== 128)) throw new Error(`--sizes must list 64 and/or 128 (got ${args.sizes})`);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ms = (x: number) => `${x.toFixed(0)} ms`;

interface Row {
  model: string;
  size: number;
  threads: number;
  steps: number;
  load: number;
  first: number;
  perImage: number[];
  cpuPerImage: number[];
  denoise: number[];
  decode: number[];
}

async function measure(model: string, size: number, threads: number): Promise<Row> {
  const pipeline = await EmojiPipeline.load(model, { providers: ['cpu'], intraOpThreads: threads });
  try {
    const image = async (seed: number) => {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const r = await pipeline.generate({ prompt: args.prompt, seed, size });
      const cpu = process.cpuUsage(cpu0);
      return { total: performance.now() - t0, cpu: (cpu.user + cpu.system) / 1000, r };
    };
    const first = await image(0);
    const timed = [];
    for (let i = 1; i <= runs; i++) timed.push(await image(i));
    return {
      model,
      size,
      threads,
      steps: first.r.settings.steps,
      load: pipeline.loadMs,
      first: first.total,
      perImage: timed.map((t) => t.total),
      cpuPerImage: timed.map((t) => t.cpu),
      denoise: timed.map((t) => t.r.timings.denoise),
      decode: timed.map((t) => t.r.timings.decode),
    };
  } finally {
    await pipeline.release();
  }
}

console.log(`CPU: ${cpus().length} × ${cpus()[0]?.model ?? '?'}; load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(`prompt "${args.prompt}", default sampler settings, batch 1, ${runs} timed images after 1 warm-up image\n`);
const rows: Row[] = [];
for (const model of models) for (const size of sizes) for (const threads of threadCounts) rows.push(await measure(model, size, threads));

console.log('| model | size | threads | steps | load | first image | per image (median) | per image (min) | CPU per image (median) | denoise (median) | decode (median) |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) {
  const cells = [r.model, `${r.size}²`, r.threads, r.steps, ms(r.load), ms(r.first), ms(median(r.perImage)), ms(Math.min(...r.perImage)), ms(median(r.cpuPerImage)), ms(median(r.denoise)), ms(median(r.decode))];
  console.log(`| ${cells.join(' | ')} |`);
}
console.log(`\nload average at end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
