// What IR-Diffusion (run-story.ts) needs from a model family: how it encodes the story's prompts,
// how it samples and how its denoiser is called and guided, the two graphs it builds (plain with the
// cross-attention probe, and the story graph with the IR mask inputs), and how it decodes and encodes
// images. One adapter per family: sd-story-model.ts (SD 1.x/2.x/XL UNets), emoji-dit-story-model.ts.
import type { Graph } from '../../onnx/graph.ts';
import { branches, type Branch, type GuidanceConvention, type GuidancePlan } from '../../guidance/cfg-pag.ts';
import type { TokenGrid } from '../../attention/isolation.ts';
import type { GridInputs, StoryGraphOptions } from '../../attention/reposition.ts';
import type { ort, Provider } from '../../runtime/session.ts';
import type { Box } from './boxes.ts';
import type { SourceMask } from './scene-masks.ts';
import type { ModelSessions } from '../../runtime/session-cache.ts';
import type { Story, StoryTokens } from './story.ts';

/** The story's prompts encoded once: text row 0 is the negative prompt, then each subject's description, then each scene's prompt. */
export interface StoryText {
  /** Where each subject is named in its description and each scene's subjects in its prompt. */
  tokens: StoryTokens;
  /** Text tokens per row (the width of a cross-attention probe). */
  length: number;
  /** The denoiser's text feeds for batch rows holding these text rows. */
  feeds(layout: readonly number[]): Record<string, ort.Tensor>;
  /** Words the model did not know or cut off (the story still runs). */
  notes: string[];
}

/** A reference row's model input at model call `call`, noise level `level` (σ, or the flow time). */
export type LatentInput = (call: number, level: number) => Float32Array;

/** How one denoising pass of a story samples and calls its graph. */
export interface StoryDenoiser {
  latent: { channels: number; height: number; width: number };
  /** The story's guidance, and the family's convention for its branches (guidance/cfg-pag.ts). */
  plan: GuidancePlan;
  guidance: GuidanceConvention;
  /** Model calls per sampler step (the IR start step counts steps). */
  callsPerStep: number;
  /** Draws the seed's noise and runs the sampler; `predict` runs the graph on the latents and returns the guided prediction. */
  sample(
    seed: number,
    predict: (x: Float32Array, level: number, timestep: number) => Promise<Float32Array>,
    onStep: (step: number, total: number) => void,
    signal?: AbortSignal,
  ): Promise<Float32Array>;
  /** The graph's latent and time feeds for `rows` batch rows. */
  inputs(sample: Float32Array, rows: number, timestep: number): Record<string, ort.Tensor>;
  /** The graph's prediction output. */
  output: string;
}

export interface StoryModel {
  /** How many self-attention layers run, in execution order (the mutual layers are the last share of them). */
  readonly selfAttentionLayerCount: number;
  /** Where its sessions live, with its session options (the engine's cache; released with the model). */
  readonly sessions: ModelSessions;
  /** The size and sampler this model draws the story with; throws a StoryInputError for ones it cannot. */
  canvas(story: Story): { width: number; height: number; sampler: Story['sampler'] };
  /** Locates the subjects' words and encodes every prompt of the (settled) story. */
  encode(story: Story): Promise<StoryText>;
  denoiser(story: Story): StoryDenoiser;
  /** The plain denoiser for `rows` rows with the cross-attention probe output (PROBE_OUTPUT, [rows, S, L]). */
  probedGraph(story: Story, textLength: number, rows: number): Graph;
  /** The story graph; `grids` lists its IR mask inputs. */
  storyGraph(story: Story, textLength: number, o: StoryGraphOptions): { graph: Graph; grids: readonly GridInputs[] };
  /** The token grid of the probe's maps. */
  probeGrid(story: Story): TokenGrid;
  /** Latents [1, C, h, w] → [height, width, 3] in [0, 1]. */
  decode(latents: Float32Array, story: Story): Promise<Float32Array>;
  /** Pixels [1, 3, height, width] in [−1, 1] → latents [1, C, h, w]. */
  encodePixels(pixels: Float32Array, story: Story): Promise<Float32Array>;
  /**
   * Where a subject is in its reference image, found from the drawing ([height, width, 3] in [0, 1]);
   * without it, from the cross-attention maps of the subject's words.
   */
  drawnMask?(rgb: Float32Array, story: Story): SourceMask;
  release(): Promise<void>;
}

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
  /** Unknown or cut-off words in the prompts (they run, read as unknown or dropped). */
  notes: string[];
}

/** The guidance branches of one call, in batch order: each a group of rows (the references, then the scene). */
export const storyBranches = (d: StoryDenoiser): Branch[] => branches(d.plan, d.guidance);

/** The rows' text layout: per branch the references' rows (the negative prompt, row 0, in the unconditional one), then the scene's. */
export function textLayout(d: StoryDenoiser, sceneRow: number, refRows: readonly number[] = []): number[] {
  const order = storyBranches(d);
  const pick = (row: number, b: Branch) => (b === 'uncond' ? 0 : row);
  return [...order.flatMap((b) => refRows.map((r) => pick(r, b))), ...order.map((b) => pick(sceneRow, b))];
}
