// A stand-in engine for the studio's end-to-end tests until the Stable Diffusion pipeline is wired
// into runGenerate: loaded by the engine host through STUDIO_TEST_ENGINE, it runs a real step loop
// (progress, previews, cancellation between steps) and returns images made from the seed, and it lists
// the self-attention layers of a small UNet for the head grid. Each request it receives is appended as
// a JSON line to $STUDIO_TEST_ENGINE_LOG, so tests can check what the UI sent.
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GenerateOptions, GenerateRequest, GenerateResult, GeneratedImage } from '../pipelines/jobs/api.ts';

const STEP_MS = Number(process.env.STUDIO_TEST_ENGINE_STEP_MS ?? 40);

/** A few layers of SD 1.5's UNet self-attention (8 heads each), enough to exercise the grid. */
const LAYERS = [
  { index: 0, name: 'down_blocks.0.attentions.0.transformer_blocks.0.attn1', heads: 8 },
  { index: 1, name: 'down_blocks.1.attentions.0.transformer_blocks.0.attn1', heads: 8 },
  { index: 2, name: 'mid_block.attentions.0.transformer_blocks.0.attn1', heads: 8 },
  { index: 3, name: 'up_blocks.1.attentions.0.transformer_blocks.0.attn1', heads: 8 },
];

export function listHeads(): { layers: typeof LAYERS } {
  return { layers: LAYERS };
}

/** An image that depends on the seed, the batch index and how far denoising got. */
function render(width: number, height: number, seed: number, index: number, done: number): Uint8Array {
  const px = new Uint8Array(width * height * 3);
  const hue = (seed * 37 + index * 91) % 256;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      px[i] = (hue + (x * (255 - hue)) / width);
      px[i + 1] = ((y * 255) / height) * done;
      px[i + 2] = 255 - hue;
    }
  }
  return px;
}

export async function runGenerate(request: GenerateRequest, options: GenerateOptions = {}): Promise<GenerateResult> {
  if (process.env.STUDIO_TEST_ENGINE_LOG) appendFileSync(process.env.STUDIO_TEST_ENGINE_LOG, `${JSON.stringify(request)}\n`);
  // Outpainting draws the init image's size plus the new border, as the real pipeline does.
  const o = request.outpaint;
  const width = (request.width ?? 64) + (o ? o.left + o.right : 0);
  const height = (request.height ?? 64) + (o ? o.top + o.bottom : 0);
  const steps = request.steps ?? 4;
  for (let step = 1; step <= steps; step++) {
    options.signal?.throwIfAborted();
    await sleep(STEP_MS);
    const preview = { width: 16, height: 16, pixels: render(16, 16, request.seed, 0, step / steps) };
    (options.onProgress as ((p: object) => void) | undefined)?.({ phase: 'denoise', step, total: steps, preview });
  }
  const images: GeneratedImage[] = Array.from({ length: request.batch }, (_, batchIndex) => ({
    width,
    height,
    pixels: render(width, height, request.seed, batchIndex, 1),
    seed: request.seed,
    batchIndex,
  }));
  return { images, model: { name: 'e2e-test-engine', family: 'sd1' }, ep: 'cpu', timings: {} };
}
