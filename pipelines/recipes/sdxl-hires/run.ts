// What LinFusion's SDXL HighRes and SuperRes recipes (./highres.ts, ./superres.ts) take and give.
import type { LadderStage } from '../../jobs/api.ts';
import type { RgbImage } from '../../metadata/encode-png.ts';
import type { SdGenerateOptions } from '../sd/pipeline.ts';
import type { StageMemory } from '../hires/memory-plan.ts';

/** The request's drawing settings shared by every stage. */
export type DualBranchRun = Pick<SdGenerateOptions, 'prompt' | 'negative' | 'steps' | 'cfg' | 'seed' | 'attention' | 'clipSkip' | 'embeddings' | 'signal'> & {
  /** The memory plan's choices per stage (the base first), as recipes/hires/memory-plan.ts makes them. */
  memory?: readonly (StageMemory | undefined)[];
};

export interface DualBranchHooks {
  /** The step callback of stage `index` (HighRes: 0 = the base). */
  onStep?: (index: number) => SdGenerateOptions['onStep'];
  onTile?: (index: number) => SdGenerateOptions['onTile'];
  /** A stage's finished image, before the next stage starts (the last stage's is the result). */
  onStageDone?: (index: number, image: RgbImage) => void | Promise<void>;
}

export interface DualBranchResult {
  image: RgbImage;
  /** Every stage as it ran (what the metadata records so the image can be made again). */
  stages: LadderStage[];
  /** The latents after every step, per stage (parity checks). */
  latentsPerStage: Float32Array[][];
  /** The latents each stage decoded (after the anchor renormalisation). */
  decodedPerStage: Float32Array[];
}
