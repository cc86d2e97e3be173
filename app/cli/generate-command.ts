// `studio generate`: validate the options, run the engine with progress and Ctrl-C cancellation,
// write each image atomically with its metadata, report the files.
import { statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { metadataChunks, modelLabel, recordedFiles, type GenerationRecord } from '../../pipelines/metadata/generation-metadata.ts';
import { encodePng } from '../../pipelines/metadata/encode-png.ts';
import { sha256File } from '../../pipelines/metadata/model-hash.ts';
import type { GenerateRequest, GenerateResult, JobProgress } from '../../pipelines/jobs/api.ts';
import { cancelOnSignals } from './cancel-on-signals.ts';
import { withEngine } from './engine.ts';
import { CancelledError, EXIT_OK } from './exit-codes.ts';
import { parseGenerateArgs } from './generate-args.ts';
import { generateHelp, registeredFamilies } from './help.ts';
import { OutputTarget } from './output-target.ts';
import { PreviewWriter } from './preview-writer.ts';
import { progressOnStderr, type ProgressReport } from './progress-report.ts';
import { STUDIO_VERSION } from './version.ts';

export interface GenerateReport {
  files: string[];
  /** A ladder's stage images, with --keep-stages. */
  stageFiles?: string[];
  /** The step previews written under --previews DIR. */
  previews?: string[];
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
async function hashIfFile(path: string | undefined, bar: ProgressReport | undefined): Promise<string | undefined> {
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
    process.stdout.write(generateHelp(await registeredFamilies()));
    return EXIT_OK;
  }
  const { request } = args;
  for (const note of args.notes ?? []) process.stderr.write(`note: ${note}\n`);
  const started = performance.now();
  const target = await OutputTarget.prepare(args.out, request.batch);

  const controller = new AbortController();
  const { signal } = controller;
  const stopListening = cancelOnSignals(controller);
  const bar = progressOnStderr(args.progress);
  // A ladder's finished stages go to disk as they come, so a later stage that fails leaves them.
  const stageFiles: Promise<string>[] = [];
  const keepStage = (p: JobProgress) => {
    if (!p.stageImage || !p.stage) return;
    const { batchIndex, ...image } = p.stageImage;
    const record: GenerationRecord = {
      request, image: { batchIndex, seed: request.seed, width: image.width, height: image.height }, model: { name: modelLabel(request.model ?? 'default') },
      ep: request.ep, studioVersion: STUDIO_VERSION,
    };
    stageFiles.push(encodePng(image, metadataChunks(record)).then((png) => target.writeStage(png, request.seed, batchIndex, p.stage!)));
  };
  const previews = args.previews.dir === undefined ? undefined : new PreviewWriter(args.previews.dir);
  try {
    let result: GenerateResult;
    try {
      result = await withEngine((engine) =>
        engine.submit(
          { kind: 'generate', request, previews: args.previews.options },
          {
            signal,
            preview: (image) => previews?.preview(image),
            progress: (p) => {
              keepStage(p);
              previews?.progress(p);
              bar?.update(p);
            },
          },
        ),
      );
    } catch (e) {
      const kept = (await Promise.allSettled(stageFiles)).flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const note = kept.length ? `; the finished ladder stages were kept: ${kept.join(', ')}` : '';
      if (signal.aborted) throw new CancelledError(`cancelled${note}`);
      if (note && e instanceof Error) e.message += note;
      throw e;
    } finally {
      bar?.done();
    }
    const stagesWritten = await Promise.all(stageFiles);
    if (!request.hires?.keepStages) await Promise.all(stagesWritten.map((f) => rm(f, { force: true })));
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
        ...(result.stages ? { stages: result.stages } : {}),
        image: { batchIndex: image.batchIndex, seed: image.seed, width: image.width, height: image.height },
        ...recorded,
        ep: result.ep,
        studioVersion: STUDIO_VERSION,
      };
      const png = await encodePng(image, metadataChunks(record));
      try {
        files.push(await target.write(png, image.seed));
      } catch (e) {
        if (files.length) (e as Error).message += `; kept the ${files.length} finished: ${files.join(', ')}`;
        throw e;
      }
    }
    const report: GenerateReport = {
      files,
      ...(request.hires?.keepStages ? { stageFiles: stagesWritten } : {}),
      ...(previews ? { previews: await previews.finished() } : {}),
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
