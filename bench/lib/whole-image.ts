// One whole SD 1.5 image as the studio draws it (text encoding, 25 Euler steps with CFG, VAE decode), run
// a few times on one warm pipeline so the first run (session creation) and the warm ones are told apart.
import { performance } from 'node:perf_hooks';
import { SdPipeline } from '../../pipelines/recipes/sd/pipeline.ts';
import type { Provider } from '../../pipelines/runtime/session.ts';

export interface ImageSpec {
  pipeline: string;
  ep: Provider;
  dtype: 'float32' | 'float16';
  size: number;
  steps: number;
  runs: number;
  /** CUDA provider options for the native session (STUDIO_CUDA_TUNING); none: onnxruntime-node. */
  tuning?: string;
}

export interface ImageResult {
  runsMs: number[];
  /** Stage times of the last run (encode, denoise, decode). */
  stagesMs: Record<string, number>;
  provider: string;
}

export async function wholeImage(spec: ImageSpec): Promise<ImageResult> {
  // The pipeline's sessions read it (runtime/session.ts); this runs in a child process of its own.
  if (spec.tuning) process.env.STUDIO_CUDA_TUNING = spec.tuning;
  else process.env.STUDIO_CUDA_TUNING = 'binding';
  const pipe = SdPipeline.load(spec.pipeline, { providers: [spec.ep], dtype: spec.dtype });
  const runsMs: number[] = [];
  let last: Awaited<ReturnType<SdPipeline['generate']>> | undefined;
  for (let i = 0; i < spec.runs; i++) {
    const t0 = performance.now();
    last = await pipe.generate({ prompt: 'a lighthouse on a cliff at dusk', steps: spec.steps, cfg: 7.5, sampler: 'euler', seed: i, width: spec.size, height: spec.size });
    runsMs.push(performance.now() - t0);
  }
  await pipe.release();
  return { runsMs, stagesMs: last?.timings ?? {}, provider: last?.provider ?? spec.ep };
}
