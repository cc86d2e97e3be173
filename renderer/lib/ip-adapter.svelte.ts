// The image prompt (IP-Adapter) of the next generation: an adapter from the library, the CLIP image encoder
// it was trained with (a library entry, or `image_encoder/` beside the adapter when none is chosen), a
// reference image (uploaded to the studio's outputs folder when dropped or picked) and the scale. What the
// generate call sends is read from here (request.ts); recall restores it from an image's exact request, or the
// adapter and weight of another app's IP-Adapter unit (A1111's ControlNet extension keeps no reference image).
import { DEFAULT_IP_ADAPTER_SCALE, type GenerateRequest, type IpAdapterRequest } from '../../pipelines/jobs/api-generate.ts';
import type { ImportedSettingsView } from '../../pipelines/jobs/api-studio.ts';
import type { LibraryEntry } from '../../pipelines/jobs/api-library.ts';
import { MAX_DROPPED_FILE_BYTES } from '../../pipelines/jobs/api-limits.ts';
import type { ApiClient } from './api-client.ts';
import { fileToBase64 } from './preview.ts';
import { fileName, libraryFile, stem } from './library-lookup.ts';

export class IpAdapterState {
  enabled = $state(false);
  /** The adapter file (a library entry's path). */
  model = $state('');
  /** The CLIP image encoder (a library entry's path); empty: `image_encoder/` beside the adapter. */
  imageEncoder = $state('');
  /** The reference image inside the outputs folder (`uploads/…`), once uploaded; its file name for people. */
  image = $state<string | undefined>(undefined);
  imageName = $state('');
  /** The picked file as a data: URL, for the thumbnail (none after a recall). */
  preview = $state<string | undefined>(undefined);
  scale = $state(DEFAULT_IP_ADAPTER_SCALE);

  constructor(private readonly api: ApiClient) {}

  /** Sends the file to the studio as the reference image. Throws a message for people on failure. */
  async setImage(file: File): Promise<void> {
    if (file.size > MAX_DROPPED_FILE_BYTES) throw new Error(`"${file.name}" is ${(file.size / 1024 / 1024).toFixed(0)} MiB; reference images up to ${MAX_DROPPED_FILE_BYTES / 1024 / 1024} MiB are taken.`);
    const dataBase64 = await fileToBase64(file);
    const { image } = await this.api.call('uploadImage', { name: file.name, dataBase64 });
    this.image = image;
    this.imageName = file.name;
    this.preview = `data:${file.type || 'image/png'};base64,${dataBase64}`;
  }

  /** The request's `ipAdapter` when the image prompt is on and complete. */
  request(): IpAdapterRequest | undefined {
    if (!this.enabled || !this.model || !this.image) return undefined;
    const scale = Number.isFinite(this.scale) ? this.scale : DEFAULT_IP_ADAPTER_SCALE;
    return { model: this.model, image: this.image, scale, ...(this.imageEncoder ? { imageEncoder: this.imageEncoder } : {}) };
  }

  /** What the image prompt still lacks when it is on, in words (so Generate can say why). */
  incomplete(): string | undefined {
    if (!this.enabled || (this.model && this.image)) return undefined;
    return `The image prompt needs ${this.model ? 'a reference image' : 'an IP-Adapter'}`;
  }

  /**
   * The image prompt of an image's exact request, else another app's IP-Adapter unit (no reference image: the user
   * adds it); off when it had none. An adapter the library lacks leaves it off; an encoder it lacks falls back to the
   * one beside the adapter. Returns notes.
   */
  restore(exact: GenerateRequest | undefined, settings: ImportedSettingsView | undefined, library: readonly LibraryEntry[]): string[] {
    const ip = exact?.ipAdapter;
    const imported = exact ? undefined : settings?.ipAdapter;
    const model = ip?.model ?? imported?.model;
    const adapter = model === undefined ? undefined : libraryFile(library, 'ip-adapter', model);
    this.enabled = adapter !== undefined;
    if (model === undefined) return [];
    if (!adapter) return [`IP-Adapter "${stem(model)}" is not in the library; the image prompt is left off (add the adapter to the models folder, or choose another)`];
    if (!ip) {
      Object.assign(this, { model: adapter.path, imageEncoder: '', image: undefined, imageName: '', preview: undefined, scale: imported!.weight });
      return ['the image prompt needs its reference image again (the image records only the adapter and its weight)'];
    }
    const encoder = ip.imageEncoder === undefined ? undefined : libraryFile(library, 'image-encoder', ip.imageEncoder);
    Object.assign(this, { model: adapter.path, imageEncoder: encoder?.path ?? '', image: ip.image, imageName: fileName(ip.image), preview: undefined, scale: ip.scale });
    return ip.imageEncoder !== undefined && !encoder ? [`image encoder "${fileName(ip.imageEncoder)}" is not in the library; using image_encoder/ beside the adapter`] : [];
  }
}

/** Why the model cannot take an image prompt (shipped models, families without IP-Adapter); undefined when it can. */
export function whyNoImagePrompt(model: string, catalog: { defaultModel?: string; embedded: readonly { name: string }[]; models: readonly { path: string; name: string; family?: string; methods: string[] }[] }): string | undefined {
  const shipped = catalog.embedded.find((m) => m.name === (model || catalog.defaultModel));
  const entry = catalog.models.find((m) => m.path === model);
  if (shipped) return `${shipped.name}, shipped with the studio, takes no image prompt: choose a Stable Diffusion 1.x, 2.x or XL model.`;
  if (!entry || entry.methods.includes('ip-adapter')) return undefined;
  return `${entry.name} (${entry.family ?? 'unknown family'}) takes no image prompt: choose a Stable Diffusion 1.x, 2.x or XL model.`;
}
