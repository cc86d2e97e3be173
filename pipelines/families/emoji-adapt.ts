// Settings people bring from Stable Diffusion, mapped onto the built-in emoji models instead of refused:
// an SD sampler becomes their own flow-matching Euler, any size becomes 64×64 or 128×128 (the trained 2×
// upsampler), and `<lora:…>` tags are dropped. Each change is a note in the result.
import type { GenerateRequest } from '../jobs/api.ts';

/** The square sides the emoji models draw: 64 natively, 128 through the 2× upsampler. */
export const EMOJI_SIDES = [64, 128] as const;
const LORA_TAG = /<(?:lora|lyco):[^>]*>/gi;

export function adaptToEmoji(request: GenerateRequest, model: string): { request: GenerateRequest; notes: string[] } {
  const notes: string[] = [];
  const out: GenerateRequest = { ...request };
  if (request.sampler !== undefined && request.sampler !== 'flow_euler') {
    notes.push(`sampler ${request.sampler} is for Stable Diffusion models; ${model} samples with its own flow-matching Euler`);
    out.sampler = undefined;
  }
  if (request.width !== undefined || request.height !== undefined) {
    const [w, h] = [request.width ?? request.height!, request.height ?? request.width!];
    const side = Math.max(w, h) > EMOJI_SIDES[0] ? EMOJI_SIDES[1] : EMOJI_SIDES[0];
    if (w !== side || h !== side) notes.push(`size ${w}×${h}: ${model} draws ${EMOJI_SIDES.map((s) => `${s}×${s}`).join(' or ')}; drawing ${side}×${side}`);
    out.width = side;
    out.height = side;
  }
  const tags = [...(request.prompt.match(LORA_TAG) ?? []), ...(request.negative.match(LORA_TAG) ?? [])];
  if (tags.length) {
    notes.push(`${[...new Set(tags)].join(', ')} ignored: LoRAs are for Stable Diffusion models`);
    out.prompt = request.prompt.replace(LORA_TAG, ' ');
    out.negative = request.negative.replace(LORA_TAG, ' ');
  }
  return { request: out, notes };
}
