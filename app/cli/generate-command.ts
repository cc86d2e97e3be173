// `studio generate`: validate the options, run the engine with progress and Ctrl-C cancellation,
// write each image atomically with its metadata, report the files.
import { statSync } from 'node:fs';
import { metadataChunks, recordedFiles, type GenerationRecord } from '../../pipelines/metadata/generation-metadata.ts';
import { encodePng } from '../../pipelines/metadata/encode-png.ts';
import { sha256File } from '../../pipelines/metadata/model-hash.ts';
import type { GenerateRequest, GenerateResult } from '../../pipelines/jobs/api.ts';
import { cancelOnSignals } from './cancel-on-signals.ts';
import { withEngine } from './engine.ts';
import { CancelledError, EXIT_OK } from './exit-codes.ts';
import { parseGenerateArgs } from './generate-args.ts';
import { GENERATE_HELP } from './help.ts';
import { OutputTarget } from './output-target.ts';
import { ProgressBar } from './progress-bar.ts';
import { STUDIO_VERSION } from './version.ts';

export interface GenerateReport {
  files: string[];
  seeds: number[];
  /** Milliseconds by phase: the engine's own, plus hash, write and total. */
  timings: Record<string, number>;
  ep: string;
}


/** The engine is another team's code: check what it returned before writing files from it. */
function checkResult(result: GenerateResult, request: GenerateRequest): void {
  if (!Array.isArray(result?.images) || result.images.length !== request.batch) {
    throw new Error(`engine returned ${result?.images?.length ?? 'no'} images for a batch of ${request.batch}`);
  }
  for (const [i, img] of result.images.entries()) {
    if (!(img.pixels instanceof Uint8Array) || img.pixels.length !== img.width * img.height * 3) {
      throw new Error(`engine image ${i}: expected ${img.width}x${img.height} RGB bytes, got ${img.pixels?.length ?? 'none'}`);
    }
  }
}

/** SHA-256 of a model file (undefined for a folder), the hashing shown on the bar in MiB. */
async function hashIfFile(path: string | undefined, bar: ProgressBar | undefined): Promise<string | undefined> {
  const stat = path === undefined ? undefined : statSync(path, { throwIfNoEntry: false });
  if (path === undefined || !stat?.isFile()) return undefined;
  const MiB = 1024 * 1024;
  const total = Math.max(1, Math.round(stat.size / MiB));
  const sha256 = await sha256File(path, (read) => bar?.update({ phase: 'hash', step: Math.round(read / MiB), total }));
  bar?.done();
  return sha256;
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

export async function generateCommand(argv: string[]): Promise<number> {
  const args = await parseGenerateArgs(argv);
  if (args.help) {
    process.stdout.write(GENERATE_HELP);
    return EXIT_OK;
  }
  const { request } = args;
  for (const note of args.notes ?? []) process.stderr.write(`note: ${note}\n`);
  const started = performance.now();
  const target = await OutputTarget.prepare(args.out, request.batch);

  const controller = new AbortController();
  const { signal } = controller;
  const stopListening = cancelOnSignals(controller);
  const bar = ProgressBar.forStderr();
  try {
    let result: GenerateResult;
    try {
      result = await withEngine((engine) => engine.submit({ kind: 'generate', request }, { signal, progress: (p) => bar?.update(p) }));
    } catch (e) {
      throw signal.aborted ? new CancelledError() : e;
    } finally {
      bar?.done();
    }
    if (signal.aborted) throw new CancelledError();
    checkResult(result, request);
    for (const note of result.notes ?? []) process.stderr.write(`note: ${note}\n`);

    const hashStart = performance.now();
    const recorded = await recordedFiles(result, request, (path) => hashIfFile(path, bar));
    const hashMs = performance.now() - hashStart;

    const writeStart = performance.now();
    const files: string[] = [];
    for (const image of result.images) {
      if (signal.aborted) {
        const kept = files.length ? `; kept the ${files.length} finished: ${files.join(', ')}` : '';
        throw new CancelledError(`cancelled before writing all images${kept}`);
      }
      const record: GenerationRecord = {
        // The studio chunk records what ran, so a re-run does not depend on model defaults.
        request: { ...request, ...result.settings },
        image: { batchIndex: image.batchIndex, seed: image.seed, width: image.width, height: image.height },
        ...recorded,
        ep: result.ep,
        studioVersion: STUDIO_VERSION,
      };
      const png = await encodePng(image, metadataChunks(record));
      files.push(await target.write(png, image.seed));
    }
    const report: GenerateReport = {
      files,
      seeds: result.images.map((img) => img.seed),
      timings: Object.fromEntries(
        Object.entries({ ...result.timings, hash: hashMs, write: performance.now() - writeStart, total: performance.now() - started }).map(
          ([k, v]) => [k, round(v)],
        ),
      ),
      ep: result.ep,
    };
    process.stdout.write(args.json ? `${JSON.stringify(report)}\n` : files.map((f) => `${f}\n`).join(''));
    return EXIT_OK;
  } finally {
    stopListening();
  }
}
