// `studio upscale IMAGE --upscaler FILE [--scale N] [--tile PX]`: the upscale job on one image, written
// as a PNG with A1111's extras line (Postprocess upscale by / upscaler) as its parameters chunk.
import { existsSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BadRequestError, DEFAULT_UPSCALE_OVERLAP, DEFAULT_UPSCALE_TILE, UpscaleJobSchema, type JobInputOf } from '../../pipelines/jobs/api.ts';
import { encodePng } from '../../pipelines/metadata/encode-png.ts';
import { writeNewFileAtomic } from '../../pipelines/queue/atomic-write.ts';
import { cancelOnSignals } from './cancel-on-signals.ts';
import { withEngine } from './engine.ts';
import { CancelledError, EXIT_OK, UsageError } from './exit-codes.ts';
import { ProgressBar } from './progress-bar.ts';

export const UPSCALE_HELP = `studio upscale IMAGE --upscaler FILE [options]
studio upscale IMAGE --model SDXL (--scale N | --hires WxH) [--prompt TEXT] [generate options]

Enlarges an image with a super-resolution model you have: ESRGAN / Real-ESRGAN (RRDBNet, ×1/×2/×4/×8),
Real-ESRGAN compact (SRVGG) or SwinIR (classic and real-world SR), as .pth or .safetensors. The
architecture and its scale are read from the file. It runs in tiles with context around each, so large images fit in memory without seams.

  --upscaler FILE   The upscaler model (required)
  --scale N         Output size over input size (default: the model's own; others resize its output, Lanczos)
  --tile PX         Tile side in input pixels (default ${DEFAULT_UPSCALE_TILE}; 0 = the whole image at once)
  --overlap PX      Context around each tile (default ${DEFAULT_UPSCALE_OVERLAP})
  --ep NAME         Execution provider (cpu, cuda, dml, coreml, webgpu; default cpu)
  --out FILE        Where to write (default: IMAGE's folder, <name>-x<N>.png; never overwrites)
  --json            Print a JSON report

With --model (an SDXL checkpoint) instead of --upscaler it runs LinFusion's SDXL SuperRes: the image
resized to the output size and redrawn by dual-branch denoising (a plain and a dilated-convolution UNet
pass per step), guided by --prompt. A power-of-two scale of 4 or more runs x2 steps one after another at
falling strengths (LinFusion's low-memory notebook: 0.32, 0.24, 0.16, 0.08). It takes studio generate's
options (--steps, --cfg, --seed, --upscale-strength, --hires-strengths, --gaussian-sigma, --out, …) and
writes the PNG as generate does, every stage in its metadata. Output sides must be multiples of 64.
`;

const OPTIONS = {
  upscaler: { type: 'string' },
  scale: { type: 'string' },
  tile: { type: 'string' },
  overlap: { type: 'string' },
  ep: { type: 'string' },
  out: { type: 'string', short: 'o' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const FLAGS: Record<string, string> = { image: 'IMAGE', 'upscaler.file': '--upscaler', scale: '--scale', tile: '--tile', overlap: '--overlap', ep: '--ep' };

function number(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${flag}: expected a number, got ${JSON.stringify(text)}`);
  return n;
}

export async function upscaleCommand(argv: string[]): Promise<number> {
  if (argv.some((a) => a === '--model' || a.startsWith('--model='))) return (await import('./superres-command.ts')).superresCommand(argv);
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(UPSCALE_HELP);
    return EXIT_OK;
  }
  if (positionals.length !== 1) throw new UsageError(`give exactly one image, got ${positionals.length}`);
  if (values.upscaler === undefined) throw new UsageError('--upscaler FILE is required (an ESRGAN / Real-ESRGAN / SwinIR .pth or .safetensors)');
  const image = resolve(positionals[0]);
  for (const [flag, path] of [['IMAGE', image], ['--upscaler', values.upscaler]] as const) if (!existsSync(path)) throw new UsageError(`${flag}: no file at ${path}`);
  const input: JobInputOf<'upscale'> = {
    kind: 'upscale',
    image,
    upscaler: { kind: 'model', file: resolve(values.upscaler) },
    scale: number('scale', values.scale),
    tile: number('tile', values.tile),
    overlap: number('overlap', values.overlap),
    ep: values.ep as JobInputOf<'upscale'>['ep'],
  };
  const job = UpscaleJobSchema.safeParse(input);
  if (!job.success) throw new UsageError(job.error.issues.map((i) => `${FLAGS[i.path.join('.')] ?? i.path.join('.')}: ${i.message}`).join('\n'));

  const controller = new AbortController();
  const stopListening = cancelOnSignals(controller);
  const bar = ProgressBar.forStderr();
  try {
    const result = await withEngine((engine) => engine.submit(input, { signal: controller.signal, progress: (p) => bar?.update(p) })).catch((e) => {
      if (controller.signal.aborted) throw new CancelledError();
      throw e instanceof BadRequestError ? new UsageError(e.message) : e;
    });
    bar?.done();
    for (const note of result.notes ?? []) process.stderr.write(`note: ${note}\n`);
    const out = values.out ?? join(dirname(image), `${basename(image, extname(image))}-x${result.scale}.png`);
    const parameters = `Postprocess upscale by: ${result.scale}, Postprocess upscaler: ${result.upscaler.name}`;
    const png = await encodePng(result.image, [['parameters', parameters]]);
    if (!(await writeNewFileAtomic(out, png))) throw new UsageError(`--out ${out} already exists; choose another name`);
    const report = { file: out, width: result.image.width, height: result.image.height, scale: result.scale, upscaler: result.upscaler, tiles: result.tiles, ep: result.ep };
    process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : `${out}\n`);
    return EXIT_OK;
  } finally {
    bar?.done();
    stopListening();
  }
}
