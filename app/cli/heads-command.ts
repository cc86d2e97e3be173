// `studio heads list` (the self-attention layers a head list or preset addresses) and
// `studio heads search` (HeadHunter on small previews, written out as a head preset).
import { renameSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { BadRequestError, EXECUTION_PROVIDERS, HEAD_OBJECTIVE_NAMES as OBJECTIVE_NAMES, SAMPLER_NAMES, type HeadList, type JobInputOf } from '../../pipelines/jobs/api.ts';
import { HELP_OPTION, JSON_OPTION, MODEL_OPTIONS, OUT_OPTION, parseCommandLine, PROMPT_OPTIONS, stringOptions, type ParsedCommandLine } from './command-line.ts';
import { withEngine } from './engine.ts';
import { CancelledError, EXIT_OK, UsageError } from './exit-codes.ts';
import { ProgressBar } from './progress-bar.ts';

export const HEADS_HELP = `Usage: studio heads list [--model M] [--models-dir DIR] [--json]
       studio heads search [--model M] --prompt TEXT --objective NAME --out PRESET.json [options]

list      One line per self-attention layer: its index (the L in L3H1), its module name, and its
          head count. --json prints {family, architecture, layers}.

search    HeadHunter: greedy search for the heads whose perturbation best raises an objective.
          Each round renders the chosen heads plus one more head, for every head left, and keeps
          the k best. Writes a head preset for "studio generate --heads PRESET.json".
  --objective NAME     ${OBJECTIVE_NAMES.join(', ')} (reference needs --reference)
  --reference IMAGE    The image the "reference" objective gets close to
  --rounds R           Rounds (default 3)
  --k K                Heads added per round (default 3)
  --u U                Strength of each chosen head, 0 < U <= 1 (default 1; 1 = PAG)
  --pag-scale X        Perturbation guidance scale of the previews (default 3)
  --size PX            Preview side, a multiple of 8 (default 256; emoji models: their 64)
  --steps N            Steps per preview (default 10; emoji models: their own)
  --cfg X              CFG of the previews (default 1: off, as HeadHunter searches)
  --sampler NAME       SD models; default euler. One of: ${SAMPLER_NAMES.join(' ')}
  --negative TEXT      Negative prompt (with --cfg above 1)
  --seeds S1,S2        Seeds every candidate is rendered with; scores are averaged (default 0)
  --layers L1,L2       Search only the heads of these layers (default: all)
  --name NAME          Preset name (default: the --out file's name)
  --cache FILE         Scores so far; rerun the same command to resume (default: OUT.cache.json)
  --ep NAME            Execution provider: ${EXECUTION_PROVIDERS.join(' | ')} (default cpu)
  --json               Print the result as JSON

Common:
  --model M            emoji-dit, emoji-lit, an SD 1.x / 2.x / XL checkpoint file or diffusers
                       folder (default: the embedded model studio generate uses)
  --models-dir DIR     Folder searched for model names
  -h, --help           Show this help
`;

const OPTIONS = {
  ...MODEL_OPTIONS,
  ...PROMPT_OPTIONS,
  ...stringOptions('objective', 'reference', 'rounds', 'k', 'u', 'pag-scale', 'size', 'steps', 'cfg', 'sampler', 'seeds', 'layers', 'name'),
  ...OUT_OPTION,
  ...stringOptions('cache', 'ep'),
  ...JSON_OPTION,
  ...HELP_OPTION,
} as const;

type Values = ParsedCommandLine<typeof OPTIONS, true>['values'];

export async function headsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, OPTIONS, { positionals: true });
  const [sub, ...extra] = positionals;
  if (values.help) {
    process.stdout.write(HEADS_HELP);
    return EXIT_OK;
  }
  if (sub === undefined) throw new UsageError('missing the heads command: list or search');
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}" (put the prompt after --prompt, in quotes)`);
  if (sub === 'list') return list(values);
  if (sub === 'search') return search(values);
  throw new UsageError(`unknown heads command "${sub}"; use list or search`);
}

/** The model's layers, read by the engine (without loading weights). */
async function readHeads(values: Values): Promise<HeadList> {
  return withEngine((engine) => engine.submit({ kind: 'heads.list', model: values.model, modelsDir: values['models-dir'] }));
}

async function list(values: Values): Promise<number> {
  const { layers, architecture } = await readHeads(values);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ family: architecture.family, architecture, layers })}\n`);
    return EXIT_OK;
  }
  if (layers.length === 0) {
    process.stderr.write(`${architecture.family} has no self-attention layers, so no heads to perturb\n`);
    return EXIT_OK;
  }
  const nameWidth = Math.max(...layers.map((l) => l.name.length));
  const indexWidth = String(layers.length - 1).length;
  for (const l of layers) process.stdout.write(`${String(l.index).padStart(indexWidth)}  ${l.name.padEnd(nameWidth)}  ${l.heads}\n`);
  return EXIT_OK;
}

/** Flag texts → numbers, collecting every problem so one run reports them all. */
class Numbers {
  readonly problems: string[] = [];

  number(flag: string, text: string | undefined, fallback: number, ok: (n: number) => boolean, rule: string, integer = false): number {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || !ok(n)) {
      this.problems.push(`--${flag}: ${rule} (got ${JSON.stringify(text)})`);
      return fallback;
    }
    return n;
  }

  integers(flag: string, text: string | undefined): number[] | undefined {
    if (text === undefined) return undefined;
    const parts = text.split(',').map((s) => s.trim());
    if (parts.some((p) => !/^\d+$/.test(p))) {
      this.problems.push(`--${flag}: expected whole numbers separated by commas (got ${JSON.stringify(text)})`);
      return undefined;
    }
    return parts.map(Number);
  }
}

async function search(values: Values): Promise<number> {
  const heads = await readHeads(values);
  const model = values.model ?? 'the default model';
  // Models with one size (the emoji models) sample with their own flow Euler.
  const ownSampler = heads.fixedSize !== undefined;
  if (values.prompt === undefined) throw new UsageError('--prompt is required');
  if (values.objective === undefined) throw new UsageError(`--objective is required: one of ${OBJECTIVE_NAMES.join(', ')}`);
  if (values.out === undefined) throw new UsageError('--out PRESET.json is required');
  const n = new Numbers();
  const rounds = n.number('rounds', values.rounds, 3, (x) => x >= 1, 'must be a whole number of at least 1', true);
  const k = n.number('k', values.k, 3, (x) => x >= 1, 'must be a whole number of at least 1', true);
  const u = n.number('u', values.u, 1, (x) => x > 0 && x <= 1, 'must be above 0 and at most 1');
  const scale = n.number('pag-scale', values['pag-scale'], 3, (x) => x > 0 && x <= 100, 'must be above 0 and at most 100');
  const size = n.number('size', values.size, 256, (x) => x >= 64 && x % 8 === 0, 'must be a multiple of 8, at least 64', true);
  const steps = n.number('steps', values.steps, 10, (x) => x >= 1 && x <= 1000, 'must be a whole number from 1 to 1000', true);
  if (ownSampler && values.sampler !== undefined) n.problems.push(`--sampler: ${model} samples with its own rectified-flow Euler; leave --sampler out`);
  const cfg = n.number('cfg', values.cfg, 1, (x) => x >= 0 && x <= 100, 'must be from 0 to 100');
  const seeds = n.integers('seeds', values.seeds) ?? [0];
  const layers = n.integers('layers', values.layers);
  const sampler = values.sampler ?? 'euler';
  if (!(SAMPLER_NAMES as readonly string[]).includes(sampler)) n.problems.push(`--sampler: must be one of: ${SAMPLER_NAMES.join(' ')} (got ${JSON.stringify(sampler)})`);
  const ep = values.ep ?? 'cpu';
  if (!(EXECUTION_PROVIDERS as readonly string[]).includes(ep)) n.problems.push(`--ep: must be one of: ${EXECUTION_PROVIDERS.join(' ')} (got ${JSON.stringify(ep)})`);
  if (values.objective === 'reference' && values.reference === undefined) n.problems.push('--objective reference needs --reference IMAGE');
  if (values.objective !== 'reference' && values.reference !== undefined) n.problems.push('--reference only applies to --objective reference');
  if (n.problems.length) throw new UsageError(n.problems.join('\n'));
  const objective = values.objective === 'colorfulness' ? 'colourfulness' : values.objective;
  if (!(OBJECTIVE_NAMES as readonly string[]).includes(objective)) {
    throw new UsageError(`--objective: unknown objective "${values.objective}"; use one of: ${OBJECTIVE_NAMES.join(', ')} (the "picks" objective is chosen in the studio's UI)`);
  }

  if (heads.layers.length === 0) throw new UsageError(`${model} has no attention heads to search (use emoji-dit, emoji-lit or an SD model)`);
  const missing = layers?.find((l) => !heads.layers[l]);
  if (missing !== undefined) throw new UsageError(`--layers: layer ${missing} does not exist (this model has self-attention layers 0–${heads.layers.length - 1}; see "studio heads list")`);
  if (values.size !== undefined && heads.fixedSize !== undefined && size !== heads.fixedSize) {
    throw new UsageError(`--size: ${model} draws ${heads.fixedSize}×${heads.fixedSize} images only (got ${size})`);
  }

  const cacheFile = values.cache ?? `${values.out}.cache.json`;
  const name = values.name ?? basename(values.out).replace(/\.json$/i, '');
  const job: JobInputOf<'heads.search'> = {
    kind: 'heads.search',
    model: values.model,
    modelsDir: values['models-dir'],
    prompt: values.prompt,
    negative: values.negative ?? '',
    scale, cfg, seeds, k, u, rounds,
    ep: ep as JobInputOf<'heads.search'>['ep'],
    ...(values.steps === undefined ? {} : { steps }),
    ...(values.size === undefined ? {} : { size }),
    ...(ownSampler ? {} : { sampler: sampler as JobInputOf<'heads.search'>['sampler'] }),
    ...(layers ? { layers } : {}),
    objective: { kind: 'image', name: objective as 'sharpness', cacheFile, preset: { name }, ...(values.reference === undefined ? {} : { reference: values.reference }) },
  };

  const controller = new AbortController();
  const onSignal = () => controller.abort(new CancelledError('cancelled; run the same command again to resume from the cache'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const bar = ProgressBar.forStderr();
  const started = performance.now();
  let result;
  try {
    result = await withEngine((engine) => engine.submit(job, { signal: controller.signal, progress: (p) => bar?.update(p) }));
  } catch (e) {
    if (controller.signal.aborted) throw controller.signal.reason;
    if (e instanceof BadRequestError) throw new UsageError(e.message);
    throw e;
  } finally {
    bar?.done();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (result.status !== 'done' || !result.preset) throw new Error('the engine answered a head search without the preset it was asked for');

  const { preset } = result;
  const picks = preset.heads;
  const temp = `${values.out}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(preset, null, 2)}\n`);
  renameSync(temp, values.out);

  const ms = Math.round(performance.now() - started);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ preset: values.out, cache: cacheFile, heads: picks, scores: result.scores, rounds: result.roundsAdded, renders: result.renders, cachedEvaluations: result.cachedEvaluations, ms })}\n`);
    return EXIT_OK;
  }
  const rows: Array<[string, number | undefined]> = [];
  if (result.scores.none !== undefined) rows.push(['no perturbation', result.scores.none], ['PAG on every head', result.scores.allHeads]);
  result.roundsAdded.forEach((r, i) => rows.push([`round ${i + 1}: +${r.added.join(' +')}`, r.score]));
  const width = Math.max(...rows.map(([label]) => label.length), 'set'.length);
  process.stdout.write(`${'set'.padEnd(width)}  ${result.objective}\n`);
  for (const [label, score] of rows) process.stdout.write(`${label.padEnd(width)}  ${score === undefined ? '' : score.toPrecision(5)}\n`);
  process.stdout.write(`wrote ${values.out}: ${result.heads.length} heads at u = ${u}, scale ${scale} (${result.renders} previews rendered, ${result.cachedEvaluations} from the cache, ${(ms / 1000).toFixed(1)} s)\n`);
  return EXIT_OK;
}
