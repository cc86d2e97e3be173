// The UI's state and the actions the panels trigger. Everything the studio reports arrives as events
// (queue, progress, new images, engine restarts) and lands here; components read it and call actions.
import type { EmbeddedModel, EventOf, GalleryImage, JobView, ModelEntry, Preview, ResultOf } from '../../pipelines/jobs/api-studio.ts';
import { MAX_DROPPED_FILE_BYTES } from '../../pipelines/jobs/api-limits.ts';
import type { LibraryEntry } from '../../pipelines/jobs/api-library.ts';
import { ApiClient } from './api-client.ts';
import { FreshNotes } from './fresh-notes.ts';
import { GenerateForm } from './form.svelte.ts';
import { InpaintState } from './inpaint.svelte.ts';
import { ControlNetState } from './controlnet.svelte.ts';
import { IpAdapterState, whyNoImagePrompt } from './ip-adapter.svelte.ts';
import { HeadSelection } from './heads.svelte.ts';
import { StageTimeline } from './hires.svelte.ts';
import { modelDefaults } from './model-defaults.ts';
import { fileToBase64 } from './preview.ts';
import { exactRequest, recall, recalledHeads, SOURCE_LABELS, type RecallSource } from './recall.ts';
import { afterGenerate, generateParams } from './request.ts';
import type { ConnectionState } from './transport.ts';

export interface Notice {
  id: number;
  kind: 'info' | 'error';
  text: string;
}

/** How long an info notice stays on screen. */
const INFO_NOTICE_MS = 6000;

export class StudioState {
  /** The form shows the chosen model's own settings until the user edits them. */
  readonly form = new GenerateForm((model) => modelDefaults(model, this));
  /** The mask editor over a gallery image (inpainting, outpainting). */
  readonly inpaint = new InpaintState();
  readonly heads = new HeadSelection();
  readonly #notes = new FreshNotes();
  /** The hi-res ladder's stages of the running or last ladder job. */
  readonly timeline = new StageTimeline();
  info = $state<ResultOf<'info'> | undefined>(undefined);
  models = $state.raw<ModelEntry[]>([]);
  /** Every file of the models folder with its hash (images find their model, LoRAs and embeddings here). */
  library = $state.raw<LibraryEntry[]>([]);
  /** Models shipped inside the studio, with the settings they draw with. */
  embedded = $state.raw<EmbeddedModel[]>([]);
  /** The shipped model used when none is chosen. */
  defaultModel = $state<string | undefined>(undefined);
  /** Progress of the head tools' previews (effect maps, HeadHunter rounds). */
  task = $state.raw<EventOf<'task'> | undefined>(undefined);
  queue = $state.raw<JobView[]>([]);
  gallery = $state.raw<GalleryImage[]>([]);
  selectedImage = $state<string | undefined>(undefined);
  preview = $state.raw<{ jobId: string; preview: Preview } | undefined>(undefined);
  connection = $state<ConnectionState>('connecting');
  engine = $state.raw<EventOf<'engine'> | undefined>(undefined);
  notices = $state<Notice[]>([]);
  private nextNotice = 1;

  running = $derived(this.queue.find((j) => j.status === 'running'));
  selected = $derived(this.gallery.find((g) => g.name === this.selectedImage));

  /** The ControlNet units sent with the next generation. */
  readonly controlNets: ControlNetState;
  /** The image prompt (IP-Adapter) sent with the next generation, when the chosen model takes one. */
  readonly ipAdapter: IpAdapterState;
  /** Why the chosen model takes no image prompt; undefined when it does (or the engine will decide). */
  ipAdapterUnsupported = $derived(whyNoImagePrompt(this.form.model, this));

  constructor(readonly api: ApiClient) {
    this.controlNets = new ControlNetState(api);
    this.ipAdapter = new IpAdapterState(api);
  }

  start(): void {
    this.api.transport.onConnection((state) => {
      this.connection = state;
      if (state === 'open') void this.reload();
    });
    this.api.on('queue', (q) => {
      this.queue = q.jobs;
      for (const job of q.jobs) if (job.status !== 'queued' && job.status !== 'running') this.timeline.finish(job.id);
    });
    this.api.on('progress', (p) => {
      if (p.preview) this.preview = { jobId: p.jobId, preview: p.preview };
      this.timeline.update(p.jobId, p.progress);
    });
    this.api.on('image', (image) => {
      this.gallery = [image, ...this.gallery.filter((g) => g.name !== image.name)];
    });
    // One notice per job: e.g. which words the built-in model did not know and what it drew instead. A note said
    // before (the provider --ep auto took, the same unknown word) is not repeated for every job.
    this.api.on('notes', (n) => {
      const fresh = this.#notes.take(n.notes);
      if (fresh.length) this.notify('info', `${n.jobId}: ${fresh.map((note) => `${note[0].toUpperCase()}${note.slice(1)}.`).join(' ')}`);
    });
    this.api.on('task', (t) => (this.task = t));
    this.api.on('engine', (e) => {
      this.engine = e;
      if (e.state !== 'ready') this.notify('error', e.message);
    });
  }

  async reload(): Promise<void> {
    await this.attempt(async () => {
      const [info, models, queue, gallery] = await Promise.all([
        this.api.call('info', {}),
        this.api.call('listModels', {}),
        this.api.call('queue', {}),
        this.api.call('gallery', {}),
      ]);
      this.info = info;
      this.models = models.models;
      this.embedded = models.embedded ?? [];
      this.library = models.library ?? [];
      this.defaultModel = models.defaultModel;
      this.queue = queue.jobs;
      this.gallery = gallery.images;
    });
    await this.loadHeads();
  }

  async loadHeads(): Promise<void> {
    this.heads.loading = true;
    await this.attempt(async () => {
      const list = await this.api.call('listHeads', { model: this.form.model || undefined });
      this.heads.setLayers(list.layers, list.message);
    });
    this.heads.loading = false;
  }

  async generate(): Promise<void> {
    if (!this.form.prompt.trim()) return this.notify('error', 'Write a prompt first.');
    const incomplete = this.controlNets.incomplete();
    if (incomplete.length) return this.notify('error', `${incomplete.join('; ')}: choose it, or remove the unit.`);
    const imagePrompt = this.ipAdapterUnsupported ? undefined : this.ipAdapter;
    const missing = imagePrompt?.incomplete();
    if (missing) return this.notify('error', `${missing}: choose it, or turn the image prompt off.`);
    await this.attempt(async () => {
      const { jobId, seed } = await this.api.call('generate', generateParams(this.form, this.heads, this.inpaint, this.controlNets, imagePrompt));
      afterGenerate(this.form, seed);
      this.notify('info', `Queued ${jobId} with seed ${seed}.`);
    });
  }

  async cancel(jobId: string): Promise<void> {
    await this.attempt(async () => {
      const { cancelled } = await this.api.call('cancel', { jobId });
      if (!cancelled) this.notify('info', `${jobId} had already finished.`);
    });
  }

  /** Moves a queued job up (runs sooner) or down. */
  async moveJob(jobId: string, direction: 'up' | 'down'): Promise<void> {
    await this.attempt(async () => {
      const { moved } = await this.api.call('moveJob', { jobId, direction });
      if (!moved) this.notify('info', `${jobId} is no longer waiting in the queue.`);
    });
  }

  /** A file dropped on the window (or picked with "Load settings from PNG"). */
  async loadFile(file: File): Promise<void> {
    if (file.size > MAX_DROPPED_FILE_BYTES) {
      this.notify('error', `"${file.name}" is ${(file.size / 1024 / 1024).toFixed(0)} MiB; the studio reads settings from PNGs up to ${MAX_DROPPED_FILE_BYTES / 1024 / 1024} MiB.`);
      return;
    }
    await this.attempt(async () => {
      const meta = await this.api.call('readImageMetadata', { name: file.name, dataBase64: await fileToBase64(file) });
      if (!meta.settings && meta.request === undefined) return this.notify('error', meta.warnings.join(' ') || `No generation settings in "${file.name}".`);
      this.applyRecall(meta, `"${file.name}"`);
    });
  }

  recallImage(image: GalleryImage): void {
    this.applyRecall(image, image.name);
  }

  notify(kind: Notice['kind'], text: string): void {
    const id = this.nextNotice++;
    this.notices = [...this.notices.slice(-3), { id, kind, text }];
    // Errors stay until dismissed; the rest fade after a while (they are also announced when shown).
    if (kind === 'info') setTimeout(() => this.dismiss(id), INFO_NOTICE_MS);
  }

  dismiss(id: number): void {
    this.notices = this.notices.filter((n) => n.id !== id);
  }

  private applyRecall(source: RecallSource, what: string): void {
    const model = this.form.model;
    // Models shipped with the studio are recalled by name, as the picker lists them.
    const shipped = this.embedded.map((e): ModelEntry => ({ name: e.name, path: e.name, kind: 'folder', methods: [], sizeBytes: 0 }));
    const exact = exactRequest(source);
    const notes = recall(this.form, source, [...this.models, ...shipped], this.library, exact);
    notes.push(...this.controlNets.restore(exact, source.settings, this.library), ...this.ipAdapter.restore(exact, source.settings, this.library));
    const heads = recalledHeads(exact);
    if (heads) this.heads.apply(heads);
    if (this.form.model !== model) void this.loadHeads();
    const from = source.settings ? ` (${SOURCE_LABELS[source.settings.source]})` : '';
    const sentences = notes.map((n) => `${n[0].toUpperCase()}${n.slice(1)}.`);
    this.notify('info', [`Loaded the settings of ${what}${from}.`, ...sentences].join(' '));
  }

  /** Runs an action, turning its failure into an error notice. */
  async attempt(action: () => Promise<void>): Promise<void> {
    try {
      await action();
    } catch (e) {
      this.notify('error', e instanceof Error ? e.message : String(e));
    }
  }
}
