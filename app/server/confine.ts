// What a client may point the studio at: models in the models folder (or shipped with the studio) and
// images in the outputs folder, nothing else. Every path a client sends goes through here before the
// engine sees it, and the refusal says nothing about what exists outside those folders.
import { existsSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { EMBEDDED_MODEL_NAMES, type GenerateRequest } from '../../pipelines/jobs/api.ts';
import { BadRequestError } from './dispatch.ts';

export class PathPolicy {
  constructor(
    readonly modelsDir: string,
    readonly outputsDir: string,
  ) {}

  /**
   * A model (or VAE, LinFusion module): a shipped model's name, or a file or folder inside the models
   * folder, as an absolute path (a relative one would otherwise be looked up from the working directory).
   */
  model(value: string | undefined, field = 'model'): string | undefined {
    if (value === undefined) return undefined;
    if ((EMBEDDED_MODEL_NAMES as readonly string[]).includes(value)) return value;
    const path = inside(this.modelsDir, value, field, `choose a model from the models folder (${this.modelsDir}) or one shipped with the studio`);
    return !existsSync(path) && existsSync(`${path}.safetensors`) ? `${path}.safetensors` : path;
  }

  /** An image the studio made (img2img from the gallery). */
  outputImage(value: string | undefined, field: string): string | undefined {
    if (value === undefined) return undefined;
    return inside(this.outputsDir, value, field, `choose an image from the outputs folder (${this.outputsDir})`);
  }

  /** A generate request with every path checked, and the studio's own models folder. */
  request(r: GenerateRequest): GenerateRequest {
    if (r.modelsDir !== undefined && resolve(r.modelsDir) !== this.modelsDir) {
      throw new BadRequestError(`generate request: modelsDir cannot be chosen by a client; the studio reads models from ${this.modelsDir}`);
    }
    return {
      ...r,
      modelsDir: this.modelsDir,
      model: this.model(r.model),
      vae: this.model(r.vae, 'vae'),
      config: this.model(r.config, 'config'),
      loraDir: this.model(r.loraDir, 'loraDir'),
      embeddingsDir: this.model(r.embeddingsDir, 'embeddingsDir'),
      loras: r.loras?.map((l, i) => (isBareName(l.name) ? l : { ...l, name: this.model(l.name, `loras[${i}]`)! })),
      initImage: this.outputImage(r.initImage, 'initImage'),
      mask: this.outputImage(r.mask, 'mask'),
      controlNets: r.controlNets?.map((u, i) => ({ ...u, model: this.model(u.model, `controlNets[${i}].model`)!, image: this.outputImage(u.image, `controlNets[${i}].image`)! })),
      ipAdapter: r.ipAdapter && {
        ...r.ipAdapter,
        model: this.model(r.ipAdapter.model, 'ipAdapter.model')!,
        imageEncoder: this.model(r.ipAdapter.imageEncoder, 'ipAdapter.imageEncoder'),
        image: this.outputImage(r.ipAdapter.image, 'ipAdapter.image')!,
      },
      attention: r.attention.kind === 'linfusion' ? { ...r.attention, path: this.model(r.attention.path, 'attention.path')! } : r.attention,
    };
  }
}

/** A LoRA given by name is looked up in the models folder's LoRA folders; anything path-like is confined. */
function isBareName(name: string): boolean {
  return !/[\\/]/.test(name) && !name.includes('..') && !name.includes('\0');
}

/** `value` resolved against `dir` when it lies inside it; otherwise a refusal that names only the folder. */
function inside(dir: string, value: string, field: string, hint: string): string {
  const path = resolve(dir, value);
  const rel = relative(dir, path);
  if (value.includes('\0') || rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    throw new BadRequestError(`${field} must name something inside the studio's folders: ${hint}`);
  }
  return path;
}
