// The two text chunks every generated PNG gets: A1111's `parameters` (read by Civitai and the other
// web UIs) and the studio's own JSON (re-runs the image exactly).
import { formatNamedHashes, hiresSize, type GenerateRequest, type GenerateResult, type LadderStage } from '../jobs/api.ts';
import { A1111_HIRES_UPSCALERS, A1111_KEYWORD, formatA1111, type A1111Value } from './a1111.ts';
import { shortHash } from './model-hash.ts';
import { modelLabel } from './model-label.ts';
import { toA1111Sampler } from './sampler-names.ts';
import { encodeStudioMetadata, STUDIO_FORMAT, STUDIO_KEYWORD, STUDIO_METADATA_VERSION, type StudioMetadata } from './studio-chunk.ts';
import { attentionLabel } from '../attention/options.ts';

export interface GenerationRecord {
  request: GenerateRequest;
  image: { batchIndex: number; seed: number; width: number; height: number };
  model: { name: string; sha256?: string };
  vae?: { name: string; sha256?: string };
  /** LoRAs by the name their prompt tag uses (A1111's `Lora hashes`). */
  loras?: FileRef[];
  /** Embeddings by the word that called them (A1111's `TI hashes`). */
  embeddings?: FileRef[];
  /** The execution provider that ran. */
  ep: string;
  studioVersion: string;
  /** A ladder's stages as they ran. */
  stages?: LadderStage[];
}

export { modelLabel };

export interface FileRef {
  name: string;
  sha256?: string;
}

/**
 * The files of a run as its metadata names them: the model, VAE, LoRAs and embeddings by name and
 * SHA-256 (`hash` answers undefined for what is not a file, e.g. a diffusers folder).
 */
export async function recordedFiles(
  result: Pick<GenerateResult, 'model' | 'loras' | 'embeddings'>,
  request: Pick<GenerateRequest, 'vae'>,
  hash: (path: string) => Promise<string | undefined>,
): Promise<Pick<GenerationRecord, 'model' | 'vae' | 'loras' | 'embeddings'>> {
  const ref = async (name: string, file: string | undefined): Promise<FileRef> => {
    const sha256 = file === undefined ? undefined : await hash(file);
    return sha256 === undefined ? { name } : { name, sha256 };
  };
  const model = await ref(result.model.name, result.model.file);
  const vae = request.vae === undefined ? undefined : await ref(modelLabel(request.vae), request.vae);
  const loras = await Promise.all((result.loras ?? []).map((l) => ref(l.name, l.file)));
  const embeddings = await Promise.all((result.embeddings ?? []).map((e) => ref(e.name, e.file)));
  return { model, ...(vae ? { vae } : {}), ...(loras.length ? { loras } : {}), ...(embeddings.length ? { embeddings } : {}) };
}

/** `name: shorthash, …` for the files whose hash is known. */
function namedHashes(files: readonly FileRef[] | undefined): string | undefined {
  return formatNamedHashes((files ?? []).flatMap((f) => (f.sha256 ? [{ name: f.name, shortHash: shortHash(f.sha256) }] : [])));
}

/** A1111 fields for a variant other than softmax: its label, and the file it reads (named by its label). */
function attentionFields(request: GenerateRequest): [string, A1111Value][] {
  const a = request.attention;
  if (a.kind === 'softmax') return [];
  const label = attentionLabel(a.kind);
  return 'path' in a ? [['Attention', label], [label, modelLabel(a.path)]] : [['Attention', label]];
}

/**
 * The prompt as A1111 writes it: LoRAs asked for with --lora become `<lora:name:weight>` tags, so that
 * A1111 and this studio restore them when the image is read back (tags already in the prompt stay).
 */
function withLoraTags(r: GenerateRequest): string {
  const tags = (r.loras ?? []).map((l) => `<lora:${modelLabel(l.name)}:${l.weight}>`);
  return tags.length ? `${r.prompt} ${tags.join(' ')}`.trim() : r.prompt;
}

/** A1111's first fields, how an image was sampled: Steps, Sampler, Schedule type, CFG scale, Seed, Size. */
export function a1111SamplingParams(s: { steps?: number; sampler?: GenerateRequest['sampler']; cfg?: number; seed: number; width: number; height: number }): Array<[string, A1111Value]> {
  const { sampler, scheduleType } = s.sampler ? toA1111Sampler(s.sampler) : { sampler: undefined, scheduleType: undefined };
  return [['Steps', s.steps], ['Sampler', sampler], ['Schedule type', scheduleType], ['CFG scale', s.cfg], ['Seed', s.seed], ['Size', `${s.width}x${s.height}`]];
}

/**
 * The size the request drew at: the image's own size; without the outpainted border; or for a hires
 * fix the base size, found back from the image (the scale moved it by under 8 pixels, less than one grid step).
 */
export function baseSize(request: GenerateRequest, image: { width: number; height: number }): { width: number; height: number } {
  if (request.hires && request.width !== undefined && request.height !== undefined) return { width: request.width, height: request.height };
  const pads = request.outpaint;
  if (pads) return { width: image.width - pads.left - pads.right, height: image.height - pads.top - pads.bottom };
  const hires = request.hiresFix;
  if (!hires) return { width: image.width, height: image.height };
  const base = (side: number) => [Math.floor(side / hires.scale / 8) * 8, Math.ceil(side / hires.scale / 8) * 8].find((b) => hiresSize(b, hires.scale) === side) ?? Math.round(side / hires.scale / 8) * 8;
  return { width: base(image.width), height: base(image.height) };
}

/** A1111's hires fix fields, as its web UI writes them. */
function hiresFields(r: GenerateRequest): Array<[string, A1111Value]> {
  const h = r.hiresFix;
  if (!h) return [];
  return [['Denoising strength', h.denoise], ['Hires upscale', h.scale], ['Hires steps', h.steps], ['Hires upscaler', A1111_HIRES_UPSCALERS[h.upscaler]]];
}

/** The ControlNet extension's fields: `ControlNet 0: "Module: canny, Model: …, Weight: 1, …"` per unit. */
function controlNetFields(r: GenerateRequest): Array<[string, A1111Value]> {
  return (r.controlNets ?? []).map((u, i) => [
    `ControlNet ${i}`,
    [
      `Module: ${u.preprocess}`,
      `Model: ${modelLabel(u.model)}`,
      `Weight: ${u.weight}`,
      'Resize Mode: Just Resize',
      `Guidance Start: ${u.start}`,
      `Guidance End: ${u.end}`,
      `Control Mode: ${u.guessMode ? 'ControlNet is more important' : 'Balanced'}`,
    ].join(', '),
  ]);
}

/**
 * IP-Adapter as the ControlNet extension records it: one more unit after the ControlNets, whose module
 * names the CLIP image encoder (`ip-adapter_clip_sdxl` for adapters named …xl…, as h94's SDXL ones are,
 * else `ip-adapter_clip_sd15`); the studio chunk keeps the whole request.
 */
function ipAdapterFields(r: GenerateRequest): Array<[string, A1111Value]> {
  const ip = r.ipAdapter;
  if (!ip) return [];
  return [[`ControlNet ${r.controlNets?.length ?? 0}`, [
    `Module: ip-adapter_clip_${/xl/i.test(modelLabel(ip.model)) ? 'sdxl' : 'sd15'}`,
    `Model: ${modelLabel(ip.model)}`,
    `Weight: ${ip.scale}`,
    'Resize Mode: Crop and Resize',
    'Guidance Start: 0',
    'Guidance End: 1',
    'Control Mode: Balanced',
  ].join(', ')]];
}

/**
 * Every stage as `WxH strength/steps` (HighRes / SuperRes add `dilation D`), a text-to-image base as `WxH steps`
 * (A1111 has no field of its own for it).
 */
function ladderText(stages: readonly LadderStage[]): string {
  // HighRes's strengths are float32 (torch.linspace): shown to 6 decimals, recorded exactly in the studio chunk.
  const strength = (x: number) => Math.round(x * 1e6) / 1e6;
  return stages.map((s) => `${s.width}x${s.height} ${s.strength === undefined ? '' : `${strength(s.strength)}/`}${s.steps}${s.dilation ? ` dilation ${s.dilation}` : ''}`).join('; ');
}

const HIRES_MODE_FIELDS = { ladder: 'Hires ladder', highres: 'LinFusion HighRes', superres: 'LinFusion SuperRes' } as const;

export function a1111Parameters(record: GenerationRecord): string {
  const { request: r, model, vae } = record;
  const image = { ...record.image, ...baseSize(r, record.image) };
  const batched = r.batch > 1;
  return formatA1111({
    prompt: withLoraTags(r),
    negativePrompt: r.negative,
    params: [
      ...a1111SamplingParams({ ...image, steps: r.steps, sampler: r.sampler, cfg: r.cfg }),
      ['Model hash', model.sha256 && shortHash(model.sha256)],
      ['Model', model.name],
      ['VAE hash', vae?.sha256 && shortHash(vae.sha256)],
      ['VAE', vae?.name],
      // SuperRes's strengths are its stages' (below).
      ['Denoising strength', r.initImage !== undefined && r.hires?.mode !== 'superres' ? r.strength : undefined],
      ...hiresFields(r),
      [HIRES_MODE_FIELDS[r.hires?.mode ?? 'ladder'], record.stages && ladderText(record.stages)],
      ['Clip skip', r.clipSkip > 1 ? r.clipSkip : undefined],
      ['Lora hashes', namedHashes(record.loras)],
      ['TI hashes', namedHashes(record.embeddings)],
      // Noise comes from a torch-CPU-compatible generator, the one A1111 calls "CPU".
      ['RNG', 'CPU'],
      ['PAG scale', r.pag?.scale],
      ['PAG layers', r.pag?.layers.join(', ')],
      ...attentionFields(r),
      ...controlNetFields(r),
      ...ipAdapterFields(r),
      // The batch shares one generator (diffusers' way), so image i is not A1111's seed + i.
      ['Batch size', batched ? r.batch : undefined],
      ['Batch pos', batched ? image.batchIndex : undefined],
      ['Version', `diffusion-studio ${record.studioVersion}`],
    ],
  });
}

export function studioMetadata(record: GenerationRecord): StudioMetadata {
  return {
    format: STUDIO_FORMAT,
    version: STUDIO_METADATA_VERSION,
    request: { ...record.request, ...baseSize(record.request, record.image) },
    image: record.image,
    model: record.model,
    ...(record.vae ? { vae: record.vae } : {}),
    ...(record.loras ? { loras: record.loras } : {}),
    ...(record.embeddings ? { embeddings: record.embeddings } : {}),
    ...(record.stages ? { stages: record.stages } : {}),
    engine: { studioVersion: record.studioVersion, ep: record.ep },
  };
}

/** Keyword/text pairs for encodePng. */
export function metadataChunks(record: GenerationRecord): Array<[string, string]> {
  return [
    [A1111_KEYWORD, a1111Parameters(record)],
    [STUDIO_KEYWORD, encodeStudioMetadata(studioMetadata(record))],
  ];
}
