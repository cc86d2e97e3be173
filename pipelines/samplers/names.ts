// The samplers' ids and labels as data only, so the renderer and request schemas can list them
// without loading any sampler code. ./index.ts maps each id to its implementation.

/** Every sampler id, in the order help texts and pickers show them. */
export const SAMPLER_NAMES = [
  'ddim',
  'pndm',
  'euler',
  'euler_karras',
  'euler_a',
  'heun',
  'heun_karras',
  'lms',
  'lms_karras',
  'dpmpp_2m',
  'dpmpp_2m_karras',
  'unipc',
  'unipc_karras',
  'ddpm',
  'flow_euler',
] as const;

export type SamplerName = (typeof SAMPLER_NAMES)[number];

/** What a picker shows for each id. */
export const SAMPLER_LABELS: Record<SamplerName, string> = {
  ddim: 'DDIM',
  pndm: 'PNDM (PLMS)',
  euler: 'Euler',
  euler_karras: 'Euler Karras',
  euler_a: 'Euler a',
  heun: 'Heun',
  heun_karras: 'Heun Karras',
  lms: 'LMS',
  lms_karras: 'LMS Karras',
  dpmpp_2m: 'DPM++ 2M',
  dpmpp_2m_karras: 'DPM++ 2M Karras',
  unipc: 'UniPC',
  unipc_karras: 'UniPC Karras',
  ddpm: 'DDPM',
  flow_euler: 'Flow Euler',
};

export const isSamplerName = (name: string): name is SamplerName => (SAMPLER_NAMES as readonly string[]).includes(name);
