// Our sampler names beside the names A1111, ComfyUI and InvokeAI write into their metadata.
import { SAMPLER_NAMES, type SamplerName } from '../jobs/api.ts';

type BaseSampler = 'ddim' | 'pndm' | 'ddpm' | 'euler' | 'euler_a' | 'heun' | 'lms' | 'dpmpp_2m' | 'unipc';

/** A1111 `Sampler:` labels. PNDM as diffusers runs it for SD (skip_prk_steps) is A1111's PLMS. */
const A1111_LABELS: Record<BaseSampler, string> = {
  ddim: 'DDIM',
  pndm: 'PLMS',
  ddpm: 'DDPM',
  euler: 'Euler',
  euler_a: 'Euler a',
  heun: 'Heun',
  lms: 'LMS',
  dpmpp_2m: 'DPM++ 2M',
  unipc: 'UniPC',
};

function split(name: SamplerName): { base: BaseSampler; karras: boolean } {
  const karras = name.endsWith('_karras');
  return { base: (karras ? name.slice(0, -'_karras'.length) : name) as BaseSampler, karras };
}

function withKarras(base: string, karras: boolean): SamplerName | undefined {
  const name = karras ? `${base}_karras` : base;
  return (SAMPLER_NAMES as readonly string[]).includes(name) ? (name as SamplerName) : undefined;
}

/**
 * `Sampler` and `Schedule type` as A1111 (1.9+) writes them. Non-Karras schedules are written as
 * `Uniform` rather than `Automatic`, because A1111's "Automatic" means Karras for DPM++ 2M.
 */
export function toA1111Sampler(name: SamplerName): { sampler: string; scheduleType: string } {
  // Flow-matching Euler is what Forge writes for flow models (SD3, Flux): Euler on the Simple schedule.
  if (name === 'flow_euler') return { sampler: 'Euler', scheduleType: 'Simple' };
  const { base, karras } = split(name);
  return { sampler: A1111_LABELS[base], scheduleType: karras ? 'Karras' : 'Uniform' };
}

/** Reads both A1111 styles: 1.9+ (`Sampler: DPM++ 2M, Schedule type: Karras`) and older (`Sampler: DPM++ 2M Karras`). */
export function fromA1111Sampler(sampler: string, scheduleType?: string): SamplerName | undefined {
  let label = sampler.trim();
  if (label.toLowerCase() === 'euler' && scheduleType?.trim().toLowerCase() === 'simple') return 'flow_euler';
  let karras = scheduleType?.trim().toLowerCase() === 'karras';
  if (/ Karras$/i.test(label)) {
    label = label.slice(0, -' Karras'.length);
    karras = true;
  }
  const base = (Object.keys(A1111_LABELS) as BaseSampler[]).find((k) => A1111_LABELS[k].toLowerCase() === label.toLowerCase());
  return base && withKarras(base, karras);
}

const COMFY_SAMPLERS: Record<string, BaseSampler> = {
  ddim: 'ddim',
  ddpm: 'ddpm',
  euler: 'euler',
  euler_ancestral: 'euler_a',
  heun: 'heun',
  lms: 'lms',
  dpmpp_2m: 'dpmpp_2m',
  uni_pc: 'unipc',
  uni_pc_bh2: 'unipc',
};

/** ComfyUI KSampler `sampler_name` + `scheduler` (karras, normal, simple, …). */
export function fromComfySampler(samplerName: string, scheduler?: string): SamplerName | undefined {
  const base = COMFY_SAMPLERS[samplerName];
  return base && withKarras(base, scheduler === 'karras');
}

/** InvokeAI scheduler names: `euler`, `euler_a`, `dpmpp_2m_k` (Karras), `unipc`, … */
export function fromInvokeScheduler(scheduler: string): SamplerName | undefined {
  const karras = scheduler.endsWith('_k');
  const base = karras ? scheduler.slice(0, -2) : scheduler;
  return base in A1111_LABELS ? withKarras(base, karras) : undefined;
}
