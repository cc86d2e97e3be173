// The studio behind the API: one instance per app (desktop window or `studio serve`). It owns the
// engine host (a separate process: the UI's process never blocks on ORT), the queue, the outputs
// folder and the models folder, and tells listeners what changed through typed events.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { modelLabel, recordedFiles } from '../../pipelines/metadata/generation-metadata.ts';
import { sha256File } from '../../pipelines/metadata/model-hash.ts';
import type { GenerateRequest, GenerateResult, JobProgress, Rgb8 } from '../../pipelines/jobs/api.ts';
import type { EventName, EventOf, HeadWeight, ParsedParamsOf, Preview, ResultOf } from '../../pipelines/jobs/api-studio.ts';
import { workerHost } from '../../pipelines/host/launchers.ts';
import { EngineJobs, HostCrashedError, JobCancelledError, type HostLauncher } from '../../pipelines/jobs/client.ts';
import { BadRequestError, type StudioApi } from './dispatch.ts';
import { Gallery } from './gallery.ts';
import { PathPolicy } from './confine.ts';
import { withPaintedMask } from './painted-mask.ts';
import { storeUploadedImage } from './uploaded-image.ts';
import { encodePng } from '../../pipelines/metadata/encode-png.ts';
import { Inspector } from './inspector.ts';
import type { AppJobRun as JobRun } from '../../pipelines/queue/index.ts';
import { PersistentJobQueue } from '../../pipelines/queue/index.ts';
import { HeadPresets } from '../../pipelines/jobs/head-presets.ts';
import { HeadTools } from './head-tools.ts';
import { RedisQueueWatch, type RedisQueueTarget } from './redis-queue-view.ts';
import { isStoryPayload, runStoryJob, storyJobSpec, type StoryPayload } from './studio-story.ts';

export interface StudioOptions {
  modelsDir: string;
  outputsDir: string;
  version: string;
  shell: 'browser' | 'electron';
  /** How the engine host is started (child process by default; Electron passes its utilityProcess launcher). */
  engineHost?: HostLauncher;
  /** How the host of quick jobs (model catalogue, head lists) is started (default: a worker thread). */
  catalogHost?: HostLauncher;
  /** The engine's job module as the host imports it (default: pipelines/jobs/run.ts; Electron passes its bundle). */
  runModule?: string | URL;
  /** The user's head presets (default: `<modelsDir>/presets/heads`, where `studio generate --heads NAME` looks). */
  presetsDir?: string;
  /** A Redis-backed queue of `studio worker` processes to show (`studio serve --redis URL`). */
  redis?: RedisQueueTarget;
}

export type StudioListener = <E extends EventName>(event: E, data: EventOf<E>) => void;

interface GeneratePayload {
  request: GenerateRequest;
}

export class Studio implements StudioApi {
  private readonly engine: EngineJobs;
  /** Quick jobs (the model catalogue, head lists) in their own host, so they never wait behind a generation. */
  private readonly catalog: EngineJobs;
  private readonly outputs: Gallery;
  private readonly jobs: PersistentJobQueue<GeneratePayload | StoryPayload>;
  private readonly heads: HeadTools;
  private readonly presets: HeadPresets;
  private readonly listeners = new Set<StudioListener>();
  private readonly hashes = new Map<string, Promise<string>>();
  private providers?: ResultOf<'listProviders'>;
  /** Reads gallery PNGs and dropped files off the main thread, within budgets. */
  private readonly inspector = new Inspector();
  private readonly paths: PathPolicy;
  private readonly redisQueueWatch: RedisQueueWatch;

  constructor(private readonly o: StudioOptions) {
    this.paths = new PathPolicy(o.modelsDir, o.outputsDir);
    this.outputs = new Gallery(o.outputsDir, (path, name) => this.inspector.run({ kind: 'galleryMetadata', path, name }));
    this.redisQueueWatch = new RedisQueueWatch(o.redis);
    this.engine = new EngineJobs({
      host: o.engineHost,
      runModule: o.runModule,
      onEvent: (e) =>
        e.type === 'ready'
          ? this.emit('engine', { state: 'ready', message: `engine host ready (pid ${e.pid})` })
          : this.emit('engine', { state: 'restarting', message: `the engine host ${e.how}${e.lostJob ? ` during ${e.lostJob}` : ''}; restarting it` }),
    });
    this.catalog = new EngineJobs({ host: o.catalogHost ?? workerHost(), runModule: o.runModule });
    this.heads = new HeadTools(this.engine, o.modelsDir, (event, data) => this.emit(event, data));
    this.presets = new HeadPresets(o.presetsDir ?? join(o.modelsDir, 'presets', 'heads'), o.modelsDir, this.catalog);
    this.jobs = new PersistentJobQueue<GeneratePayload | StoryPayload>(
      o.outputsDir,
      (payload, run, id) => (isStoryPayload(payload) ? this.runStory(payload, run, id) : this.runGenerate(payload, run, id)),
      (state) => this.emit('queue', state),
      (e) => e instanceof JobCancelledError,
    );
  }

  /** Subscribes to every event; returns the unsubscribe function. */
  on(listener: StudioListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    await this.jobs.close(); // queued jobs stay in the journal and run at the next start
    await Promise.all([this.engine.close(), this.catalog.close(), this.inspector.close()]);
    this.redisQueueWatch.close();
  }

  // ---- API ----

  async info(): Promise<ResultOf<'info'>> {
    return { version: this.o.version, modelsDir: this.o.modelsDir, outputsDir: this.o.outputsDir, shell: this.o.shell };
  }

  redisQueue(): Promise<ResultOf<'redisQueue'>> {
    return this.redisQueueWatch.view();
  }

  async listModels(): Promise<ResultOf<'listModels'>> {
    // Hashed through the hash cache: the first listing of a large folder reads every file once.
    const { models, embedded, defaultModel, library } = await this.catalog.submit({ kind: 'models.scan', dir: this.o.modelsDir, library: true, hashes: true });
    return { modelsDir: this.o.modelsDir, models, embedded, defaultModel, library: library?.entries ?? [] };
  }

  async listHeads({ model }: ParsedParamsOf<'listHeads'>): Promise<ResultOf<'listHeads'>> {
    const { layers, message } = await this.catalog.submit({ kind: 'heads.list', model: this.paths.model(model), modelsDir: this.o.modelsDir });
    return { layers, ...(message ? { message } : {}) };
  }

  async generate({ request: parsed, heads, maskPngBase64 }: ParsedParamsOf<'generate'>): Promise<ResultOf<'generate'>> {
    const confined: GenerateRequest = this.paths.request(parsed);
    const request = maskPngBase64 === undefined ? confined : withPaintedMask(confined, maskPngBase64, this.o.outputsDir);
    checkHeads(request, heads);
    // The engine's SoftPAG reads them here; recorded in the image's metadata with the rest of the request, so they can be recalled.
    if (heads.length && request.pag) request.pag = { ...request.pag, heads };
    const job = this.jobs.enqueue({
      prompt: request.prompt,
      seed: request.seed,
      batch: request.batch,
      steps: request.steps,
      heads: heads.length,
      payload: { request },
    });
    return { jobId: job.id, seed: request.seed, request };
  }

  async uploadImage({ name, dataBase64 }: ParsedParamsOf<'uploadImage'>): Promise<ResultOf<'uploadImage'>> {
    return { image: storeUploadedImage(this.o.outputsDir, name, dataBase64) };
  }

  async controlPreview({ image, preprocess }: ParsedParamsOf<'controlPreview'>): Promise<ResultOf<'controlPreview'>> {
    const file = this.paths.outputImage(image, 'image')!;
    const { image: map } = await this.catalog.submit({ kind: 'control.preview', image: file, preprocess });
    return { pngBase64: Buffer.from(await encodePng(map)).toString('base64'), width: map.width, height: map.height };
  }

  async cancel({ jobId }: ParsedParamsOf<'cancel'>): Promise<ResultOf<'cancel'>> {
    return { cancelled: this.jobs.cancel(jobId) };
  }

  async queue(): Promise<ResultOf<'queue'>> {
    return this.jobs.state();
  }

  async gallery(params: ParsedParamsOf<'gallery'>): Promise<ResultOf<'gallery'>> {
    return { images: await this.outputs.list(params?.limit ?? 200) };
  }

  async readImageMetadata({ name, dataBase64 }: ParsedParamsOf<'readImageMetadata'>): Promise<ResultOf<'readImageMetadata'>> {
    return this.inspector.run({ kind: 'droppedImage', name, bytes: Buffer.from(dataBase64, 'base64') });
  }

  async listProviders(params: ParsedParamsOf<'listProviders'>): Promise<ResultOf<'listProviders'>> {
    if (this.providers && !params?.refresh) return this.providers;
    try {
      const { reports, choice } = await this.engine.providers({ refresh: params?.refresh });
      this.providers = { reports, choice: { provider: choice.provider, computeDtype: choice.computeDtype, message: choice.message } };
    } catch (e) {
      return { reports: [], error: (e as Error).message };
    }
    return this.providers;
  }

  async moveJob({ jobId, direction }: ParsedParamsOf<'moveJob'>): Promise<ResultOf<'moveJob'>> {
    return { moved: this.jobs.move(jobId, direction) };
  }

  headEffects(params: ParsedParamsOf<'headEffects'>): Promise<ResultOf<'headEffects'>> {
    return this.heads.headEffects({ ...params, model: this.paths.model(params.model) });
  }

  headHunt(params: ParsedParamsOf<'headHunt'>): Promise<ResultOf<'headHunt'>> {
    return this.heads.headHunt({ ...params, model: this.paths.model(params.model) });
  }

  async listPresets(params: ParsedParamsOf<'listPresets'>): Promise<ResultOf<'listPresets'>> {
    return this.presets.list({ ...params, model: this.paths.model(params.model) });
  }

  async loadPresets(params: ParsedParamsOf<'loadPresets'>): Promise<ResultOf<'loadPresets'>> {
    return this.presets.load({ ...params, model: this.paths.model(params.model) });
  }

  async savePreset(params: ParsedParamsOf<'savePreset'>): Promise<ResultOf<'savePreset'>> {
    return this.presets.save({ ...params, model: this.paths.model(params.model) });
  }

  async story({ story, model, ep }: ParsedParamsOf<'story'>): Promise<ResultOf<'story'>> {
    const spec = storyJobSpec(story, this.paths.model(model), ep);
    const job = this.jobs.enqueue(spec);
    return { jobId: job.id, seed: spec.seed };
  }

  /** Where a gallery image lies on disk (for the HTTP server and Electron's protocol handler). */
  imagePath(name: string): string | undefined {
    return this.outputs.pathOf(name);
  }

  // ---- internals ----

  private emit<E extends EventName>(event: E, data: EventOf<E>): void {
    for (const l of this.listeners) l(event, data);
  }

  private async runGenerate(payload: GeneratePayload, run: JobRun, jobId: string): Promise<string[]> {
    let preview: Preview | undefined;
    const progress = ({ stageImage: _image, ...p }: JobProgress) => {
      // A ladder stage's image is not sent to the UI (it can be 8K): the stage's size and steps are.
      run.progress(p);
      this.emit('progress', { jobId, progress: p, ...(preview ? { preview } : {}) });
      preview = undefined;
    };
    let result: GenerateResult;
    try {
      result = await this.engine.submit({ kind: 'generate', request: payload.request }, { signal: run.signal, progress, preview: (image) => (preview = toPreview(image)) });
    } catch (e) {
      if (e instanceof HostCrashedError) throw new Error(`the engine stopped during this job (it ${e.how}); it has been restarted, so generate again`);
      throw e;
    }
    checkResult(result, payload.request);
    if (result.notes?.length) this.emit('notes', { jobId, notes: result.notes });
    const files = await recordedFiles(result, payload.request, (file) => this.hash(file));
    // The PNG records the settings the engine used for the fields the request left to the model.
    const request = { ...payload.request, ...result.settings };
    const names: string[] = [];
    for (const image of result.images) {
      const entry = await this.outputs.save(image, { request, ...files, ep: result.ep, studioVersion: this.o.version });
      names.push(entry.name);
      this.emit('image', entry);
    }
    return names;
  }

  private runStory(payload: StoryPayload, run: JobRun, jobId: string): Promise<string[]> {
    return runStoryJob(payload, run, {
      engine: this.engine,
      gallery: this.outputs,
      modelsDir: this.o.modelsDir,
      studioVersion: this.o.version,
      onProgress: (progress) => {
        run.progress(progress);
        this.emit('progress', { jobId, progress });
      },
      onImage: (image) => this.emit('image', image),
    });
  }

  /** SHA-256 of a model file, once per file version (A1111's `Model hash`). */
  private hash(file: string): Promise<string> {
    const s = statSync(file);
    const key = `${file}:${s.size}:${s.mtimeMs}`;
    let h = this.hashes.get(key);
    if (!h) this.hashes.set(key, (h = sha256File(file)));
    return h;
  }
}

function checkHeads(request: GenerateRequest, heads: HeadWeight[]): void {
  if (heads.length === 0) return;
  if (!request.pag || request.pag.scale === 0) {
    throw new BadRequestError('generate request: heads are selected but the PAG scale is 0; set a PAG scale above 0 or clear the head selection');
  }
  const seen = new Set<string>();
  for (const h of heads) {
    const key = `${h.layer}/${h.head}`;
    if (seen.has(key)) throw new BadRequestError(`generate request: head ${h.head} of layer ${h.layer} is listed twice`);
    seen.add(key);
  }
}

/** The engine is another component: check what it returned before writing files from it. */
function checkResult(result: GenerateResult, request: GenerateRequest): void {
  if (!Array.isArray(result?.images) || result.images.length !== request.batch) {
    throw new Error(`the engine returned ${result?.images?.length ?? 'no'} images for a batch of ${request.batch}`);
  }
  for (const [i, img] of result.images.entries()) {
    if (!(img.pixels instanceof Uint8Array) || img.pixels.length !== img.width * img.height * 3) {
      throw new Error(`engine image ${i}: expected ${img.width}x${img.height} RGB bytes, got ${img.pixels?.length ?? 'none'}`);
    }
  }
  if (typeof result.model?.name !== 'string') throw new Error('the engine did not say which model it ran');
  result.model.name ||= modelLabel(request.model ?? 'default');
}

function toPreview(p: Rgb8): Preview {
  return { width: p.width, height: p.height, rgbBase64: Buffer.from(p.pixels.buffer, p.pixels.byteOffset, p.pixels.byteLength).toString('base64') };
}
