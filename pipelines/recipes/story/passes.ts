// One denoising pass of a story (a reference, a rehearsal or a scene), as SdPipeline's txt2img loop:
// the same noise draw, sampler and CFG, so a pass without references is the plain generation. A pass
// may carry reference rows (fed from their own pass's recorded model inputs), record its own model
// inputs, and average the cross-attention probe of its conditional row.
import type { ort } from '../../runtime/session.ts';
import { Session, tensor } from '../../runtime/session.ts';
import { TorchGenerator } from '../../random/torch-randn.ts';
import type { Sampler, SchedulerConfig } from '../../samplers/index.ts';
import { UNET_OUTPUT } from '../../models/unet/unet.ts';
import { combine, type GuidancePlan } from '../sd/guidance.ts';
import { PROBE_OUTPUT } from './probe.ts';

export interface PassContext {
  sampler: Sampler;
  config: SchedulerConfig;
  steps: number;
  plan: GuidancePlan;
  latent: { channels: number; height: number; width: number };
  signal?: AbortSignal;
}

/** The model input of a reference row at model call `call` (noise level `sigma`). */
export type ReferenceInput = (call: number, sigma: number) => Float32Array;

export interface PassSpec {
  session: Session;
  /** encoder_hidden_states (+ SDXL's text_embeds, time_ids) for every batch row. */
  textFeeds: Record<string, ort.Tensor>;
  seed: number;
  /** Reference rows, one input function per subject (each repeated in every guidance group). */
  references?: readonly ReferenceInput[];
  /** Replaces the pass's own latents as model input (probing a user's reference image). */
  ownInput?: ReferenceInput;
  /** Extra feeds (the IR masks) for model call `call`. */
  feeds?: (call: number) => Record<string, ort.Tensor>;
  /** Receives the model input of every call (a reference pass, for the scenes that use it). */
  record?: Float32Array[];
  /** Average the graph's cross-attention probe over the calls. */
  probe?: boolean;
  onStep?: (step: number, total: number) => void;
}

export interface PassResult {
  latents: Float32Array;
  /** [S, L] probe of the last (conditional) row, averaged over the calls. */
  probe?: Float32Array;
}

const groupsOf = (plan: GuidancePlan) => (plan.cfg > 1 ? 2 : 1);

export async function runPass(ctx: PassContext, p: PassSpec): Promise<PassResult> {
  const { channels, height, width } = ctx.latent;
  const size = channels * height * width;
  const groups = groupsOf(ctx.plan);
  const refs = p.references ?? [];
  const rows = groups * (refs.length + 1);
  const generator = new TorchGenerator(p.seed);
  const x = generator.randn([1, channels, height, width]);
  const { initNoiseSigma } = ctx.sampler.plan(ctx.config, ctx.steps);
  if (initNoiseSigma !== 1) for (let i = 0; i < x.length; i++) x[i] *= initNoiseSigma;
  let probeSum: Float32Array | undefined;
  let call = 0;
  const latents = await ctx.sampler.sample({
    model: async (xIn, timestep, sigma) => {
      ctx.signal?.throwIfAborted();
      const own = p.ownInput ? p.ownInput(call, sigma) : xIn;
      p.record?.push(own.slice());
      const sample = new Float32Array(rows * size);
      const refInputs = refs.map((input) => input(call, sigma));
      for (let g = 0; g < groups; g++) {
        refInputs.forEach((r, i) => sample.set(r, (g * refs.length + i) * size));
        sample.set(own, (groups * refs.length + g) * size);
      }
      const out = await p.session.run({
        ...p.textFeeds,
        ...p.feeds?.(call),
        sample: tensor(sample, [rows, channels, height, width]),
        timestep: tensor(new Float32Array(rows).fill(timestep), [rows]),
      });
      if (p.probe) probeSum = accumulate(probeSum, out[PROBE_OUTPUT], rows);
      call++;
      const model = out[UNET_OUTPUT].data as Float32Array;
      return combine(ctx.plan, model.subarray(groups * refs.length * size), size);
    },
    x, config: ctx.config, steps: ctx.steps, generator,
    onStep: (i, _x, total) => {
      p.onStep?.(i + 1, total);
      ctx.signal?.throwIfAborted();
    },
  });
  return { latents, probe: probeSum?.map((v) => v / call) };
}

function accumulate(sum: Float32Array | undefined, probe: ort.Tensor | undefined, rows: number): Float32Array {
  if (!probe) throw new Error(`internal: the pass asked for the probe but the graph has no ${PROBE_OUTPUT} output`);
  const data = probe.data as Float32Array;
  const per = data.length / rows;
  const last = data.subarray((rows - 1) * per);
  const out = sum ?? new Float32Array(per);
  for (let i = 0; i < per; i++) out[i] += last[i];
  return out;
}
