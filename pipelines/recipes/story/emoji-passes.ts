// One denoising pass of an emoji story (a reference, a plain scene or an IR scene), as
// EmojiPipeline.generate: the seed's torch.randn([1, 4, 16, 16]) noise, the shifted time grid, CFG and
// Euler steps, so a pass without references is the plain generation. The batch rows are
//   [ref_1 … ref_N (cond), ref_1 … ref_N (uncond), scene (cond), scene (uncond)]
// (guidance groups in the emoji recipe's order, cond first; one group when cfg = 1), the reference
// rows fed the model inputs their own pass saw at that step (attention/reposition.ts).
import { Session, tensor, type ort } from '../../runtime/session.ts';
import { TorchGenerator } from '../../random/torch-randn.ts';
import { PROBE_OUTPUT } from './probe.ts';
import { eulerStep, guidedVelocity, hasUncond, timeGrid, type BranchPlan } from '../emoji/flow-sampler.ts';

export interface FlowPassContext {
  steps: number;
  cfg: number;
  shift: number;
  latent: { channels: number; size: number };
  signal?: AbortSignal;
}

/** The model input of a reference row at model call `call` (flow time `t`). */
export type FlowReferenceInput = (call: number, t: number) => Float32Array;

export interface FlowPassSpec {
  session: Session;
  /** text_tokens, text_mask, text_pooled for every batch row. */
  textFeeds: Record<string, ort.Tensor>;
  seed: number;
  /** Reference rows, one input function per subject (each repeated in every guidance group). */
  references?: readonly FlowReferenceInput[];
  /** Extra feeds (the IR masks) for model call `call`. */
  feeds?: (call: number) => Record<string, ort.Tensor>;
  /** Receives the model input of every call (a reference pass, for the scenes that use it). */
  record?: Float32Array[];
  /** Average the graph's cross-attention probe (of the scene's cond row) over the calls. */
  probe?: boolean;
  onStep?: (step: number, total: number) => void;
}

export interface FlowPassResult {
  latents: Float32Array;
  /** [S, L] probe of the scene's cond row, averaged over the calls. */
  probe?: Float32Array;
}

export const flowGroups = (cfg: number): number => (hasUncond({ cfg, perturb: 0 }) ? 2 : 1);

export async function runFlowPass(ctx: FlowPassContext, p: FlowPassSpec): Promise<FlowPassResult> {
  const { channels, size: side } = ctx.latent;
  const size = channels * side * side;
  const plan: BranchPlan = { cfg: ctx.cfg, perturb: 0 };
  const groups = flowGroups(ctx.cfg);
  const refs = p.references ?? [];
  const rows = groups * (refs.length + 1);
  const x = new TorchGenerator(p.seed).randn([1, channels, side, side]);
  const ts = timeGrid(ctx.steps, ctx.shift);
  let probeSum: Float32Array | undefined;
  for (let call = 0; call < ctx.steps; call++) {
    ctx.signal?.throwIfAborted();
    p.record?.push(x.slice());
    const sample = new Float32Array(rows * size);
    const refInputs = refs.map((input) => input(call, ts[call]));
    for (let g = 0; g < groups; g++) {
      refInputs.forEach((r, i) => sample.set(r, (g * refs.length + i) * size));
      sample.set(x, (groups * refs.length + g) * size);
    }
    const out = await p.session.run({
      ...p.textFeeds,
      ...p.feeds?.(call),
      x: tensor(sample, [rows, channels, side, side]),
      t: tensor(new Float32Array(rows).fill(ts[call]), [rows]),
    });
    if (p.probe) probeSum = accumulate(probeSum, out[PROBE_OUTPUT], rows, groups * refs.length);
    const model = out.out.data as Float32Array;
    eulerStep(x, guidedVelocity(plan, model.subarray(groups * refs.length * size), size), ts[call + 1] - ts[call]);
    p.onStep?.(call + 1, ctx.steps);
  }
  return { latents: x, probe: probeSum?.map((v) => v / ctx.steps) };
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
