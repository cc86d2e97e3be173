// Story mode (IR-Diffusion, research/seed-guidance.md §3) on SD 1.x/2.x/XL, read top to bottom:
//   1. every prompt is encoded once (one token length for all rows);
//   2. each subject gets a reference: generated from its description with the story seed (one shared
//      noise, as the official code), recording its model inputs, its mask from the attention maps of
//      its words; or the user's image, noised to each step's level, with the user's box or an
//      attention-derived mask;
//   3. each scene: boxes from the user, or proposed from the attention maps of a plain rehearsal with
//      the scene's seed; then the scene again from the same noise, its subjects' references in the
//      batch, with Isolation and Reposition Attention and mutual cross-attention.
import { mutualLayerIndices } from '../../attention/reposition.ts';
import { buildUNet } from '../../models/unet/unet.ts';
import { Session, type Provider, type ort } from '../../runtime/session.ts';
import { TorchGenerator } from '../../random/torch-randn.ts';
import { getSampler, type SchedulerConfig } from '../../samplers/index.ts';
import { encodePrompts, type Conditioning } from '../sd/conditioning.ts';
import { readImageNchw } from '../images.ts';
import { randomSeed } from '../request.ts';
import { SdPipeline, type SdLoadOptions } from '../sd/pipeline.ts';
import { proposeBoxes, tokenMap } from './attention-maps.ts';
import type { Box } from './boxes.ts';
import { buildStoryUNet, type StoryUNet } from './ir-unet.ts';
import { runPass, type PassContext, type ReferenceInput } from './passes.ts';
import { CrossAttentionProbe, probeDownsample } from './probe.ts';
import { sceneMaskFeeds, type SourceMask } from './scene-masks.ts';
import { locateSubjects, settleSceneBoxes, subjectNamed, type Story, type StoryTokens } from './story.ts';

export interface StoryProgress {
  phase: string;
  step: number;
  total: number;
}

export interface StoryRunOptions {
  /** Also keep each scene without IR (same seed): the rehearsal, run for this when boxes are given. */
  plainScenes?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: StoryProgress) => void;
}

export interface StoryImage {
  kind: 'reference' | 'scene' | 'plain-scene';
  /** Subject index (references) or scene index. */
  index: number;
  prompt: string;
  seed: number;
  /** Scenes: each subject's box and whether the user gave it. */
  boxes?: Record<string, { box: Box; from: 'user' | 'attention' }>;
  width: number;
  height: number;
  /** [height, width, 3] in [0, 1]. */
  rgb: Float32Array;
}

export interface StoryResult {
  /** The story with every seed and box decided (re-running it gives the same set). */
  story: Story;
  images: StoryImage[];
  timings: Record<string, number>;
  provider: Provider;
}

interface Reference {
  input: ReferenceInput;
  source: SourceMask;
}

const NATIVE: Record<string, number> = { sd1: 512, sd2: 768, sdxl: 1024 };

export class StoryPipeline {
  private readonly sessions = new Map<string, Promise<{ session: Session; unet?: StoryUNet }>>();

  private constructor(readonly sd: SdPipeline, private readonly o: SdLoadOptions) {}

  static load(path: string, o: SdLoadOptions = {}): StoryPipeline {
    return new StoryPipeline(SdPipeline.load(path, o), o);
  }

  static wrap(sd: SdPipeline, o: SdLoadOptions = {}): StoryPipeline {
    return new StoryPipeline(sd, o);
  }

  async run(input: Story, o: StoryRunOptions = {}): Promise<StoryResult> {
    const timings: Record<string, number> = {};
    const clock = async <R>(name: string, f: () => Promise<R>): Promise<R> => {
      const t0 = performance.now();
      try { return await f(); } finally { timings[name] = (timings[name] ?? 0) + performance.now() - t0; }
    };
    const seed = input.seed ?? randomSeed();
    const width = input.width ?? NATIVE[this.sd.family] ?? 512;
    const height = input.height ?? NATIVE[this.sd.family] ?? 512;
    const story: Story = { ...input, seed, width, height, scenes: input.scenes.map((s, k) => ({ ...s, seed: s.seed ?? seed + 1 + k })) };

    const stages = await this.sd.textStages(story.clipSkip);
    const tokens = locateSubjects(story, stages[0].tokenizer);
    const prompts = [story.negative, ...story.subjects.map((s) => s.description), ...story.scenes.map((s) => s.prompt)];
    const text = await clock('encode', () => encodePrompts(stages, prompts, this.sd.family === 'sdxl' && story.negative === '' ? new Set([0]) : new Set()));
    const ctx: PassContext = {
      sampler: getSampler(story.sampler), config: this.sd.sources.scheduler.config as SchedulerConfig, steps: story.steps,
      plan: { cfg: story.cfg, pag: 0 }, latent: { channels: this.sd.unetConfig.inChannels, height: height / 8, width: width / 8 }, signal: o.signal,
    };
    const run = new StoryRun(this, story, tokens, text, ctx, o, clock);
    const images: StoryImage[] = [];
    const references = await clock('references', () => run.references(images));
    for (let k = 0; k < story.scenes.length; k++) await run.scene(k, references, images);
    return { story: run.story, images, timings, provider: run.provider };
  }

  /** The plain UNet with the probe (rows = guidance groups), or the story UNet for `subjects` references. */
  session(kind: 'probe' | 'story', rows: number, story: Story, textLength: number): Promise<{ session: Session; unet?: StoryUNet }> {
    const key = JSON.stringify([kind, rows, story.width, story.height, textLength, story.cfg > 1, kind === 'story' ? story.ir : null]);
    let entry = this.sessions.get(key);
    if (!entry) {
      entry = this.createSession(kind, rows, story, textLength);
      entry.catch(() => this.sessions.delete(key));
      this.sessions.set(key, entry);
    }
    return entry;
  }

  private async createSession(kind: 'probe' | 'story', rows: number, story: Story, textLength: number): Promise<{ session: Session; unet?: StoryUNet }> {
    const [height, width] = [story.height! / 8, story.width! / 8];
    const groups = story.cfg > 1 ? 2 : 1;
    const base = { height, width, textLength, dtype: this.o.dtype };
    if (kind === 'probe') {
      const probe = new CrossAttentionProbe(probeDownsample(this.sd.layers));
      const { graph } = buildUNet(this.sd.sources.unet, this.sd.unetConfig, { ...base, batch: groups, crossAttention: probe.hook });
      probe.finish(graph);
      return { session: await Session.create(graph, { providers: this.o.providers }) };
    }
    const ir = story.ir;
    const mutual = ir.reposition ? mutualLayerIndices(this.sd.layers.length, ir.mutualFrom) : [];
    const unet = buildStoryUNet(this.sd.sources.unet, this.sd.unetConfig, {
      ...base, batch: { groups, subjects: rows }, mutualLayers: new Set(mutual), isolation: ir.isolation, mutualCrossAttention: ir.mutualCrossAttention,
      crossAttentionLambda: ir.crossAttentionLambda, refLogitBias: ir.refLogitBias,
    });
    return { session: await Session.create(unet.graph, { providers: this.o.providers }), unet };
  }

  async release(): Promise<void> {
    for (const e of this.sessions.values()) await (await e).session.release().catch(() => undefined);
    this.sessions.clear();
    await this.sd.release();
  }
}

/** The state of one story run. */
class StoryRun {
  provider: Provider = 'cpu';

  constructor(
    private readonly pipe: StoryPipeline,
    readonly story: Story,
    private readonly tokens: StoryTokens,
    private readonly text: Conditioning,
    private readonly ctx: PassContext,
    private readonly o: StoryRunOptions,
    private readonly clock: <R>(name: string, f: () => Promise<R>) => Promise<R>,
  ) {}

  private get groups(): number {
    return this.story.cfg > 1 ? 2 : 1;
  }

  /** Text feeds for batch rows: each group holds `rows` (conditioning row indices) for the cond branch, the negative for uncond. */
  private textFeeds(condRows: readonly number[], refs: readonly number[] = []): Record<string, ort.Tensor> {
    const layout = [...(this.groups === 2 ? refs.map(() => 0) : []), ...refs, ...(this.groups === 2 ? [0] : []), ...condRows];
    return this.pipe.sd.textFeeds(this.text, layout, this.story.width!, this.story.height!);
  }

  private progress(phase: string): (step: number, total: number) => void {
    return (step, total) => this.o.onProgress?.({ phase, step, total });
  }

  private async probeSession(): Promise<Session> {
    const { session } = await this.pipe.session('probe', this.groups, this.story, this.text.tokens);
    this.provider = session.provider;
    return session;
  }

  async references(images: StoryImage[]): Promise<Reference[]> {
    const out: Reference[] = [];
    for (const [i, subject] of this.story.subjects.entries()) {
      const phase = `reference ${i + 1}/${this.story.subjects.length}`;
      const positions = this.tokens.subjects[i];
      if (subject.image) {
        const input = await this.noisedImage(subject.image);
        let source: SourceMask;
        if (subject.box) source = { kind: 'box', box: subject.box };
        else source = await this.mapMask(await this.probeOnly(1 + i, input, phase), positions);
        out.push({ input, source });
        continue;
      }
      const record: Float32Array[] = [];
      const pass = await runPass(this.ctx, {
        session: await this.probeSession(), textFeeds: this.textFeeds([1 + i]), seed: this.story.seed!, record, probe: !subject.box, onStep: this.progress(phase),
      });
      const source: SourceMask = subject.box ? { kind: 'box', box: subject.box } : await this.mapMask(pass.probe!, positions);
      out.push({ input: recorded(record, subject.name), source });
      images.push({ kind: 'reference', index: i, prompt: subject.description, seed: this.story.seed!, ...(await this.decode(pass.latents)) });
    }
    return out;
  }

  /** A user's reference image, noised to the level of each call with a fixed noise (story seed). */
  private async noisedImage(path: string): Promise<ReferenceInput> {
    const { width, height } = this.story;
    const pixels = await readImageNchw(path, width!, height!);
    const x0 = (await this.pipe.sd.vae.encode({ data: pixels.map((v) => v * 2 - 1), dims: [1, 3, height!, width!] })).latents.data;
    const { channels, height: h, width: w } = this.ctx.latent;
    const noise = new TorchGenerator(this.story.seed!).randn([1, channels, h, w]);
    const flow = this.story.sampler === 'flow_euler';
    return (_call, sigma) => {
      // The scaled model input of a clean x0 at noise level σ: VP (x0 + σε)/√(1+σ²); flow (1−σ)x0 + σε.
      const [a, b] = flow ? [1 - sigma, sigma] : [1 / Math.sqrt(1 + sigma * sigma), sigma / Math.sqrt(1 + sigma * sigma)];
      return x0.map((v, i) => a * v + b * noise[i]);
    };
  }

  /** A pass over given inputs, only for the probe (a user's image has no pass of its own). */
  private async probeOnly(row: number, input: ReferenceInput, phase: string): Promise<Float32Array> {
    const pass = await runPass(this.ctx, { session: await this.probeSession(), textFeeds: this.textFeeds([row]), seed: this.story.seed!, ownInput: input, probe: true, onStep: this.progress(phase) });
    return pass.probe!;
  }

  private async mapMask(probe: Float32Array, positions: readonly number[]): Promise<SourceMask> {
    const grid = await this.probeGrid();
    return { kind: 'map', map: tokenMap(probe, this.text.tokens, positions), grid };
  }

  private async probeGrid(): Promise<{ height: number; width: number }> {
    const d = probeDownsample(this.pipe.sd.layers);
    return { height: Math.ceil(this.ctx.latent.height / d), width: Math.ceil(this.ctx.latent.width / d) };
  }

  async scene(k: number, references: readonly Reference[], images: StoryImage[]): Promise<void> {
    const scene = this.story.scenes[k];
    const { names, positions } = this.tokens.scenes[k];
    const seed = scene.seed!;
    const row = 1 + this.story.subjects.length + k;
    const phase = `scene ${k + 1}/${this.story.scenes.length}`;
    const needBoxes = names.some((n) => !scene.boxes[n]);
    let boxes: Record<string, { box: Box; from: 'user' | 'attention' }> = {};
    if (needBoxes || this.o.plainScenes || names.length === 0) {
      const rehearsal = await this.clock('rehearsal', async () => runPass(this.ctx, {
        session: await this.probeSession(), textFeeds: this.textFeeds([row]), seed, probe: needBoxes, onStep: this.progress(`${phase} (${names.length ? 'plain' : 'no subjects'})`),
      }));
      if (names.length === 0 || this.o.plainScenes) {
        images.push({ kind: names.length === 0 ? 'scene' : 'plain-scene', index: k, prompt: scene.prompt, seed, ...(await this.decode(rehearsal.latents)) });
      }
      if (names.length === 0) return;
      if (needBoxes) boxes = await this.proposals(k, rehearsal.probe!, positions);
    }
    settleSceneBoxes(this.story, k, names, boxes);

    const subjectIndex = names.map((n) => this.story.subjects.indexOf(subjectNamed(this.story, n)));
    const { session, unet } = await this.pipe.session('story', names.length, this.story, this.text.tokens);
    const ir = this.story.ir;
    const feeds = sceneMaskFeeds({
      grids: unet!.inputs.grids, boxes: names.map((n) => boxes[n].box), sources: subjectIndex.map((i) => references[i].source),
      dropout: ir.dropout, startCall: ir.startStep * this.ctx.sampler.plan(this.ctx.config, this.ctx.steps).order, seed,
    });
    const pass = await this.clock('scenes', () => runPass(this.ctx, {
      session, textFeeds: this.textFeeds([row], subjectIndex.map((i) => 1 + i)), seed, references: subjectIndex.map((i) => references[i].input), feeds, onStep: this.progress(phase),
    }));
    images.push({ kind: 'scene', index: k, prompt: scene.prompt, seed, boxes, ...(await this.decode(pass.latents)) });
  }

  private async proposals(k: number, probe: Float32Array, positions: readonly number[][]): Promise<Record<string, { box: Box; from: 'user' | 'attention' }>> {
    const grid = await this.probeGrid();
    const maps = positions.map((p) => tokenMap(probe, this.text.tokens, p));
    const proposed = proposeBoxes(maps, tokenMap(probe, this.text.tokens, [0]), grid);
    const { names } = this.tokens.scenes[k];
    return Object.fromEntries(names.map((n, i) => [n, { box: proposed[i], from: 'attention' as const }]));
  }

  private async decode(latents: Float32Array): Promise<{ width: number; height: number; rgb: Float32Array }> {
    return this.clock('decode', async () => {
      const [width, height] = [this.story.width!, this.story.height!];
      const { channels, height: h, width: w } = this.ctx.latent;
      const decoded = await this.pipe.sd.vae.decode({ data: latents, dims: [1, channels, h, w] });
      const plane = width * height;
      const rgb = new Float32Array(plane * 3);
      for (let c = 0; c < 3; c++) {
        for (let p = 0; p < plane; p++) rgb[p * 3 + c] = Math.min(1, Math.max(0, decoded.data[c * plane + p] / 2 + 0.5));
      }
      return { width, height, rgb };
    });
  }
}

/** A generated reference's recorded model inputs, looked up by call. */
function recorded(record: readonly Float32Array[], name: string): ReferenceInput {
  return (call) => {
    const x = record[call];
    if (!x) throw new Error(`internal: a scene made more model calls than the reference pass of "${name}" (${record.length})`);
    return x;
  };
}
