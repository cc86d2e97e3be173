// The samplers by their CLI names. A name may pin options on top of the model's scheduler config:
// "euler" and "euler_karras" differ only in use_karras_sigmas, whatever the config says.
// Two samplers follow their models' own training code instead of a diffusers scheduler and are called
// by those pipelines directly: rectified-flow.ts (the emoji models) and iddpm.ts (DiT, DiCo).

import type { SchedulerConfig } from './config.ts';
import type { Sampler } from './types.ts';
import { SAMPLER_NAMES, isSamplerName, type SamplerName } from './names.ts';
import { ddim } from './ddim.ts';
import { pndm } from './pndm.ts';
import { euler, eulerAncestral } from './euler.ts';
import { heun } from './heun.ts';
import { lms } from './lms.ts';
import { dpmpp2m } from './dpmpp-2m.ts';
import { unipc } from './unipc.ts';
import { ddpm } from './ddpm.ts';
import { flowEuler } from './flow-euler.ts';

export type { Sampler, SampleArgs, SamplingPlan, ModelFn, StepCallback } from './types.ts';
export type { SchedulerConfig } from './config.ts';
export { SchedulerConfigError } from './config.ts';
export { img2imgStartIndex } from './img2img.ts';
export { SAMPLER_NAMES, SAMPLER_LABELS, type SamplerName } from './names.ts';

/** The sampler with `overrides` merged over every config it is given. */
function pinned(base: Sampler, name: string, overrides: SchedulerConfig): Sampler {
  const merge = (config: SchedulerConfig): SchedulerConfig => ({ ...config, ...overrides });
  return {
    name,
    stochastic: base.stochastic,
    plan: (config, steps) => base.plan(merge(config), steps),
    sample: (args) => base.sample({ ...args, config: merge(args.config) }),
    addNoise: (config, steps, startIndex, x0, noise) => base.addNoise(merge(config), steps, startIndex, x0, noise),
  };
}

const NO_KARRAS = { use_karras_sigmas: false };
const KARRAS = { use_karras_sigmas: true };
const DPMPP_2M = { algorithm_type: 'dpmsolver++', solver_order: 2 };

export const SAMPLERS = {
  ddim,
  pndm,
  euler: pinned(euler, 'euler', NO_KARRAS),
  euler_karras: pinned(euler, 'euler_karras', KARRAS),
  euler_a: eulerAncestral,
  heun: pinned(heun, 'heun', NO_KARRAS),
  heun_karras: pinned(heun, 'heun_karras', KARRAS),
  lms: pinned(lms, 'lms', NO_KARRAS),
  lms_karras: pinned(lms, 'lms_karras', KARRAS),
  dpmpp_2m: pinned(dpmpp2m, 'dpmpp_2m', { ...DPMPP_2M, ...NO_KARRAS }),
  dpmpp_2m_karras: pinned(dpmpp2m, 'dpmpp_2m_karras', { ...DPMPP_2M, ...KARRAS }),
  unipc: pinned(unipc, 'unipc', NO_KARRAS),
  unipc_karras: pinned(unipc, 'unipc_karras', KARRAS),
  ddpm,
  flow_euler: flowEuler,
} as const satisfies Record<SamplerName, Sampler>;

export function getSampler(name: string): Sampler {
  if (!isSamplerName(name)) {
    throw new Error(`unknown sampler "${name}"; choose one of: ${SAMPLER_NAMES.join(', ')}`);
  }
  return SAMPLERS[name];
}
