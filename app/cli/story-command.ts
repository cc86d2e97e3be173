// `studio story STORY.json --out DIR`: the subjects' reference images and every scene, made with
// IR-Diffusion (Isolation + Reposition Attention), each PNG with its metadata, plus the resolved story
// (seeds and boxes decided) as DIR/story.json. Runs in this process; Ctrl-C stops after the current step.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { writeNewFileAtomic } from '../../pipelines/queue/atomic-write.ts';
import { encodePng } from '../../pipelines/metadata/encode-png.ts';
import { BadRequestError, EXECUTION_PROVIDERS, StoryRequestSchema, type ExecutionProvider, type StoryImageOut, type StoryRequest } from '../../pipelines/jobs/api.ts';
import { HELP_OPTION, JSON_OPTION, MODEL_OPTIONS, OUT_OPTION, parseCommandLine, stringOptions } from './command-line.ts';
import { withEngine } from './engine.ts';
import { CancelledError, EXIT_OK, UsageError } from './exit-codes.ts';
import { ProgressBar } from './progress-bar.ts';
import { STUDIO_VERSION } from './version.ts';

export const STORY_HELP = `Usage: studio story STORY.json --out DIR [options]

Makes a set of images in which the same subjects keep their look (IR-Diffusion: Isolation and
Reposition Attention). STORY.json lists the subjects and the scenes:

  {
    "seed": 7, "steps": 30, "cfg": 7, "sampler": "dpmpp_2m", "width": 512, "height": 512,
    "subjects": [
      { "name": "cat", "words": "cat face", "description": "a cat face" },
      { "name": "pizza", "words": "slice of pizza", "image": "my-pizza.png", "box": [0.1, 0.1, 0.9, 0.9] }
    ],
    "scenes": [
      { "prompt": "a cat face and a slice of pizza",
        "boxes": { "cat": [0.02, 0.2, 0.48, 0.8], "pizza": [0.52, 0.2, 0.98, 0.8] } },
      { "prompt": "a slice of pizza and a cat face" }
    ]
  }

  words        how prompts name the subject (default: its name); every scene subject's words must
               occur in the scene prompt
  description  prompt of the subject's reference image (default: its words)
  image, box   use your own reference image (paths are relative to STORY.json); box: where the
               subject is in it (default: found from the model's attention)
  boxes        [left, top, right, bottom] as fractions of the image; two boxes may share at most 25%
               of the smaller one. Subjects without a box get one proposed from the model's
               attention in a plain run of the scene with the same seed.
  ir           { "dropout": 0.5, "crossAttentionLambda": 0.9, "startStep": 0, "mutualFrom": N,
                 "isolation": true, "reposition": true, "mutualCrossAttention": true }

Writes DIR/reference-N-NAME.png, DIR/scene-NN.png (DIR/scene-NN-plain.png with --plain) and
DIR/story.json, the story with every seed and box filled in (run it again for the same set).

Options:
  -o, --out DIR          Output folder (required; files already there are never replaced)
  --model PATH           Stable Diffusion 1.x/2.x/XL checkpoint or diffusers folder, or emoji-dit
                         (default: the story's "model", relative to STORY.json; without one, the
                         embedded emoji-dit: 64×64, rectified-flow Euler whatever "sampler" says)
  --models-dir DIR       Folder searched for model names
  --seed N               Override the story's seed
  --steps N              Override the story's steps
  --plain                Also write each scene without IR (same seed), for comparison
  --ep NAME              Execution provider: ${EXECUTION_PROVIDERS.join(', ')} (default: cpu)
  --json                 Print a JSON report instead of the file list
  -h, --help             Show this help
`;

const OPTIONS = {
  ...OUT_OPTION,
  ...MODEL_OPTIONS,
  ...stringOptions('seed', 'steps', 'ep'),
  plain: { type: 'boolean' },
  ...JSON_OPTION,
  ...HELP_OPTION,
} as const;

function integer(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new UsageError(`${flag} must be a whole number ≥ 0, got "${value}"`);
  return Number(value);
}

/** The story file, its shape checked and its paths made absolute (the engine checks the rest against the model). */
function readStory(path: string, overrides: { seed?: number; steps?: number }): StoryRequest {
  if (!existsSync(path) || !statSync(path).isFile()) throw new UsageError(`${path}: no such story file`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`${path} is not valid JSON: ${(e as Error).message}`);
  }
  const parsed = StoryRequestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`${path}: ${issue.path.length ? issue.path.join('.') : 'top level'}: ${issue.message}`);
  }
  const story = parsed.data;
  const here = (p: string) => (isAbsolute(p) ? p : resolve(dirname(path), p));
  return {
    ...story,
    ...(overrides.seed !== undefined ? { seed: overrides.seed } : {}),
    ...(overrides.steps !== undefined ? { steps: overrides.steps } : {}),
    // A model path is relative to the story file; a built-in model's name is kept.
    ...(story.model ? { model: existsSync(here(story.model)) ? here(story.model) : story.model } : {}),
    subjects: story.subjects.map((s) => {
      if (s.image && !existsSync(here(s.image))) throw new UsageError(`${path}: the image of subject "${s.name}", ${here(s.image)}, does not exist`);
      return s.image ? { ...s, image: here(s.image) } : s;
    }),
  };
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'subject';

function fileName(image: StoryImageOut, story: StoryRequest): string {
  const nn = String(image.index + 1).padStart(2, '0');
  if (image.kind === 'reference') return `reference-${image.index + 1}-${slug(story.subjects[image.index].name)}.png`;
  return image.kind === 'scene' ? `scene-${nn}.png` : `scene-${nn}-plain.png`;
}

/** The files a story will write, refused up front when any exists. */
function checkFree(dir: string, story: StoryRequest, plain: boolean): void {
  const names = ['story.json', ...story.subjects.map((s, i) => `reference-${i + 1}-${slug(s.name)}.png`), ...story.scenes.flatMap((_, k) => {
    const nn = String(k + 1).padStart(2, '0');
    return plain ? [`scene-${nn}.png`, `scene-${nn}-plain.png`] : [`scene-${nn}.png`];
  })];
  const taken = names.filter((n) => existsSync(join(dir, n)));
  if (taken.length) throw new UsageError(`--out ${dir} already holds ${taken.join(', ')}; choose another folder or remove them`);
}

export async function storyCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, OPTIONS, { positionals: true });
  if (values.help) {
    process.stdout.write(STORY_HELP);
    return EXIT_OK;
  }
  if (positionals.length !== 1) throw new UsageError(`give exactly one story file, got ${positionals.length}`);
  if (!values.out) throw new UsageError('--out DIR is required');
  const ep = (values.ep ?? 'cpu') as ExecutionProvider;
  if (!(EXECUTION_PROVIDERS as readonly string[]).includes(ep)) throw new UsageError(`--ep must be one of ${EXECUTION_PROVIDERS.join(', ')}`);
  const started = performance.now();
  const source = resolve(positionals[0]);
  const story = readStory(source, { seed: integer('--seed', values.seed), steps: integer('--steps', values.steps) });
  const dir = resolve(values.out);
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`--out ${values.out} is a file; give a folder`);
  checkFree(dir, story, values.plain === true);
  await mkdir(dir, { recursive: true });

  const controller = new AbortController();
  const onSignal = () => controller.abort(new CancelledError());
  process.once('SIGINT', onSignal);
  const bar = ProgressBar.forStderr();
  try {
    const job = { kind: 'story', story, model: values.model, modelsDir: values['models-dir'], plain: values.plain === true, ep, source, studioVersion: STUDIO_VERSION } as const;
    const result = await withEngine((engine) => engine.submit(job, { signal: controller.signal, progress: (p) => bar?.update(p) })).catch((e) => {
      if (controller.signal.aborted) throw new CancelledError();
      throw e instanceof BadRequestError ? new UsageError(e.message) : e;
    });
    bar?.done();
    for (const note of result.notes) process.stderr.write(`note: ${note}\n`);
    const files: string[] = [];
    for (const image of result.images) files.push(await writeOnce(join(dir, fileName(image, result.story)), await encodePng(image, image.chunks)));
    files.push(await writeOnce(join(dir, 'story.json'), new TextEncoder().encode(`${JSON.stringify({ ...result.story, model: result.model }, null, 2)}\n`)));
    const report = { files, seed: result.seed, timings: { ...result.timings, total: performance.now() - started }, ep: result.ep };
    process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : files.map((f) => `${f}\n`).join(''));
    return EXIT_OK;
  } finally {
    bar?.done();
    process.off('SIGINT', onSignal);
  }
}

async function writeOnce(path: string, data: Uint8Array): Promise<string> {
  if (!(await writeNewFileAtomic(path, data))) throw new Error(`${path} appeared while the story ran; not overwriting it`);
  return path;
}
