// Every model family the studio runs, and how a model is matched to one: each family scores what
// pipelines/checkpoints reads from the files (or an emoji config's architecture); the highest score
// wins. Adding a family is adding a folder here and a line to FAMILIES.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectPath, resolveModelPath } from '../checkpoints/index.ts';
import { BadRequestError, type GenerateRequest } from '../jobs/api.ts';
import { DEFAULT_EMOJI_MODEL, isEmojiModelName } from '../recipes/emoji/models.ts';
import type { Releasable } from '../runtime/session-cache.ts';
import { dico } from './dico/index.ts';
import { dit } from './dit/index.ts';
import { emojiDico } from './emoji-dico/index.ts';
import { emojiDit } from './emoji-dit/index.ts';
import { emojiLit } from './emoji-lit/index.ts';
import { sd1 } from './sd1/index.ts';
import { sd2 } from './sd2/index.ts';
import { sdxl } from './sdxl/index.ts';
import { sd3 } from './sd3/index.ts';
import { flux } from './flux/index.ts';
import { pixart } from './pixart/index.ts';
import type { ModelFamily, ModelProbe } from './types.ts';

// Each family is typed by its own pipeline; the registry holds them as families of any pipeline.
export const FAMILIES = [emojiLit, emojiDit, emojiDico, sd1, sd2, sdxl, sd3, flux, pixart, dit, dico] as unknown as readonly ModelFamily[];

/** The embedded model a request without a model draws with. */
export const DEFAULT_MODEL = DEFAULT_EMOJI_MODEL;

export function familyById(id: string): ModelFamily | undefined {
  return FAMILIES.find((f) => f.id === id);
}

/** An emoji denoiser folder's architecture: config.json naming an emoji architecture, no diffusers model_index.json. */
function emojiArchitecture(path: string): string | undefined {
  const config = join(path, 'config.json');
  if (!existsSync(config) || existsSync(join(path, 'model_index.json'))) return undefined;
  try {
    const arch = (JSON.parse(readFileSync(config, 'utf8')) as { architecture?: unknown }).architecture;
    return typeof arch === 'string' && arch.startsWith('emoji-') ? arch : undefined;
  } catch {
    return undefined;
  }
}

/** What a model name or path is, before anything is loaded. */
export function probeModel(model: string | undefined, modelsDir: string | undefined): ModelProbe {
  const name = model ?? DEFAULT_MODEL;
  if (isEmojiModelName(name)) return { target: name, emojiArchitecture: name };
  const path = resolveModelPath(name, modelsDir);
  const architecture = emojiArchitecture(path);
  if (architecture) return { target: path, emojiArchitecture: architecture };
  return { target: path, detection: detectPath(path) };
}

export interface ResolvedModel<P extends Releasable = Releasable> {
  family: ModelFamily<P>;
  probe: ModelProbe;
}

/** The family of a model, or a BadRequestError saying what the path holds and what runs. */
export function resolveModel(model: string | undefined, modelsDir: string | undefined, job = 'studio generate'): ResolvedModel {
  const probe = probeModel(model, modelsDir);
  let best: { family: ModelFamily; score: number } | undefined;
  for (const family of FAMILIES) {
    const score = family.score(probe);
    if (score > 0 && (!best || score > best.score)) best = { family, score };
  }
  if (best) return { family: best.family, probe };
  const what = probe.detection?.description ?? `an emoji model of architecture ${probe.emojiArchitecture}, which this studio does not know`;
  throw new BadRequestError(`${probe.target}: ${what}; ${job} runs: ${FAMILIES.map((f) => f.label).join(', ')}`);
}

/** The method names a model picker shows for a family: its attention variants, then guidance and modes. */
export function methodNames(family: ModelFamily): string[] {
  const m = family.methods;
  const flags: Array<[boolean, string]> = [[m.pag, 'pag'], [m.softpag, 'softpag'], [m.story, 'ir-diffusion'], [m.img2img, 'img2img'], [m.inpaint, 'inpaint'], [m.hiresFix, 'hires-fix'], [m.hiresLadder ?? false, 'hires-ladder'], [m.hiresDualBranch ?? false, 'hires-highres'], [m.hiresDualBranch ?? false, 'hires-superres'], [m.ipAdapter ?? false, 'ip-adapter']];
  return [...m.attention, ...flags.filter(([on]) => on).map(([, name]) => name)];
}

/** Refuses, before anything is loaded, a request asking for what the model's family does not run. */
export function checkRequest(family: ModelFamily, probe: ModelProbe, request: GenerateRequest, given: string | undefined): void {
  const refuse = (what: string): never => {
    throw new BadRequestError(`${what} does not apply to ${family.refusal(probe.target)}`);
  };
  const m = family.methods;
  const sides = family.sides ?? (family.fixedSize === undefined ? undefined : [family.fixedSize]);
  if (sides !== undefined) {
    const [w, h] = [request.width ?? sides[0], request.height ?? sides[0]];
    if (w !== h || !sides.includes(w)) refuse(`size ${w}×${h}`);
  }
  if (request.sampler !== undefined && family.samplers && !family.samplers.includes(request.sampler)) refuse(`sampler ${request.sampler}`);
  if (request.mask !== undefined && !m.inpaint) refuse('inpainting (--mask)');
  if (request.outpaint !== undefined && !m.inpaint) refuse('outpainting (--outpaint)');
  if (request.controlNets !== undefined && !m.controlNet) refuse('ControlNet (--controlnet)');
  if (request.ipAdapter !== undefined && !m.ipAdapter) refuse('IP-Adapter (--ip-adapter)');
  if (request.hiresFix !== undefined && !m.hiresFix) refuse('the hires fix (--hires-fix)');
  if (request.hires !== undefined && !m.hiresLadder) refuse("LinFusion's high-resolution ladder (--hires)");
  if (request.hires !== undefined && request.hires.mode !== 'ladder' && !m.hiresDualBranch) {
    const ladder = m.hiresLadder ? ": use --hires-mode ladder (LinFusion's SDEdit ladder) for it" : '';
    throw new BadRequestError(`--hires-mode ${request.hires.mode} is LinFusion's SDXL pipeline; ${family.refusal(probe.target)} is not an SDXL model${ladder}`);
  }
  if (request.initImage !== undefined && !m.img2img) refuse('img2img (--init-image)');
  if (!m.attention.includes(request.attention.kind)) refuse(`--attention ${request.attention.kind}`);
  if (request.clipSkip !== 1 && !m.clipSkip) refuse('--clip-skip');
  if (request.vae !== undefined && !m.vaeOverride) refuse('--vae');
  if (request.loras?.length && !m.lora) refuse('--lora');
  if (request.classLabel !== undefined && !m.classLabels) {
    const labelled = FAMILIES.filter((f) => f.methods.classLabels).map((f) => f.label.replace(/ \(.*\)$/, '')).join(', ');
    throw new BadRequestError(`--class ${request.classLabel} applies to class-conditional models (${labelled} checkpoints); ${given ?? DEFAULT_MODEL} is a text-to-image model: describe the image with --prompt instead`);
  }
}
