// LinFusion's SDEdit ladder (its ultra_text2image_w_sdedit notebook) on the Stable Diffusion pipeline:
// text-to-image at the base size, then per stage the previous 8-bit image resized ×2 with Pillow's
// default filter and img2img at the stage's strength, the generator re-seeded with the request's seed
// every stage. The VAE tiles by itself from 4K on (pipelines/models/vae/vae.ts). Each stage runs the UNet and the
// VAE as the memory plan chose for its size, and its UNet sessions are released before the next, larger stage.
import type { LadderStage, Rgb8 } from '../../jobs/api.ts';
import { toRgb8 } from '../images.ts';
import { pilResizeBicubic } from '../hires/pil-resize.ts';
import type { SdGenerateOptions, SdPipeline, SdResult } from './pipeline.ts';
import type { StageMemory } from '../hires/memory-plan.ts';

export interface LadderHooks {
  /** The step callback for stage `index` (0 = the base). */
  onStep?: (index: number) => SdGenerateOptions['onStep'];
  onTile?: (index: number) => SdGenerateOptions['onTile'];
  /** A stage's finished 8-bit images, called before the next stage starts (the last stage's are the result). */
  onStageDone?: (index: number, images: Rgb8[]) => void | Promise<void>;
}

export interface LadderResult extends SdResult {
  /** The latents after every step, per stage (parity checks). */
  latentsPerStage: Float32Array[][];
}

/** A stage that failed, with the stages finished before it (already handed to `onStageDone`). */
export class LadderStageError extends Error {
  constructor(readonly stage: number, readonly finished: number, readonly size: { width: number; height: number }, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    const memory = /alloc|out of memory|bad_alloc|ENOMEM|Array buffer allocation|Invalid typed array length/i.test(why);
    super(
      `ladder stage ${stage} (${size.width}×${size.height}) failed${memory ? ' running out of memory' : ''}: ${why}` +
        (finished ? ` (after ${finished} finished stage${finished > 1 ? 's' : ''})` : '') +
        (memory ? '. Use LinFusion attention, a smaller --hires size, or fewer images per batch' : ''),
      { cause },
    );
    this.name = 'LadderStageError';
  }
}

export async function drawLadder(pipeline: SdPipeline, base: SdGenerateOptions, stages: readonly LadderStage[], hooks: LadderHooks = {}, memory: readonly (StageMemory | undefined)[] = []): Promise<LadderResult> {
  const timings: Record<string, number> = {};
  const latentsPerStage: Float32Array[][] = [];
  const notes: string[] = [];
  let previous: SdResult | undefined;
  for (const [index, stage] of stages.entries()) {
    let result: SdResult;
    try {
      const init = previous && { initImage: resizedInit(previous, stage), strength: stage.strength };
      result = await pipeline.generate({ ...base, width: stage.width, height: stage.height, ...init, unetMemory: memory[index]?.unet, vaeTiles: memory[index], onStep: hooks.onStep?.(index), onTile: hooks.onTile?.(index) });
    } catch (e) {
      if (base.signal?.aborted) throw e;
      throw new LadderStageError(index, index, stage, e);
    } finally {
      if (index < stages.length - 1) await pipeline.releaseUNets();
    }
    for (const [k, v] of Object.entries(result.timings)) timings[index ? `stage ${index} ${k}` : k] = v;
    latentsPerStage.push(result.latentsPerStep);
    notes.push(...(result.notes ?? []).map((n) => `stage ${index} (${stage.width}×${stage.height}): ${n}`));
    if (index < stages.length - 1) await hooks.onStageDone?.(index, Array.from({ length: result.count }, (_, n) => toRgb8(result.images, n, result.width, result.height)));
    previous = result;
  }
  return { ...previous!, timings, latentsPerStage, notes };
}

/** The previous stage's images as 8-bit, resized to the stage's size as Pillow does: [n, 3, H, W] in [0, 1]. */
function resizedInit(previous: SdResult, stage: LadderStage): Float32Array {
  const plane = stage.width * stage.height;
  const out = new Float32Array(previous.count * 3 * plane);
  for (let n = 0; n < previous.count; n++) {
    const { pixels } = pilResizeBicubic(toRgb8(previous.images, n, previous.width, previous.height), stage.width, stage.height);
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[(n * 3 + c) * plane + p] = pixels[p * 3 + c] / 255;
  }
  return out;
}
