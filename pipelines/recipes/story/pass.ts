// One denoising pass of a story (a reference, a rehearsal or a scene), as the family's own txt2img
// loop: the same noise draw, sampler and guidance, so a pass without references is the plain
// generation. A pass may carry reference rows (fed from their own pass's recorded model inputs),
// record its own model inputs, and average the cross-attention probe of its conditional scene row.
// The batch rows are, per guidance group, the references and then the scene (attention/reposition.ts).
import type { ort, Session } from '../../runtime/session.ts';
import { PROBE_OUTPUT } from './probe.ts';
import { combine } from '../../guidance/cfg-pag.ts';
import { storyBranches, type LatentInput, type StoryDenoiser } from './story-model.ts';

export interface PassSpec {
  session: Session;
  /** The text feeds of every batch row. */
  textFeeds: Record<string, ort.Tensor>;
  seed: number;
  /** Reference rows, one input function per subject (each repeated in every guidance group). */
  references?: readonly LatentInput[];
  /** Replaces the pass's own latents as model input (probing a user's reference image). */
  ownInput?: LatentInput;
  /** Extra feeds (the IR masks) for model call `call`. */
  feeds?: (call: number) => Record<string, ort.Tensor>;
  /** Receives the model input of every call (a reference pass, for the scenes that use it). */
  record?: Float32Array[];
  /** Average the graph's cross-attention probe over the calls. */
  probe?: boolean;
  onStep?: (step: number, total: number) => void;
  signal?: AbortSignal;
}

export interface PassResult {
  latents: Float32Array;
  /** [S, L] probe of the conditional scene row, averaged over the calls. */
  probe?: Float32Array;
}

export async function runPass(d: StoryDenoiser, p: PassSpec): Promise<PassResult> {
  const { channels, height, width } = d.latent;
  const size = channels * height * width;
  const refs = p.references ?? [];
  const order = storyBranches(d);
  const rows = order.length * (refs.length + 1);
  const sceneStart = order.length * refs.length;
  let probeSum: Float32Array | undefined;
  let call = 0;
  const latents = await d.sample(p.seed, async (x, level, timestep) => {
    p.signal?.throwIfAborted();
    const own = p.ownInput ? p.ownInput(call, level) : x;
    p.record?.push(own.slice());
    const sample = new Float32Array(rows * size);
    const refInputs = refs.map((input) => input(call, level));
    for (let g = 0; g < order.length; g++) {
      refInputs.forEach((r, i) => sample.set(r, (g * refs.length + i) * size));
      sample.set(own, (sceneStart + g) * size);
    }
    const out = await p.session.run({ ...p.textFeeds, ...p.feeds?.(call), ...d.inputs(sample, rows, timestep) });
    if (p.probe) probeSum = accumulate(probeSum, out[PROBE_OUTPUT], rows, sceneStart + order.indexOf('cond'));
    call++;
    return combine(d.plan, (out[d.output].data as Float32Array).subarray(sceneStart * size), size, d.guidance);
  }, (step, total) => p.onStep?.(step, total), p.signal);
  return { latents, probe: probeSum?.map((v) => v / call) };
}

function accumulate(sum: Float32Array | undefined, probe: ort.Tensor | undefined, rows: number, row: number): Float32Array {
  if (!probe) throw new Error(`internal: the pass asked for the probe but the graph has no ${PROBE_OUTPUT} output`);
  const data = probe.data as Float32Array;
  const per = data.length / rows;
  const picked = data.subarray(row * per, (row + 1) * per);
  const out = sum ?? new Float32Array(per);
  for (let i = 0; i < per; i++) out[i] += picked[i];
  return out;
}
