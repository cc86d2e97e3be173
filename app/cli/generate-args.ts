// `studio generate` options → a validated GenerateRequest, with errors that name the flag.
import { existsSync } from 'node:fs';
import type { z } from 'zod';
import { GenerateRequestSchema, parseAttentionArg, PreviewOptionsSchema, type Attention, type PreviewOptions, type GenerateRequest, type GenerateRequestInput, type HeadWeight } from '../../pipelines/jobs/api.ts';
import { UsageError } from './exit-codes.ts';
import { PROGRESS_MODES, type ProgressMode } from './progress-report.ts';
import { HELP_OPTION, JSON_OPTION, MODEL_OPTIONS, OUT_OPTION, parseCommandLine, PROMPT_OPTIONS, stringOptions, type ParsedCommandLine } from './command-line.ts';
import { withEngine } from './engine.ts';
import { fromImage } from './from-image.ts';
import { withPreset } from './presets-command.ts';

/** LinFusion's HighRes / SuperRes loop settings (its pipelines' argument names). */
const DUAL_BRANCH_FLAGS = ['cosine-scale-1', 'cosine-scale-2', 'cosine-scale-3', 'gaussian-sigma', 'upscale-strength'] as const;

export const OPTIONS = {
  ...MODEL_OPTIONS,
  ...stringOptions('vae', 'config', 'lora-dir', 'embeddings', 'clip-skip'),
  lora: { type: 'string', multiple: true },
  ...PROMPT_OPTIONS,
  ...stringOptions('steps', 'cfg', 'sampler', 'seed', 'width', 'height', 'batch'),
  ...stringOptions('init-image', 'strength', 'mask', 'mask-blur', 'inpaint-area', 'padding', 'outpaint', 'hires-fix', 'hires-steps'),
  controlnet: { type: 'string', multiple: true },
  'control-image': { type: 'string', multiple: true },
  preprocess: { type: 'string', multiple: true },
  'guess-mode': { type: 'boolean' },
  ...stringOptions('ip-adapter', 'ip-image', 'image-encoder'),
  ...stringOptions('hires', 'hires-mode', 'hires-strengths', 'hires-memory', ...DUAL_BRANCH_FLAGS),
  'keep-stages': { type: 'boolean' },
  ...stringOptions('previews', 'preview-every', 'taesd'),
  ...stringOptions('pag-scale', 'pag-layers', 'heads', 'attention', 'ep', 'class', 'preset', 'from', 'progress'),
  ...OUT_OPTION,
  ...JSON_OPTION,
  ...HELP_OPTION,
} as const;

type Values = ParsedCommandLine<typeof OPTIONS, false>['values'];

export const DEFAULT_OUT = 'outputs';

/** `--previews DIR`: where step previews go; absent: the engine draws none. */
export interface PreviewArgs {
  dir?: string;
  options: PreviewOptions;
}

export type GenerateArgs = { help: true } | { help: false; request: GenerateRequest; out: string; json: boolean; notes?: string[]; previews: PreviewArgs; progress?: ProgressMode };
/** `--progress lines|bar|none`; absent: chosen by whether stderr is a terminal. */
export function parseProgressMode(text: string | undefined): ProgressMode | undefined {
  if (text === undefined || (PROGRESS_MODES as readonly string[]).includes(text)) return text as ProgressMode | undefined;
  throw new UsageError(`--progress: expected one of ${PROGRESS_MODES.join(', ')}, got ${JSON.stringify(text)}`);
}

/** Request field → the flag it comes from, for error messages. */
const FLAG_OF: Record<string, string> = {
  model: '--model',
  modelsDir: '--models-dir',
  vae: '--vae',
  config: '--config',
  loras: '--lora',
  loraDir: '--lora-dir',
  embeddingsDir: '--embeddings',
  clipSkip: '--clip-skip',
  prompt: '--prompt',
  negative: '--negative',
  steps: '--steps',
  cfg: '--cfg',
  sampler: '--sampler',
  seed: '--seed',
  width: '--width',
  height: '--height',
  batch: '--batch',
  initImage: '--init-image',
  strength: '--strength',
  mask: '--mask',
  maskBlur: '--mask-blur',
  inpaintArea: '--inpaint-area',
  padding: '--padding',
  outpaint: '--outpaint',
  'outpaint.left': '--outpaint',
  'outpaint.right': '--outpaint',
  'outpaint.top': '--outpaint',
  'outpaint.bottom': '--outpaint',
  hiresFix: '--hires-fix',
  'hiresFix.scale': '--hires-fix',
  'hiresFix.denoise': '--hires-fix',
  'hiresFix.upscaler': '--hires-fix',
  'hiresFix.steps': '--hires-steps',
  controlNets: '--controlnet',
  ipAdapter: '--ip-adapter',
  'ipAdapter.scale': '--ip-adapter',
  'ipAdapter.image': '--ip-image',
  'ipAdapter.imageEncoder': '--image-encoder',
  hires: '--hires',
  'hires.width': '--hires',
  'hires.height': '--hires',
  'hires.mode': '--hires-mode',
  'hires.strengths': '--hires-strengths',
  'hires.memoryGiB': '--hires-memory',
  'hires.cosineScale1': '--cosine-scale-1',
  'hires.cosineScale2': '--cosine-scale-2',
  'hires.cosineScale3': '--cosine-scale-3',
  'hires.gaussianSigma': '--gaussian-sigma',
  'hires.upscaleStrength': '--upscale-strength',
  'pag.scale': '--pag-scale',
  'pag.layers': '--pag-layers',
  'pag.heads': '--heads',
  attention: '--attention',
  ep: '--ep',
  classLabel: '--class',
};

/** Turns flag texts into values, collecting every problem so one run reports them all. */
class Converter {
  readonly problems: string[] = [];

  integer(flag: string, text: string | undefined): number | undefined {
    if (text === undefined) return undefined;
    if (/^[+-]?\d+$/.test(text.trim())) return Number(text);
    this.problems.push(`--${flag}: expected a whole number, got ${JSON.stringify(text)}`);
    return undefined;
  }

  decimal(flag: string, text: string | undefined): number | undefined {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (text.trim() !== '' && Number.isFinite(n)) return n;
    this.problems.push(`--${flag}: expected a number, got ${JSON.stringify(text)}`);
    return undefined;
  }

  seed(text: string | undefined): number | undefined {
    const n = this.integer('seed', text);
    return n === -1 ? undefined : n; // A1111's convention: -1 = random
  }

  attention(text: string | undefined): Attention | undefined {
    if (text === undefined) return undefined;
    const parsed = parseAttentionArg(text);
    if (typeof parsed === 'object') return parsed;
    this.problems.push(`--attention: ${parsed}`);
    return undefined;
  }

  /** `--outpaint L,R,T,B`: pixels of new canvas on each side. */
  outpaint(text: string | undefined): GenerateRequestInput['outpaint'] {
    if (text === undefined) return undefined;
    const sides = text.split(',').map((t) => t.trim());
    if (sides.length !== 4 || sides.some((t) => !/^\d+$/.test(t))) {
      this.problems.push(`--outpaint: expected LEFT,RIGHT,TOP,BOTTOM in pixels (e.g. 0,0,128,0), got ${JSON.stringify(text)}`);
      return undefined;
    }
    const [left, right, top, bottom] = sides.map(Number);
    return { left, right, top, bottom };
  }

  /** `--hires WxH [--hires-mode ladder|highres|superres] [--hires-strengths 0.4,0.3,…] [--hires-memory GIB] [--keep-stages]` and the HighRes / SuperRes loop flags. */
  hiresLadder(values: Values): GenerateRequestInput['hires'] {
    const text = values.hires;
    if (text === undefined) {
      for (const flag of ['hires-mode', 'hires-strengths', 'hires-memory', 'keep-stages', ...DUAL_BRANCH_FLAGS] as const) if (values[flag] !== undefined) this.problems.push(`--${flag} needs --hires WIDTHxHEIGHT too`);
      return undefined;
    }
    const m = /^\s*(\d+)\s*[x×]\s*(\d+)\s*$/.exec(text);
    if (!m) {
      this.problems.push(`--hires: expected WIDTHxHEIGHT in pixels (e.g. 2048x1024), got ${JSON.stringify(text)}`);
      return undefined;
    }
    const strengths = values['hires-strengths']?.split(',').map((t) => this.decimal('hires-strengths', t.trim()) ?? Number.NaN);
    return {
      width: Number(m[1]),
      height: Number(m[2]),
      mode: values['hires-mode'] as NonNullable<GenerateRequestInput['hires']>['mode'],
      strengths,
      keepStages: values['keep-stages'],
      memoryGiB: this.decimal('hires-memory', values['hires-memory']),
      cosineScale1: this.decimal('cosine-scale-1', values['cosine-scale-1']),
      cosineScale2: this.decimal('cosine-scale-2', values['cosine-scale-2']),
      cosineScale3: this.decimal('cosine-scale-3', values['cosine-scale-3']),
      gaussianSigma: this.decimal('gaussian-sigma', values['gaussian-sigma']),
      upscaleStrength: this.decimal('upscale-strength', values['upscale-strength']),
    };
  }

  /** `--hires-fix SCALE[:DENOISE[:UPSCALER]]` and `--hires-steps N`. */
  hiresFix(values: Values): GenerateRequestInput['hiresFix'] {
    const text = values['hires-fix'];
    const steps = this.integer('hires-steps', values['hires-steps']);
    if (text === undefined) {
      if (values['hires-steps'] !== undefined) this.problems.push('--hires-steps needs --hires-fix SCALE too');
      return undefined;
    }
    const [scale, denoise, upscaler, ...rest] = text.split(':');
    if (rest.length) this.problems.push(`--hires-fix: expected SCALE[:DENOISE[:UPSCALER]], got ${JSON.stringify(text)}`);
    return {
      scale: this.decimal('hires-fix', scale) ?? Number.NaN,
      denoise: denoise === undefined || denoise === '' ? undefined : this.decimal('hires-fix', denoise),
      upscaler: (upscaler || undefined) as NonNullable<GenerateRequestInput['hiresFix']>['upscaler'],
      ...(steps !== undefined ? { steps } : {}),
    };
  }

  pag(values: Values): GenerateRequestInput['pag'] {
    const scale = this.decimal('pag-scale', values['pag-scale']);
    const layers = values['pag-layers']?.split(',').map((l) => l.trim()).filter(Boolean);
    if (scale === undefined) {
      if (layers !== undefined && values['pag-scale'] === undefined) this.problems.push('--pag-layers needs --pag-scale (the guidance strength) too');
      if (values.heads !== undefined && values['pag-scale'] === undefined) this.problems.push('--heads needs --pag-scale (the guidance strength) too');
      return undefined;
    }
    return { scale, layers: layers ?? ['mid'] };
  }

  /**
   * `--controlnet FILE[:WEIGHT[:START:END]] --control-image IMG [--preprocess canny|softedge|none]`,
   * repeatable in pairs: the i-th image (and preprocessor, or one for all) goes with the i-th ControlNet.
   */
  controlNets(values: Values): GenerateRequestInput['controlNets'] {
    const nets = values.controlnet ?? [];
    const images = values['control-image'] ?? [];
    const preprocess = values.preprocess ?? [];
    if (!nets.length) {
      if (images.length) this.problems.push('--control-image needs --controlnet FILE too (one ControlNet per control image)');
      if (preprocess.length) this.problems.push('--preprocess needs --controlnet FILE and --control-image IMG too');
      if (values['guess-mode']) this.problems.push('--guess-mode needs --controlnet FILE too');
      return undefined;
    }
    if (images.length !== nets.length) this.problems.push(`--controlnet: ${nets.length} ControlNet(s) but ${images.length} --control-image(s): give one control image after each ControlNet`);
    if (preprocess.length > 1 && preprocess.length !== nets.length) this.problems.push(`--preprocess: give one for all ControlNets or one per ControlNet (${nets.length}), not ${preprocess.length}`);
    return nets.map((text, i) => {
      const parts = text.split(':');
      const numeric = (p: string | undefined) => p !== undefined && /^[+-]?(?:\d+\.?\d*|\.\d+)$/.test(p);
      // Trailing numbers are WEIGHT or WEIGHT:START:END; a Windows drive letter ("C:") stays in the file.
      const tail = parts.length >= 4 && parts.slice(-3).every(numeric) ? 3 : parts.length >= 2 && numeric(parts.at(-1)) ? 1 : 0;
      const file = parts.slice(0, parts.length - tail).join(':');
      const [weight, start, end] = parts.slice(parts.length - tail).map(Number);
      if (tail === 0 && parts.length > 1 && !/^[A-Za-z]:[\\/]/.test(text)) this.problems.push(`--controlnet ${text}: expected FILE[:WEIGHT[:START:END]] with numbers, e.g. --controlnet canny.safetensors:0.8:0:0.6`);
      return {
        model: file,
        image: images[i] ?? '',
        weight,
        start,
        end,
        preprocess: (preprocess.length === 1 ? preprocess[0] : preprocess[i]) as NonNullable<GenerateRequestInput['controlNets']>[number]['preprocess'],
        guessMode: values['guess-mode'] || undefined,
      };
    });
  }

  /** `--ip-adapter FILE[:SCALE] --ip-image IMG [--image-encoder DIR]` (a Windows drive letter is no scale). */
  ipAdapter(values: Values): GenerateRequestInput['ipAdapter'] {
    const text = values['ip-adapter'];
    if (text === undefined) {
      for (const flag of ['ip-image', 'image-encoder'] as const) if (values[flag] !== undefined) this.problems.push(`--${flag} needs --ip-adapter FILE too`);
      return undefined;
    }
    if (values['ip-image'] === undefined) this.problems.push('--ip-adapter needs --ip-image IMG (the image prompt) too');
    const { file, value } = this.fileAndNumber('--ip-adapter', text, 'scale', '--ip-adapter ip-adapter_sd15.safetensors:0.6');
    return { model: file, scale: value, image: values['ip-image'] ?? '', imageEncoder: values['image-encoder'] };
  }

  /** `--lora FILE_OR_NAME[:WEIGHT]`, repeatable; the weight defaults to 1 (a Windows drive letter is no weight). */
  loras(texts: readonly string[] | undefined): { name: string; weight: number }[] | undefined {
    if (!texts?.length) return undefined;
    return texts.map((text) => {
      const { file, value } = this.fileAndNumber('--lora', text, 'weight', '--lora style.safetensors:0.8');
      return { name: file, weight: value ?? 1 };
    });
  }

  /** `FILE[:NUMBER]`: a number after the last ":" (a Windows drive letter is none); anything else there is a problem. */
  private fileAndNumber(flag: string, text: string, what: string, example: string): { file: string; value?: number } {
    const m = /^(.+?):([+-]?(?:\d+\.?\d*|\.\d+))$/.exec(text);
    if (m && !/^[A-Za-z]$/.test(m[1])) return { file: m[1], value: Number(m[2]) };
    if (/:[^\\/]*$/.test(text) && !/^[A-Za-z]:[\\/]/.test(text)) this.problems.push(`${flag} ${text}: the ${what} after ":" is not a number; write FILE[:${what.toUpperCase()}], e.g. ${example}`);
    return { file: text };
  }

}

/** `--previews DIR [--preview-every N] [--taesd FILE]`; without a folder the engine draws no previews. */
function previewArgs(values: Values): PreviewArgs {
  if (values.previews === undefined) {
    for (const flag of ['preview-every', 'taesd'] as const) if (values[flag] !== undefined) throw new UsageError(`--${flag}: only applies with --previews DIR`);
    return { options: { every: 0 } };
  }
  const every = values['preview-every'] === undefined ? 1 : Number(values['preview-every']);
  const parsed = PreviewOptionsSchema.safeParse({ every, taesd: values.taesd });
  if (!parsed.success || every < 1) throw new UsageError(`--preview-every: expected a whole number ≥ 1 (a preview every N steps), got ${JSON.stringify(values['preview-every'])}`);
  return { dir: values.previews, options: parsed.data };
}

/** Paths that must exist before a long model load is worth starting. */
function checkPaths(values: Values, att: Attention | undefined): void {
  const paths: Array<[string, string | undefined]> = [
    ['--init-image', values['init-image']],
    ['--ip-image', values['ip-image']],
    ['--image-encoder', values['image-encoder']],
    ['--mask', values.mask],
    ['--taesd', values.taesd],
    ['--vae', values.vae],
    ['--config', values.config],
    ['--lora-dir', values['lora-dir']],
    ['--embeddings', values.embeddings],
    ['--models-dir', values['models-dir']],
    [`--attention ${att?.kind}:`, att && 'path' in att ? att.path : undefined],
  ];
  // --model may also be a bare name looked up in --models-dir; only paths are checked here.
  const model = values.model;
  if (model !== undefined && (/[\\/]/.test(model) || /\.(safetensors|ckpt|pt|pth|bin)$/i.test(model))) paths.push(['--model', model]);
  (values.controlnet ?? []).forEach((_, i) => paths.push(['--control-image', values['control-image']?.[i]]));
  for (const [flag, path] of paths) {
    if (path !== undefined && !existsSync(path)) throw new UsageError(`${flag}: no file or folder at ${path}`);
  }
}

function describeIssue(issue: z.core.$ZodIssue, input: GenerateRequestInput): string {
  const key = issue.path.join('.');
  const flag = FLAG_OF[key] ?? FLAG_OF[String(issue.path[0])] ?? key;
  const field = issue.path.reduce<unknown>((v, p) => (v as Record<PropertyKey, unknown> | undefined)?.[p], input);
  const got = field === undefined || typeof field === 'object' ? '' : ` (got ${JSON.stringify(field)})`;
  return `${flag}: ${issue.message}${got}`;
}

/**
 * `--heads PRESET|FILE|L3H1:0.5,…` (joined with +) as per-head strengths, checked against --model when
 * given: the engine reads the model's layers and the presets.
 */
async function resolveHeads(values: Values): Promise<HeadWeight[]> {
  const text = values.heads!;
  return withEngine((engine) => engine.submit({ kind: 'heads.resolve', text, model: values.model, modelsDir: values['models-dir'] }));
}

/** The command line as a validated request; `--heads` is resolved by the engine, hence async. */
export async function parseGenerateArgs(argv: string[]): Promise<GenerateArgs> {
  let { values } = parseCommandLine(argv, OPTIONS, { positionals: false, negativeNumbers: true, hint: (m) => (/positional/i.test(m) ? ' (put the prompt after --prompt, in quotes)' : '') });
  if (values.help) return { help: true };
  const progress = parseProgressMode(values.progress);
  values = withPreset(values);
  if (values.prompt === undefined && values.class === undefined && values.from === undefined) throw new UsageError('--prompt is required (or --class N for a class-conditional DiT/DiCo model)');

  const c = new Converter();
  const att = c.attention(values.attention);
  const input: GenerateRequestInput = {
    model: values.model,
    modelsDir: values['models-dir'],
    vae: values.vae,
    config: values.config,
    loras: c.loras(values.lora),
    loraDir: values['lora-dir'],
    embeddingsDir: values.embeddings,
    clipSkip: c.integer('clip-skip', values['clip-skip']),
    prompt: values.prompt ?? '',
    negative: values.negative,
    steps: c.integer('steps', values.steps),
    cfg: c.decimal('cfg', values.cfg),
    sampler: values.sampler as GenerateRequestInput['sampler'],
    seed: c.seed(values.seed),
    width: c.integer('width', values.width),
    height: c.integer('height', values.height),
    batch: c.integer('batch', values.batch),
    initImage: values['init-image'],
    strength: c.decimal('strength', values.strength),
    mask: values.mask,
    maskBlur: c.integer('mask-blur', values['mask-blur']),
    inpaintArea: values['inpaint-area'] as GenerateRequestInput['inpaintArea'],
    padding: c.integer('padding', values.padding),
    outpaint: c.outpaint(values.outpaint),
    hiresFix: c.hiresFix(values),
    hires: c.hiresLadder(values),
    pag: c.pag(values),
    controlNets: c.controlNets(values),
    ipAdapter: c.ipAdapter(values),
    attention: att,
    ep: values.ep as GenerateRequestInput['ep'],
    classLabel: c.integer('class', values.class),
  };
  let notes: string[] | undefined;
  if (values.from !== undefined) {
    const given = { model: values.model !== undefined, loras: values.lora !== undefined, embeddings: values.embeddings !== undefined };
    const restored = await fromImage(values.from, { modelsDir: values['models-dir'], given });
    notes = restored.notes;
    // Flags given on the command line override the image's settings.
    const fields = input as Record<string, unknown>;
    for (const [key, value] of Object.entries(restored.input)) if (fields[key] === undefined || (key === 'prompt' && values.prompt === undefined)) fields[key] = value;
  }
  if (values.heads !== undefined && input.pag) {
    try {
      input.pag.heads = await resolveHeads(values);
    } catch (e) {
      c.problems.push(`--heads: ${(e as Error).message}`);
    }
  }
  const parsed = GenerateRequestSchema.safeParse(input);
  // One message per field: zod may report a value twice (e.g. not an integer, and too large).
  const issues = parsed.success ? [] : parsed.error.issues.filter((i, k, all) => all.findIndex((j) => j.path.join('.') === i.path.join('.')) === k);
  const problems = [...c.problems, ...issues.map((i) => describeIssue(i, input))];
  if (problems.length || !parsed.success) throw new UsageError(problems.join('\n'));
  checkPaths(values, att);
  for (const u of parsed.data.controlNets ?? []) if (!existsSync(u.model)) throw new UsageError(`--controlnet: no file or folder at ${u.model}`);
  if (parsed.data.ipAdapter && !existsSync(parsed.data.ipAdapter.model)) throw new UsageError(`--ip-adapter: no file at ${parsed.data.ipAdapter.model}`);
  return { help: false, request: parsed.data, out: values.out ?? DEFAULT_OUT, json: values.json ?? false, ...(notes?.length ? { notes } : {}), previews: previewArgs(values), progress };
}
