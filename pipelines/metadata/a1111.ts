// A1111's `parameters` text ("infotext"), the format Civitai, Forge, SD.Next and others read:
//
//   <prompt, may span lines>
//   Negative prompt: <negative, may span lines>      ← omitted when the negative is empty
//   Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x512, …
//
// Writing follows create_infotext(): `Key: value` joined by ", ", values containing `,` `:` or a
// newline written as JSON strings, a value equal to its key written bare, the whole text stripped.
// Reading follows parse_generation_parameters(): the last line holds the parameters only when at
// least 3 `Key: value` pairs match in it, otherwise it is still prompt text.
import { a1111ImageFiles } from '../jobs/api-library.ts';
import { controlUnitsOf, isControlUnitKey } from './a1111-control.ts';
import { scanParams } from './a1111-params.ts';
import { fromA1111Sampler } from './sampler-names.ts';
import { compact, toInteger, toNumber, type ImportedSettings } from './settings.ts';
import type { HiresUpscaler } from '../jobs/api.ts';

export const A1111_KEYWORD = 'parameters';

export type A1111Value = string | number | boolean | null | undefined;

export interface A1111Text {
  prompt: string;
  negativePrompt?: string;
  /** In A1111's order; null/undefined values are left out. */
  params: ReadonlyArray<readonly [key: string, value: A1111Value]>;
}

function pythonStr(value: string | number | boolean): string {
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return String(value);
}

/** A1111's quote(): JSON-quote a value that would break the `Key: value, …` line. */
export function quoteA1111Value(value: string): string {
  return /[,:\n]/.test(value) ? JSON.stringify(value) : value;
}

export function formatA1111(text: A1111Text): string {
  const line = text.params
    .filter((entry): entry is readonly [string, string | number | boolean] => entry[1] !== null && entry[1] !== undefined)
    .map(([key, value]) => {
      const v = pythonStr(value);
      return key === v ? key : `${key}: ${quoteA1111Value(v)}`;
    })
    .join(', ');
  const negative = text.negativePrompt ? `\nNegative prompt: ${text.negativePrompt}` : '';
  return `${text.prompt}${negative}\n${line}`.trim();
}

const SIZE_RE = /^(\d+)x(\d+)$/;

function unquote(value: string): string {
  if (value.length < 2 || !value.startsWith('"') || !value.endsWith('"')) return value;
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === 'string' ? parsed : value;
  } catch {
    return value;
  }
}

export interface A1111Parameters extends ImportedSettings {
  source: 'a1111';
  prompt: string;
  negativePrompt: string;
  scheduleType?: string;
  version?: string;
  /** Every `Key: value` of the parameter line, in order, unquoted. */
  params: Record<string, string>;
  /** The params not covered by the typed fields: Hires …, Lora hashes, ADetailer …, extensions' keys. */
  extra: Record<string, string>;
}

/** Keys the typed fields take. */
const TYPED_KEYS = new Set([
  'Steps',
  'Sampler',
  'Schedule type',
  'CFG scale',
  'Seed',
  'Size',
  'Model',
  'Model hash',
  'Denoising strength',
  'Clip skip',
  'Hires upscale',
  'Hires steps',
  'Hires upscaler',
  'Version',
]);

/** A1111's labels for the hires fix upscalers the studio has (A1111's "Latent" is bilinear). */
export const A1111_HIRES_UPSCALERS: Record<HiresUpscaler, string> = {
  latent: 'Latent',
  'latent-nearest': 'Latent (nearest)',
  'latent-bicubic': 'Latent (bicubic)',
  lanczos: 'Lanczos',
};

/** A1111's hires fix fields: the scale, the second pass's steps (0 or absent: the first pass's) and the upscaler. */
function hiresFixOf(params: Record<string, string>): ImportedSettings['hiresFix'] {
  const scale = toNumber(params['Hires upscale']);
  if (scale === undefined || scale <= 1) return undefined;
  const upscaler = params['Hires upscaler'];
  const studioUpscaler = (Object.keys(A1111_HIRES_UPSCALERS) as HiresUpscaler[]).find((u) => A1111_HIRES_UPSCALERS[u] === upscaler);
  return compact({ scale, steps: toInteger(params['Hires steps']) || undefined, upscaler, studioUpscaler });
}

export function parseA1111(text: string): A1111Parameters {
  const lines = text.trim().split('\n');
  let last = lines.pop() ?? '';
  let matches = scanParams(last);
  if (matches.length < 3) {
    matches = [];
    lines.push(last);
    last = '';
  }
  let prompt = '';
  let negative = '';
  let inNegative = false;
  for (const raw of lines) {
    let line = raw.trim();
    if (line.startsWith('Negative prompt:')) {
      inNegative = true;
      line = line.slice('Negative prompt:'.length).trim();
    }
    if (inNegative) negative += (negative === '' ? '' : '\n') + line;
    else prompt += (prompt === '' ? '' : '\n') + line;
  }

  const params: Record<string, string> = {};
  for (const m of matches) params[m.key] = unquote(m.value);
  const extra = Object.fromEntries(Object.entries(params).filter(([k]) => !TYPED_KEYS.has(k) && !isControlUnitKey(k)));
  const size = SIZE_RE.exec(params['Size'] ?? '');
  const sampler = params['Sampler'];
  const scheduleType = params['Schedule type'];

  const files = a1111ImageFiles({ prompt, model: params['Model'], modelHash: params['Model hash'], params });
  return compact({
    source: 'a1111' as const,
    prompt,
    negativePrompt: negative,
    steps: toInteger(params['Steps']),
    sampler,
    scheduleType,
    scheduler: scheduleType,
    studioSampler: sampler === undefined ? undefined : fromA1111Sampler(sampler, scheduleType),
    cfgScale: toNumber(params['CFG scale']),
    seed: toInteger(params['Seed']),
    width: size ? Number(size[1]) : undefined,
    height: size ? Number(size[2]) : undefined,
    model: params['Model'],
    modelHash: params['Model hash'],
    denoisingStrength: toNumber(params['Denoising strength']),
    clipSkip: toInteger(params['Clip skip']),
    hiresFix: hiresFixOf(params),
    ...controlUnitsOf(params),
    version: params['Version'],
    files,
    params,
    extra,
  });
}
