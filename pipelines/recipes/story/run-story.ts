// Story mode (IR-Diffusion, research/seed-guidance.md §3) on any model with a StoryModel, read top
// to bottom:
//   1. every prompt is encoded once (one token length for all rows);
//   2. each subject gets a reference: generated from its description with the story seed (one shared
//      noise, as the official code), recording its model inputs; or the user's image, noised to each
//      call's level with the same fixed noise. Its mask: the user's box, else the model's drawn mask,
//      else the attention maps of its words;
//   3. each scene: boxes from the user, or proposed from the attention maps of a plain rehearsal with
//      the scene's seed; then the scene again from the same noise, its subjects' references in the
//      batch, with Isolation and Reposition Attention and mutual cross-attention.
import { mutualLayerIndices, type GridInputs, type StoryGraphOptions } from '../../attention/reposition.ts';
import { TorchGenerator } from '../../random/torch-randn.ts';
import type { Provider } from '../../runtime/session.ts';
import { readImageNchw } from '../images.ts';
import { randomSeed } from '../../jobs/api.ts';
import { proposeBoxes, tokenMap } from './attention-maps.ts';
import type { Box } from './boxes.ts';
import { runPass } from './pass.ts';
import { sceneMaskFeeds, type SourceMask } from './scene-masks.ts';
import { settleSceneBoxes, subjectNamed, type Story } from './story.ts';
import { storyBranches, textLayout, type LatentInput, type StoryDenoiser, type StoryImage, type StoryModel, type StoryResult, type StoryRunOptions, type StoryText } from './story-model.ts';
import type { BuiltSession } from '../../runtime/session-cache.ts';

/** A story graph's session with its IR mask inputs (none for the probed plain graph). */
type StorySession = BuiltSession<readonly GridInputs[]>;

interface Reference {
  input: LatentInput;
  source: SourceMask;
}

type Boxes = Record<string, { box: Box; from: 'user' | 'attention' }>;

export async function runStory(model: StoryModel, input: Story, o: StoryRunOptions = {}): Promise<StoryResult> {
  const timings: Record<string, number> = {};
  const clock = async <R>(name: string, f: () => Promise<R>): Promise<R> => {
    const t0 = performance.now();
    try { return await f(); } finally { timings[name] = (timings[name] ?? 0) + performance.now() - t0; }
  };
  const canvas = model.canvas(input);
  const seed = input.seed ?? randomSeed();
  const story: Story = { ...input, seed, width: canvas.width, height: canvas.height, sampler: canvas.sampler, scenes: input.scenes.map((s, k) => ({ ...s, seed: s.seed ?? seed + 1 + k })) };
  const text = await clock('encode', () => model.encode(story));
  const run = new StoryRun(model, story, text, model.denoiser(story), o, clock);
  const images: StoryImage[] = [];
  const references = await clock('references', () => run.references(images));
  for (let k = 0; k < story.scenes.length; k++) await run.scene(k, references, images);
  return { story: run.story, images, timings, provider: run.provider, notes: text.notes };
}

/** The state of one story run. */
class StoryRun {
  provider: Provider = 'cpu';

  constructor(
    private readonly model: StoryModel,
    readonly story: Story,
    private readonly text: StoryText,
    private readonly denoiser: StoryDenoiser,
    private readonly o: StoryRunOptions,
    private readonly clock: <R>(name: string, f: () => Promise<R>) => Promise<R>,
  ) {}

  private progress(phase: string): (step: number, total: number) => void {
    return (step, total) => this.o.onProgress?.({ phase, step, total });
  }

  private used(s: StorySession): StorySession {
    this.provider = s.session.provider;
    return s;
  }

  /** The plain denoiser with the probe, one scene row per guidance group. */
  private async probed(): Promise<StorySession> {
    const { story, text, denoiser } = this;
    const key = ['probe', storyBranches(denoiser).length, story.width, story.height, text.length];
    return this.used(await this.model.sessions.getBuilt(JSON.stringify(key), () => ({ graph: this.model.probedGraph(story, text.length, storyBranches(denoiser).length), info: [] })));
  }

  /** The story graph for `subjects` references. */
  private async storyGraph(subjects: number): Promise<StorySession> {
    const { story, text, denoiser } = this;
    const ir = story.ir;
    const o: StoryGraphOptions = {
      batch: { groups: storyBranches(denoiser).length, subjects },
      mutualLayers: new Set(ir.reposition ? mutualLayerIndices(this.model.selfAttentionLayerCount, ir.mutualFrom) : []),
      isolation: ir.isolation, mutualCrossAttention: ir.mutualCrossAttention, crossAttentionLambda: ir.crossAttentionLambda, refLogitBias: ir.refLogitBias,
    };
    const key = ['story', subjects, storyBranches(denoiser).length, story.width, story.height, text.length, ir];
    return this.used(await this.model.sessions.getBuilt(JSON.stringify(key), () => {
      const { graph, grids } = this.model.storyGraph(story, text.length, o);
      return { graph, info: grids };
    }));
  }

  private async decode(latents: Float32Array): Promise<{ width: number; height: number; rgb: Float32Array }> {
    const rgb = await this.clock('decode', () => this.model.decode(latents, this.story));
    return { width: this.story.width!, height: this.story.height!, rgb };
  }

  async references(images: StoryImage[]): Promise<Reference[]> {
    const out: Reference[] = [];
    const seed = this.story.seed!;
    for (const [i, subject] of this.story.subjects.entries()) {
      const phase = `reference ${i + 1}/${this.story.subjects.length}`;
      const byWords = !subject.box && !this.model.drawnMask;
      const drawnOrBox = (rgb: Float32Array): SourceMask => (subject.box ? { kind: 'box', box: subject.box } : this.model.drawnMask!(rgb, this.story));
      if (subject.image) {
        const { input, rgb } = await this.noisedImage(subject.image);
        const source = byWords ? this.mapMask((await this.probeOnly(1 + i, input, phase)), this.text.tokens.subjects[i]) : drawnOrBox(rgb);
        out.push({ input, source });
        continue;
      }
      const record: Float32Array[] = [];
      const pass = await runPass(this.denoiser, {
        session: (await this.probed()).session, textFeeds: this.text.feeds(textLayout(this.denoiser, 1 + i)), seed, record, probe: byWords,
        onStep: this.progress(phase), signal: this.o.signal,
      });
      const decoded = await this.decode(pass.latents);
      out.push({ input: recorded(record, subject.name), source: byWords ? this.mapMask(pass.probe!, this.text.tokens.subjects[i]) : drawnOrBox(decoded.rgb) });
      images.push({ kind: 'reference', index: i, prompt: subject.description, seed, ...decoded });
    }
    return out;
  }

  /** A user's reference image, noised to the level of each call with a fixed noise (story seed). */
  private async noisedImage(path: string): Promise<{ input: LatentInput; rgb: Float32Array }> {
    const [width, height] = [this.story.width!, this.story.height!];
    const pixels = await readImageNchw(path, width, height);
    const x0 = await this.model.encodePixels(pixels.map((v) => v * 2 - 1), this.story);
    const noise = new TorchGenerator(this.story.seed!).randn([x0.length]);
    const flow = this.story.sampler === 'flow_euler';
    const input: LatentInput = (_call, level) => {
      // The scaled model input of a clean x0 at noise level σ: VP (x0 + σε)/√(1+σ²); flow (1−σ)x0 + σε.
      const [a, b] = flow ? [1 - level, level] : [1 / Math.sqrt(1 + level * level), level / Math.sqrt(1 + level * level)];
      return x0.map((v, i) => a * v + b * noise[i]);
    };
    const plane = width * height;
    const rgb = new Float32Array(plane * 3);
    for (let c = 0; c < 3; c++) for (let p = 0; p < plane; p++) rgb[p * 3 + c] = pixels[c * plane + p];
    return { input, rgb };
  }

  /** A pass over given inputs, only for the probe (a user's image has no pass of its own). */
  private async probeOnly(row: number, input: LatentInput, phase: string): Promise<Float32Array> {
    const pass = await runPass(this.denoiser, {
      session: (await this.probed()).session, textFeeds: this.text.feeds(textLayout(this.denoiser, row)), seed: this.story.seed!, ownInput: input, probe: true,
      onStep: this.progress(phase), signal: this.o.signal,
    });
    return pass.probe!;
  }

  private mapMask(probe: Float32Array, positions: readonly number[]): SourceMask {
    return { kind: 'map', map: tokenMap(probe, this.text.length, positions), grid: this.model.probeGrid(this.story) };
  }

  async scene(k: number, references: readonly Reference[], images: StoryImage[]): Promise<void> {
    const scene = this.story.scenes[k];
    const { names, positions } = this.text.tokens.scenes[k];
    const seed = scene.seed!;
    const row = 1 + this.story.subjects.length + k;
    const phase = `scene ${k + 1}/${this.story.scenes.length}`;
    const needBoxes = names.some((n) => !scene.boxes[n]);
    let boxes: Boxes = {};
    if (needBoxes || this.o.plainScenes || names.length === 0) {
      const rehearsal = await this.clock('rehearsal', async () => runPass(this.denoiser, {
        session: (await this.probed()).session, textFeeds: this.text.feeds(textLayout(this.denoiser, row)), seed, probe: needBoxes,
        onStep: this.progress(`${phase} (${names.length ? 'plain' : 'no subjects'})`), signal: this.o.signal,
      }));
      if (names.length === 0 || this.o.plainScenes) {
        images.push({ kind: names.length === 0 ? 'scene' : 'plain-scene', index: k, prompt: scene.prompt, seed, ...(await this.decode(rehearsal.latents)) });
      }
      if (names.length === 0) return;
      if (needBoxes) boxes = this.proposals(names, rehearsal.probe!, positions);
    }
    settleSceneBoxes(this.story, k, names, boxes);

    const subjectIndex = names.map((n) => this.story.subjects.indexOf(subjectNamed(this.story, n)));
    const { session, info: grids } = await this.storyGraph(names.length);
    const ir = this.story.ir;
    const feeds = sceneMaskFeeds({
      grids, boxes: names.map((n) => boxes[n].box), sources: subjectIndex.map((i) => references[i].source),
      dropout: ir.dropout, startCall: ir.startStep * this.denoiser.callsPerStep, seed,
    });
    const pass = await this.clock('scenes', () => runPass(this.denoiser, {
      session, textFeeds: this.text.feeds(textLayout(this.denoiser, row, subjectIndex.map((i) => 1 + i))), seed,
      references: subjectIndex.map((i) => references[i].input), feeds, onStep: this.progress(phase), signal: this.o.signal,
    }));
    images.push({ kind: 'scene', index: k, prompt: scene.prompt, seed, boxes, ...(await this.decode(pass.latents)) });
  }

  private proposals(names: readonly string[], probe: Float32Array, positions: readonly number[][]): Boxes {
    const grid = this.model.probeGrid(this.story);
    const maps = positions.map((p) => tokenMap(probe, this.text.length, p));
    const proposed = proposeBoxes(maps, tokenMap(probe, this.text.length, [0]), grid);
    return Object.fromEntries(names.map((n, i) => [n, { box: proposed[i], from: 'attention' as const }]));
  }
}

/** A generated reference's recorded model inputs, looked up by call. */
function recorded(record: readonly Float32Array[], name: string): LatentInput {
  return (call) => {
    const x = record[call];
    if (!x) throw new Error(`internal: a scene made more model calls than the reference pass of "${name}" (${record.length})`);
    return x;
  };
}
