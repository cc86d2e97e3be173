// ControlNet during denoising, as diffusers' StableDiffusionControlNetPipeline does it: at each model
// evaluation every active ControlNet runs on the same latents, text and timestep as the UNet plus its
// control image; its residuals, scaled by its weight, are summed and added to the UNet's skip connections.
// A ControlNet is active for evaluation i of n when start ≤ i/n and (i+1)/n ≤ end. Guess mode: the
// residuals ramp from 0.1 (first skip) to 1 (mid block), and the unconditional rows get none.
import { buildControlNet, CONTROL_IMAGE, RESIDUAL_SCALES, residualCount } from '../../models/controlnet/controlnet.ts';
import type { ControlNetSource } from '../../checkpoints/controlnet.ts';
import { conditioningScale } from '../../models/controlnet/config.ts';
import { skipShapes } from '../../models/unet/encoder.ts';
import { downResidualName, MID_RESIDUAL } from '../../models/unet/unet.ts';
import type { UNetConfig } from '../../models/unet/config.ts';
import { Session, tensor, type ort, type Provider } from '../../runtime/session.ts';

export interface ControlUnit {
  net: ControlNet;
  /** [1, C, height, width] in [0, 1], at the image size being drawn. */
  image: Float32Array;
  weight: number;
  start: number;
  end: number;
  guessMode: boolean;
}

/** A loaded ControlNet and its sessions, one per batch shape (built on first use). */
export class ControlNet {
  private readonly sessions = new Map<string, Promise<Session>>();

  constructor(readonly source: ControlNetSource, private readonly o: { providers?: readonly Provider[]; dtype?: 'float32' | 'float16' } = {}) {}

  session(rows: number, height: number, width: number, tokens: number): Promise<Session> {
    const key = JSON.stringify([rows, height, width, tokens]);
    let s = this.sessions.get(key);
    if (!s) {
      const graph = buildControlNet(this.source.weights, this.source.config, { batch: rows, height, width, textLength: tokens, dtype: this.o.dtype });
      s = Session.create(graph, { providers: this.o.providers });
      s.catch(() => this.sessions.delete(key));
      this.sessions.set(key, s);
    }
    return s;
  }

  async release(): Promise<void> {
    for (const s of this.sessions.values()) await (await s).release().catch(() => undefined);
    this.sessions.clear();
  }
}

/** diffusers' controlnet_keep: whether a unit acts at model evaluation `i` of `n`. */
export const controlActive = (u: Pick<ControlUnit, 'start' | 'end'>, i: number, n: number): boolean => !(i / n < u.start || (i + 1) / n > u.end);

/** Per row and residual: the unit's weight, guess mode's ramp 10^(−1 … 0), 0 on unconditional rows in guess mode. */
export function residualScales(u: ControlUnit, unconditional: readonly boolean[], count: number): Float32Array {
  const out = new Float32Array(unconditional.length * count);
  unconditional.forEach((uncond, r) => {
    for (let k = 0; k < count; k++) {
      const ramp = u.guessMode ? 10 ** (-1 + k / (count - 1)) : 1;
      out[r * count + k] = u.guessMode && uncond ? 0 : Math.fround(ramp) * u.weight;
    }
  });
  return out;
}

export interface ControlStep {
  rows: number;
  height: number;
  width: number;
  tokens: number;
  /** Which rows are the unconditional (negative prompt) branch. */
  unconditional: readonly boolean[];
  /** The UNet's feeds of this evaluation (sample, timestep, text). */
  feeds: Record<string, ort.Tensor>;
  /** Model evaluation index and count, for start/end. */
  index: number;
  total: number;
}

/** The summed residuals of every unit active at this evaluation, as the UNet's residual feeds (zeros when none acts). */
export async function controlResiduals(units: readonly ControlUnit[], unet: UNetConfig, s: ControlStep): Promise<Record<string, ort.Tensor>> {
  const shapes = skipShapes(unet, s.height, s.width);
  const all = [...shapes.down, shapes.mid].map((shape) => new Float32Array(s.rows * shape[0] * shape[1] * shape[2]));
  const names = [...shapes.down.map((_, i) => downResidualName(i)), MID_RESIDUAL];
  for (const u of units) {
    if (!controlActive(u, s.index, s.total) || u.weight === 0) continue;
    const session = await u.net.session(s.rows, s.height, s.width, s.tokens);
    const config = u.net.source.config;
    const count = residualCount(config);
    const scale = conditioningScale(config);
    const image = new Float32Array(s.rows * u.image.length);
    for (let r = 0; r < s.rows; r++) image.set(u.image, r * u.image.length);
    const feeds: Record<string, ort.Tensor> = {
      ...pick(s.feeds, session.inner.inputNames),
      [CONTROL_IMAGE]: tensor(image, [s.rows, config.conditioningChannels, s.height * scale, s.width * scale]),
      [RESIDUAL_SCALES]: tensor(residualScales(u, s.unconditional, count), [s.rows, count]),
    };
    const out = await session.run(feeds);
    names.forEach((name, k) => {
      const r = out[name].data as Float32Array;
      const sum = all[k];
      for (let j = 0; j < sum.length; j++) sum[j] += r[j];
    });
  }
  return Object.fromEntries(names.map((name, k) => [name, tensor(all[k], [s.rows, ...[...shapes.down, shapes.mid][k]])]));
}

const pick = (feeds: Record<string, ort.Tensor>, names: readonly string[]) => Object.fromEntries(names.filter((n) => n in feeds).map((n) => [n, feeds[n]]));
