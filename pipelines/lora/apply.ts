// Applies LoRA files to a loaded model's tensor sources: each layer is matched to the weight it
// changes (by the model's own module names, kohya's underscored spellings of them, or the original
// SGM UNet names kohya uses for SDXL) and recorded as a contribution to that weight. Nothing is computed
// here: merge.ts computes each changed weight W + Σ w·ΔW one tensor at a time into a weight file of its
// own, and the source then answers `info(name)` with the merged tensor, so graphs read it as plain
// external data and carry no LoRA nodes.
import type { PipelineSources } from '../checkpoints/index.ts';
import { unetDiffusersToOriginal, type UnetLayout } from '../checkpoints/keymap-unet.ts';
import type { KeyedSource } from '../checkpoints/sources.ts';
import type { SafetensorsFile, TensorInfo } from '../io/safetensors.ts';
import { Graph, type DType, type T } from '../onnx/graph.ts';
import { cast, concat } from '../onnx/ops.ts';
import { layerDelta, mergeInto } from './delta.ts';
import { LoraFileError, readLoraFile, type LoraFile, type LoraLayer } from './layers.ts';

export interface LoraRequest {
  path: string;
  /** Multiplies ΔW (A1111's `<lora:name:weight>`). */
  weight: number;
}

export interface AppliedLora {
  name: string;
  path: string;
  weight: number;
  layers: number;
  /** Layers that name modules this model does not have (A1111 skips them too). */
  unmatched: number;
}

interface Contribution {
  layer: LoraLayer;
  weight: number;
  peftScale: number;
  /** For q/k/v LoRAs on a stacked OpenCLIP `in_proj_weight`: which third. */
  slot?: number;
}

type SdFamily = 'sd1' | 'sd2' | 'sdxl';
const FAMILY_NAMES: Record<string, string> = { sd1: 'SD 1.x', sd2: 'SD 2.x', sdxl: 'SDXL' };
const familyName = (id: string) => FAMILY_NAMES[id] ?? id;

/** A source whose weights carry LoRA contributions, read from the merged weight file once it is written. */
export class PatchedSource implements KeyedSource {
  readonly contributions = new Map<string, Contribution[]>();
  private merged?: SafetensorsFile;

  constructor(readonly inner: KeyedSource) {}

  get path(): string {
    return this.inner.path;
  }
  has(name: string): boolean {
    return this.inner.has(name);
  }
  info(name: string): TensorInfo {
    if (!this.contributions.has(name)) return this.inner.info(name);
    if (!this.merged) throw new Error(`${this.path}: "${name}" has LoRA layers that are not merged yet (mergeLoraWeights runs before any graph is built)`);
    return this.merged.info(name);
  }
  keys(): string[] {
    return this.inner.keys();
  }

  add(name: string, c: Contribution): void {
    const list = this.contributions.get(name) ?? [];
    list.push(c);
    this.contributions.set(name, list);
  }

  /** From now on the changed weights are read from `file` (written by merge.ts). */
  useMerged(file: SafetensorsFile): void {
    this.merged = file;
  }

  /** A graph of initializers only whose output `merged` is W + Σ w·ΔW for one weight, in `dtype`. */
  mergeGraph(name: string, dtype: DType): Graph {
    const list = this.contributions.get(name);
    if (!list) throw new Error(`${this.path}: "${name}" has no LoRA layers to merge`);
    const stored = this.inner.info(name);
    const g = new Graph(`lora-merge ${name}`);
    const stacked = list.filter((c) => c.slot !== undefined);
    const plain = list.filter((c) => c.slot === undefined);
    const deltas = plain.map((c) => ({ delta: layerDelta(g, c.layer, stored.shape, c.peftScale), weight: c.weight, magnitude: magnitudeOf(g, c.layer) }));
    if (stacked.length) deltas.push({ delta: stackedDelta(g, stacked, stored.shape), weight: 1, magnitude: undefined });
    g.output(cast(mergeInto(cast(g.external(stored), 'float32'), deltas), dtype), 'merged');
    return g;
  }
}

function magnitudeOf(g: Graph, layer: LoraLayer): T | undefined {
  return layer.magnitude ? cast(g.external(layer.magnitude), 'float32') : undefined;
}

/** q, k and v changes stacked like OpenCLIP's `in_proj_weight` [3·H, H], zeros where a LoRA leaves one out. */
function stackedDelta(g: Graph, list: readonly Contribution[], shape: readonly number[]): T {
  const third = [shape[0] / 3, ...shape.slice(1)];
  const parts = [0, 1, 2].map((slot) => {
    const zero = g.constant('float32', third, new Float32Array(third.reduce((a, b) => a * b, 1)), 'zero_delta');
    const mine = list.filter((c) => c.slot === slot);
    return mergeInto(zero, mine.map((c) => ({ delta: layerDelta(g, c.layer, third, c.peftScale), weight: c.weight })));
  });
  return concat(parts, 0);
}

/** Module name → weight name, under every spelling a LoRA may use for it. */
function moduleIndex(source: KeyedSource, unetLayout?: UnetLayout): Map<string, string> {
  const index = new Map<string, string>();
  for (const key of source.keys()) {
    if (!key.endsWith('.weight')) continue;
    const module = key.slice(0, -'.weight'.length);
    index.set(module, key);
    index.set(module.replace(/\./g, '_'), key);
    const original = unetLayout && unetDiffusersToOriginal(key, unetLayout);
    if (original) index.set(original.slice(0, -'.weight'.length).replace(/\./g, '_'), key);
  }
  return index;
}

const QKV = /^encoder[._]layers[._](\d+)[._]self_attn[._]([qkv])_proj$/;

function resolve(layer: LoraLayer, source: KeyedSource, index: Map<string, string>): { name: string; slot?: number } | undefined {
  const module = layer.component.kind === 'text' ? layer.module.replace(/^text_model[._]/, '') : layer.module;
  const direct = index.get(module);
  if (direct) return { name: direct };
  // A q/k/v LoRA on an OpenCLIP encoder, whose three projections are one stacked weight.
  const m = layer.component.kind === 'text' ? QKV.exec(module) : null;
  const stacked = m && `encoder.layers.${m[1]}.self_attn.in_proj_weight`;
  return stacked && source.has(stacked) ? { name: stacked, slot: 'qkv'.indexOf(m[2]) } : undefined;
}

/** The family a LoRA was made for, when its keys or metadata say so. */
export function loraFamily(file: LoraFile): SdFamily | undefined {
  const base = file.metadata.ss_base_model_version ?? file.metadata['modelspec.architecture'] ?? '';
  if (/sdxl|stable-diffusion-xl/i.test(base)) return 'sdxl';
  if (file.layers.some((l) => l.component.kind === 'text' && l.component.index === 1)) return 'sdxl';
  if (/sd_v2|stable-diffusion-v2/i.test(base)) return 'sd2';
  if (/sd_v1|stable-diffusion-v1/i.test(base)) return 'sd1';
  return undefined;
}

/** Returns sources whose UNet and text encoders carry the LoRAs (the originals are left as they were). */
export function applyLoras(sources: PipelineSources, loras: readonly LoraRequest[]): { sources: PipelineSources; applied: AppliedLora[] } {
  if (!loras.length) return { sources, applied: [] };
  const unet = new PatchedSource(sources.unet);
  const texts = sources.textEncoders.map((s) => new PatchedSource(s));
  const cfg = sources.unetConfig as { layers_per_block?: number | number[]; up_block_types?: string[] };
  const layout = {
    layersPerBlock: Array.isArray(cfg.layers_per_block) ? cfg.layers_per_block[0] : cfg.layers_per_block ?? 2,
    upBlockHasAttention: (cfg.up_block_types ?? []).map((t) => t.includes('CrossAttn')),
  };
  const unetIndex = moduleIndex(sources.unet, layout);
  const textIndex = sources.textEncoders.map((s) => moduleIndex(s));
  const applied: AppliedLora[] = [];
  for (const request of loras) {
    const file = readLoraFile(request.path);
    const family = loraFamily(file);
    if (family && family !== sources.family) {
      throw new LoraFileError(file.path, `is a LoRA for ${familyName(family)} models, but ${sources.path} is an ${familyName(sources.family)} model: use a LoRA made for ${familyName(sources.family)}`);
    }
    let matched = 0;
    const missed: string[] = [];
    for (const layer of file.layers) {
      const component = layer.component.kind === 'unet' ? { source: unet, index: unetIndex } : texts[layer.component.index] && { source: texts[layer.component.index], index: textIndex[layer.component.index] };
      const target = component && resolve(layer, component.source, component.index);
      if (!component || !target) {
        missed.push(layer.key);
        continue;
      }
      matched++;
      const c: Contribution = { layer, weight: request.weight, peftScale: file.peftScale ?? 1, slot: target.slot };
      component.source.add(target.name, c);
    }
    if (matched === 0) {
      throw new LoraFileError(file.path, `none of its ${file.layers.length} layers match a weight of ${sources.path} (${familyName(sources.family)}), e.g. ${missed.slice(0, 2).join(', ')}: it was made for another model family or architecture`);
    }
    applied.push({ name: file.name, path: file.path, weight: request.weight, layers: matched, unmatched: missed.length });
  }
  return { sources: { ...sources, unet, textEncoders: texts }, applied };
}
