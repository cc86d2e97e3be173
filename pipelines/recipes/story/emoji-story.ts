// Story mode (IR-Diffusion) on the embedded emoji-DiT, read top to bottom, as story-pipeline.ts on SD:
//   1. every prompt is encoded once by the emoji text encoder;
//   2. each subject gets a reference: generated from its description with the story seed, recording
//      its model inputs, or the user's image noised to each step's flow time; its mask is where the
//      emoji is drawn (non-white cells of the 8×8 token grid: emoji sit on white, as in training), or
//      the subject's box;
//   3. each scene: boxes from the user, or proposed from the cross-attention maps of a plain rehearsal
//      with the scene's seed; then the scene again from the same noise, its subjects' references in
//      the batch, with Isolation and Reposition Attention and mutual cross-attention.
// Sampling is always the model's rectified-flow Euler with its time shift; steps and cfg come from
// the story.
import { join } from 'node:path';
import { SafetensorsFile } from '../../io/safetensors.ts';
import { mutualLayerIndices } from '../../attention/reposition.ts';
import { readEmojiConfig, type EmojiDitConfig, type EmojiVaeConfig } from '../../models/emoji/config.ts';
import { buildEmojiTextGraph } from '../../models/emoji/text.ts';
import { EmojiTokenizer } from '../../models/emoji/tokenizer.ts';
import { buildEmojiVaeDecoderGraph, buildEmojiVaeEncoderGraph } from '../../models/emoji/vae.ts';
import { TorchGenerator } from '../../random/torch-randn.ts';
import { ort, Session, tensor } from '../../runtime/session.ts';
import type { EmojiLoadOptions } from '../emoji/pipeline.ts';
import { isEmojiModelName, resolveEmojiModel, type EmojiModelFolders } from '../emoji/models.ts';
import { checkPrompt } from '../emoji/prompt-check.ts';
import { readImageNchw } from '../images.ts';
import { randomSeed } from '../request.ts';
import { proposeBoxes, tokenMap } from './attention-maps.ts';
import { StoryInputError, type Box } from './boxes.ts';
import { buildStoryEmojiDiT, type StoryEmojiDiT } from './emoji-dit.ts';
import { flowGroups, runFlowPass, type FlowPassContext, type FlowReferenceInput } from './emoji-passes.ts';
import { buildProbedEmojiDiT } from './emoji-probe.ts';
import { locateEmojiSubjects } from './emoji-subjects.ts';
import { sceneMaskFeeds, type SourceMask } from './scene-masks.ts';
import type { StoryImage, StoryResult, StoryRunOptions } from './story-pipeline.ts';
import { settleSceneBoxes, subjectNamed, type Story, type StoryTokens } from './story.ts';

export const DEFAULT_STORY_MODEL = 'emoji-dit';

/** A pixel is ink when some channel is below this (the backgrounds are white). */
const INK_LEVEL = 0.9;
/** A token cell belongs to the drawing when at least this share of its pixels is ink. */
const INK_SHARE = 0.15;

export interface EmojiStoryResult extends StoryResult {
  /** Unknown or cut-off words in the prompts (they run, read as <unk> or dropped). */
  notes: string[];
}

interface Reference {
  input: FlowReferenceInput;
  source: SourceMask;
}

interface Encoded {
  tokens: Float32Array;
  mask: Float32Array;
  pooled: Float32Array;
  length: number;
  dim: number;
}

export class EmojiStoryPipeline {
  private readonly sessions = new Map<string, Promise<{ session: Session; story?: StoryEmojiDiT }>>();
  private encoder?: Promise<Session>;

  private constructor(
    readonly folders: EmojiModelFolders & { config: EmojiDitConfig },
    readonly tokenizer: EmojiTokenizer,
    private readonly weights: SafetensorsFile,
    private readonly vae: { cfg: EmojiVaeConfig; weights: SafetensorsFile },
    private readonly text: Session,
    private readonly decoder: Session,
    private readonly o: EmojiLoadOptions,
  ) {}

  /** `nameOrDir`: emoji-dit (default) or a folder holding an emoji-dit model. */
  static async load(nameOrDir: string = DEFAULT_STORY_MODEL, o: EmojiLoadOptions = {}): Promise<EmojiStoryPipeline> {
    const folders = resolveEmojiModel(nameOrDir, o.assetsDir);
    const config = folders.config;
    if (config.architecture !== 'emoji-dit') {
      const why = config.architecture === 'emoji-lit'
        ? "its ReLU linear attention has no per-pair attention weights to mask, and its depthwise convolution mixes neighbouring tokens across subject borders"
        : 'it is convolutional and has no attention between image tokens';
      const what = isEmojiModelName(nameOrDir) ? nameOrDir : `${nameOrDir} (${config.architecture})`;
      throw new StoryInputError(`${what}: story mode runs on emoji-dit (softmax self-attention), not here: ${why}`);
    }
    const vaeCfg = readEmojiConfig(folders.vaeDir, ['emoji-vae']);
    const textCfg = readEmojiConfig(folders.textDir, ['emoji-text']);
    const vaeWeights = SafetensorsFile.open(join(folders.vaeDir, 'model.safetensors'));
    const session = { providers: o.providers, intraOpThreads: o.intraOpThreads };
    const [text, decoder] = await Promise.all([
      Session.create(buildEmojiTextGraph(SafetensorsFile.open(join(folders.textDir, 'model.safetensors')), textCfg), session),
      Session.create(buildEmojiVaeDecoderGraph(vaeWeights, vaeCfg), session),
    ]);
    const weights = SafetensorsFile.open(join(folders.dir, 'model.safetensors'));
    return new EmojiStoryPipeline({ ...folders, config }, EmojiTokenizer.fromFolder(folders.textDir), weights, { cfg: vaeCfg, weights: vaeWeights }, text, decoder, o);
  }

  get config(): EmojiDitConfig {
    return this.folders.config;
  }

  get imageSize(): number {
    return this.vae.cfg.image_size;
  }

  async run(input: Story, o: StoryRunOptions = {}): Promise<EmojiStoryResult> {
    const timings: Record<string, number> = {};
    const clock = async <R>(name: string, f: () => Promise<R>): Promise<R> => {
      const t0 = performance.now();
      try { return await f(); } finally { timings[name] = (timings[name] ?? 0) + performance.now() - t0; }
    };
    const side = this.imageSize;
    for (const [key, v] of [['width', input.width], ['height', input.height]] as const) {
      if (v !== undefined && v !== side) throw new StoryInputError(`${key} ${v}: ${this.folders.config.architecture} draws ${side}×${side} images only; leave "width" and "height" out or set them to ${side}`);
    }
    const seed = input.seed ?? randomSeed();
    const story: Story = {
      ...input, seed, width: side, height: side, sampler: 'flow_euler',
      scenes: input.scenes.map((s, k) => ({ ...s, seed: s.seed ?? seed + 1 + k })),
    };
    const tokens = locateEmojiSubjects(story, this.tokenizer);
    const notes: string[] = [];
    const prompts = [story.negative, ...story.subjects.map((s) => s.description), ...story.scenes.map((s) => s.prompt)];
    const roles = ['negative prompt', ...story.subjects.map((s) => `description of "${s.name}"`), ...story.scenes.map((_, k) => `scene ${k + 1} prompt`)];
    const ids = prompts.map((p, i) => {
      const checked = checkPrompt(this.tokenizer, p, roles[i], this.config.architecture);
      notes.push(...checked.notes.filter((n) => !n.startsWith('empty prompt')));
      return checked.encoding.ids;
    });
    const text = await clock('encode', () => this.encode(ids));
    const ctx: FlowPassContext = {
      steps: story.steps, cfg: story.cfg, shift: this.config.sampler.shift,
      latent: { channels: this.config.in_channels, size: this.config.latent_size }, signal: o.signal,
    };
    const run = new EmojiStoryRun(this, story, tokens, text, ctx, o, clock);
    const images: StoryImage[] = [];
    const references = await clock('references', () => run.references(images));
    for (let k = 0; k < story.scenes.length; k++) await run.scene(k, references, images);
    return { story: run.story, images, timings, provider: this.text.provider, notes };
  }

  private async encode(ids: number[][]): Promise<Encoded> {
    const length = ids[0].length;
    const out = await this.text.run({ ids: new ort.Tensor('int32', Int32Array.from(ids.flat()), [ids.length, length]) });
    const tokens = out.tokens.data as Float32Array;
    return { tokens, mask: out.mask.data as Float32Array, pooled: out.pooled.data as Float32Array, length, dim: tokens.length / (ids.length * length) };
  }

  /** The plain emoji-DiT with the probe for `rows` rows, or the story DiT for `subjects` references. */
  session(kind: 'plain' | 'story', rows: number, story: Story): Promise<{ session: Session; story?: StoryEmojiDiT }> {
    const key = JSON.stringify([kind, rows, flowGroups(story.cfg), kind === 'story' ? story.ir : null]);
    let entry = this.sessions.get(key);
    if (!entry) {
      entry = this.createSession(kind, rows, story);
      entry.catch(() => this.sessions.delete(key));
      this.sessions.set(key, entry);
    }
    return entry;
  }

  private async createSession(kind: 'plain' | 'story', rows: number, story: Story): Promise<{ session: Session; story?: StoryEmojiDiT }> {
    const options = { providers: this.o.providers, intraOpThreads: this.o.intraOpThreads };
    const groups = flowGroups(story.cfg);
    if (kind === 'plain') return { session: await Session.create(buildProbedEmojiDiT(this.weights, this.config, groups), options) };
    const ir = story.ir;
    const dit = buildStoryEmojiDiT(this.weights, this.config, {
      batch: { groups, subjects: rows }, mutualLayers: new Set(ir.reposition ? mutualLayerIndices(this.config.depth, ir.mutualFrom) : []),
      isolation: ir.isolation, mutualCrossAttention: ir.mutualCrossAttention, crossAttentionLambda: ir.crossAttentionLambda, refLogitBias: ir.refLogitBias,
    });
    return { session: await Session.create(dit.graph, options), story: dit };
  }

  /** Latents [1, 4, 16, 16] → [64, 64, 3] in [0, 1]. */
  async decode(latents: Float32Array): Promise<Float32Array> {
    const side = this.imageSize;
    const { latent_size: l, in_channels: c } = this.config;
    const decoded = (await this.decoder.run({ z: tensor(latents, [1, c, l, l]) })).decoded.data as Float32Array;
    const plane = side * side;
    const rgb = new Float32Array(plane * 3);
    for (let ch = 0; ch < 3; ch++) {
      for (let p = 0; p < plane; p++) rgb[p * 3 + ch] = (Math.min(1, Math.max(-1, decoded[ch * plane + p])) + 1) / 2;
    }
    return rgb;
  }

  /** A user's image → its normalised latent [1, 4, 16, 16], and the image itself as [64, 64, 3] in [0, 1]. */
  async encodeImage(path: string): Promise<{ latents: Float32Array; rgb: Float32Array }> {
    const side = this.imageSize;
    this.encoder ??= Session.create(buildEmojiVaeEncoderGraph(this.vae.weights, this.vae.cfg), { providers: this.o.providers, intraOpThreads: this.o.intraOpThreads });
    const nchw = await readImageNchw(path, side, side);
    const out = await (await this.encoder).run({ image: tensor(nchw.map((v) => v * 2 - 1), [1, 3, side, side]) });
    const plane = side * side;
    const rgb = new Float32Array(plane * 3);
    for (let ch = 0; ch < 3; ch++) for (let p = 0; p < plane; p++) rgb[p * 3 + ch] = nchw[ch * plane + p];
    return { latents: out.encoded.data as Float32Array, rgb };
  }

  async release(): Promise<void> {
    for (const e of this.sessions.values()) await (await e).session.release().catch(() => undefined);
    this.sessions.clear();
    if (this.encoder) await (await this.encoder).release();
    await this.text.release();
    await this.decoder.release();
  }
}

/** Token cells [g·g] of a [side, side, 3] image in [0, 1] that hold the drawing: at least INK_SHARE of their pixels non-white. */
export function inkMask(rgb: Float32Array, side: number, grid: number): Uint8Array {
  const cell = side / grid;
  const mask = new Uint8Array(grid * grid);
  for (let r = 0; r < grid; r++) {
    for (let c = 0; c < grid; c++) {
      let ink = 0;
      for (let y = r * cell; y < (r + 1) * cell; y++) {
        for (let x = c * cell; x < (c + 1) * cell; x++) {
          const p = (y * side + x) * 3;
          if (Math.min(rgb[p], rgb[p + 1], rgb[p + 2]) < INK_LEVEL) ink++;
        }
      }
      mask[r * grid + c] = ink >= INK_SHARE * cell * cell ? 1 : 0;
    }
  }
  return mask;
}

/** The state of one story run. */
class EmojiStoryRun {
  constructor(
    private readonly pipe: EmojiStoryPipeline,
    readonly story: Story,
    private readonly tokens: StoryTokens,
    private readonly text: Encoded,
    private readonly ctx: FlowPassContext,
    private readonly o: StoryRunOptions,
    private readonly clock: <R>(name: string, f: () => Promise<R>) => Promise<R>,
  ) {}

  private get groups(): number {
    return flowGroups(this.story.cfg);
  }

  private get grid(): number {
    return this.pipe.config.latent_size / this.pipe.config.patch_size;
  }

  /** Text feeds for batch rows: cond refs, uncond refs, scene cond, scene uncond (text rows: 0 = negative). */
  private textFeeds(sceneRow: number, refRows: readonly number[] = []): Record<string, ort.Tensor> {
    const layout = this.groups === 2 ? [...refRows, ...refRows.map(() => 0), sceneRow, 0] : [...refRows, sceneRow];
    const { length, dim } = this.text;
    const pick = (src: Float32Array, per: number) => {
      const out = new Float32Array(layout.length * per);
      layout.forEach((row, i) => out.set(src.subarray(row * per, (row + 1) * per), i * per));
      return out;
    };
    return {
      text_tokens: tensor(pick(this.text.tokens, length * dim), [layout.length, length, dim]),
      text_mask: tensor(pick(this.text.mask, length), [layout.length, length]),
      text_pooled: tensor(pick(this.text.pooled, dim), [layout.length, dim]),
    };
  }

  private progress(phase: string): (step: number, total: number) => void {
    return (step, total) => this.o.onProgress?.({ phase, step, total });
  }

  private image(kind: StoryImage['kind'], index: number, prompt: string, seed: number, rgb: Float32Array, boxes?: StoryImage['boxes']): StoryImage {
    const side = this.pipe.imageSize;
    return { kind, index, prompt, seed, ...(boxes ? { boxes } : {}), width: side, height: side, rgb };
  }

  async references(images: StoryImage[]): Promise<Reference[]> {
    const out: Reference[] = [];
    const grid = { height: this.grid, width: this.grid };
    const drawn = (rgb: Float32Array): SourceMask => {
      const cells = inkMask(rgb, this.pipe.imageSize, this.grid);
      // A blank drawing: the whole image stands for the subject.
      return cells.some((v) => v) ? { kind: 'map', map: Float32Array.from(cells), grid } : { kind: 'box', box: [0, 0, 1, 1] };
    };
    for (const [i, subject] of this.story.subjects.entries()) {
      const phase = `reference ${i + 1}/${this.story.subjects.length}`;
      if (subject.image) {
        const { latents, rgb } = await this.pipe.encodeImage(subject.image);
        const noise = new TorchGenerator(this.story.seed!).randn([latents.length]);
        // The flow's x_t = (1 − t)·x0 + t·ε at each call's time, one fixed noise (story seed).
        const input: FlowReferenceInput = (_call, t) => latents.map((v, k) => (1 - t) * v + t * noise[k]);
        out.push({ input, source: subject.box ? { kind: 'box', box: subject.box } : drawn(rgb) });
        continue;
      }
      const record: Float32Array[] = [];
      const { session } = await this.pipe.session('plain', 0, this.story);
      const pass = await runFlowPass(this.ctx, { session, textFeeds: this.textFeeds(1 + i), seed: this.story.seed!, record, onStep: this.progress(phase) });
      const rgb = await this.clock('decode', () => this.pipe.decode(pass.latents));
      out.push({ input: recorded(record, subject.name), source: subject.box ? { kind: 'box', box: subject.box } : drawn(rgb) });
      images.push(this.image('reference', i, subject.description, this.story.seed!, rgb));
    }
    return out;
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
      const { session } = await this.pipe.session('plain', 0, this.story);
      const rehearsal = await this.clock('rehearsal', () => runFlowPass(this.ctx, {
        session, textFeeds: this.textFeeds(row), seed, probe: needBoxes, onStep: this.progress(`${phase} (${names.length ? 'plain' : 'no subjects'})`),
      }));
      if (names.length === 0 || this.o.plainScenes) {
        const rgb = await this.clock('decode', () => this.pipe.decode(rehearsal.latents));
        images.push(this.image(names.length === 0 ? 'scene' : 'plain-scene', k, scene.prompt, seed, rgb));
      }
      if (names.length === 0) return;
      if (needBoxes) boxes = this.proposals(k, rehearsal.probe!, positions);
    }
    settleSceneBoxes(this.story, k, names, boxes);

    const subjectIndex = names.map((n) => this.story.subjects.indexOf(subjectNamed(this.story, n)));
    const { session, story: dit } = await this.pipe.session('story', names.length, this.story);
    const ir = this.story.ir;
    const feeds = sceneMaskFeeds({
      grids: dit!.inputs.grids, boxes: names.map((n) => boxes[n].box), sources: subjectIndex.map((i) => references[i].source),
      dropout: ir.dropout, startCall: ir.startStep, seed,
    });
    const pass = await this.clock('scenes', () => runFlowPass(this.ctx, {
      session, textFeeds: this.textFeeds(row, subjectIndex.map((i) => 1 + i)), seed, references: subjectIndex.map((i) => references[i].input), feeds, onStep: this.progress(phase),
    }));
    const rgb = await this.clock('decode', () => this.pipe.decode(pass.latents));
    images.push(this.image('scene', k, scene.prompt, seed, rgb, boxes));
  }

  private proposals(k: number, probe: Float32Array, positions: readonly number[][]): Record<string, { box: Box; from: 'user' | 'attention' }> {
    const grid = { height: this.grid, width: this.grid };
    const maps = positions.map((p) => tokenMap(probe, this.text.length, p));
    const proposed = proposeBoxes(maps, tokenMap(probe, this.text.length, [0]), grid);
    const { names } = this.tokens.scenes[k];
    return Object.fromEntries(names.map((n, i) => [n, { box: proposed[i], from: 'attention' as const }]));
  }
}

/** A generated reference's recorded model inputs, looked up by call. */
function recorded(record: readonly Float32Array[], name: string): FlowReferenceInput {
  return (call) => {
    const x = record[call];
    if (!x) throw new Error(`internal: a scene made more model calls than the reference pass of "${name}" (${record.length})`);
    return x;
  };
}
