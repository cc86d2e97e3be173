// `studio models [--dir DIR] [--json] [--no-hashes] [--hash-cache FILE]`: the model library of an A1111
// or ComfyUI models folder, through the engine's models.scan job (the studio lists it the same way).
import { parseArgs } from 'node:util';
import type { LibraryEntry } from '../../pipelines/jobs/api.ts';
import { withEngine } from './engine.ts';
import { EXIT_OK, UsageError } from './exit-codes.ts';
import { ProgressBar } from './progress-bar.ts';

export const MODELS_HELP = `Usage: studio models [--dir DIR] [options]

Lists the checkpoints, LoRAs, embeddings, VAEs, ControlNets, IP-Adapters, CLIP image encoders and
upscalers in a models folder laid out as A1111's (models/Stable-diffusion, models/Lora, embeddings,
models/VAE, models/ControlNet, models/ESRGAN) or ComfyUI's (models/checkpoints, models/loras,
models/embeddings, models/vae, models/controlnet, models/ipadapter, models/clip_vision,
models/upscale_models), or model files straight in DIR. Per file: its kind, the
model family it was made for (where its tensors tell), its size and A1111's short hash (the first 10
hex digits of its SHA-256, "AutoV2"). Diffusers folders (model_index.json, or a ControlNet / VAE
config.json) are listed as one model each, ending in "/"; A1111 has no hash for folders, so theirs is
the SHA-256 of the lines "<path in folder><TAB><SHA-256 of the file>" over the folder's weights,
configs and tokenizer files (sorted), which does not depend on the folder's name, place or dates. Hashes are kept in a cache keyed by path, size and modification
time, so a second listing reads only new or changed files.

Options:
  --dir DIR            The A1111 / ComfyUI folder or its models/ folder (default ./models)
  --json               One JSON object: { dir, entries: [...], hashing }
  --no-hashes          Do not hash (no file is read beyond its header)
  --hash-cache FILE    Where hashes are cached (default: the user's cache folder)
  -h, --help           Show this help
`;

const OPTIONS = {
  dir: { type: 'string' },
  json: { type: 'boolean' },
  'no-hashes': { type: 'boolean' },
  'hash-cache': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function size(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/** Columns padded to their widest cell; problems follow on their own line. */
export function formatLibrary(entries: readonly LibraryEntry[]): string {
  if (!entries.length) return 'no model files found\n';
  const rows = entries.map((e) => [e.kind, e.family ?? '-', size(e.sizeBytes), e.shortHash ?? '-', e.folder ? `${e.relativePath}/` : e.relativePath]);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length), ['kind', 'family', 'size', 'hash', 'file'][c].length));
  const line = (cells: string[]) => `${cells.map((cell, c) => (c === cells.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ')}\n`;
  return (
    line(['kind', 'family', 'size', 'hash', 'file']) +
    entries.map((e, i) => line(rows[i]) + (e.problem ? `  ! ${e.problem}\n` : '')).join('')
  );
}

export async function modelsCommand(argv: string[]): Promise<number> {
  let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; strict: true }>>['values'];
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(MODELS_HELP);
    return EXIT_OK;
  }
  const dir = values.dir ?? 'models';
  const hashes = !values['no-hashes'];
  const bar = values.json ? undefined : ProgressBar.forStderr();
  const catalog = await withEngine((engine) =>
    engine.submit(
      { kind: 'models.scan', dir, library: true, hashes, ...(values['hash-cache'] ? { hashCache: values['hash-cache'] } : {}) },
      { progress: (p) => bar?.update(p) },
    ),
  );
  bar?.done();
  const library = catalog.library!;
  if (values.json) {
    process.stdout.write(`${JSON.stringify(library)}\n`);
    return EXIT_OK;
  }
  process.stdout.write(formatLibrary(library.entries));
  const h = library.hashing;
  if (h) process.stdout.write(`${library.entries.length} files; hashed ${h.read}, ${h.cached} from the cache (${h.cacheFile})\n`);
  if (h?.problem) process.stderr.write(`note: ${h.problem}\n`);
  return EXIT_OK;
}
