// A DiT or DiCo checkpoint (.safetensors, or a torch.save .pt read without pickle code) with its config:
// from `<file stem>.json` beside it when present (`{"config": {...}}` or the config itself), otherwise
// read off the tensor shapes. The only thing shapes cannot tell is DiT's head count, known for the
// published widths.
import { existsSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import type { Graph } from '../../onnx/graph.ts';
import { SafetensorsFile } from '../../io/safetensors.ts';
import { TorchPtFile } from '../../io/torch-pt.ts';
import { readJsonObject, isObject } from '../../checkpoints/json-fields.ts';
import { parseDiTConfig, type DiTConfig } from '../../models/dit/config.ts';
import { buildDiTGraph, type DiTGraphOptions } from '../../models/dit/model.ts';
import { parseDiCoConfig, STAGES, type DiCoConfig } from '../../models/dico/config.ts';
import { buildDiCoGraph } from '../../models/dico/model.ts';

export type ClassConditionalFamily = 'dit' | 'dico';

type WeightsFile = SafetensorsFile | TorchPtFile;

export interface ClassConditionalModel {
  family: ClassConditionalFamily;
  path: string;
  weights: WeightsFile;
  config: DiTConfig | DiCoConfig;
  /** Where the config came from: the sidecar JSON, or "tensor shapes". */
  configFrom: string;
  inChannels: number;
  outChannels: number;
  numClasses: number;
  /** Whether the label table has the null-class row that classifier-free guidance needs. */
  hasNullClass: boolean;
  /** Image side the checkpoint was trained at (DiT: input_size·8; DiCo's published models: 256). */
  nativeSize: number;
  /** The architecture's name for messages: DiT, DiCo. */
  architecture: string;
  /** Latent sides must be multiples of this (DiT: the patch size; DiCo: 4, two 2× downsamples). */
  latentMultiple: number;
  buildGraph(o: DiTGraphOptions): Graph;
}

/** Heads of the published DiT widths (S, B, L, XL); head width is not stored in the weights. */
const DIT_HEADS: Record<number, number> = { 384: 6, 768: 12, 1024: 16, 1152: 16 };

export function openWeights(path: string): WeightsFile {
  return /\.pth?$/i.test(path) ? TorchPtFile.open(path) : SafetensorsFile.open(path);
}

function sidecarConfig(path: string): { raw: unknown; file: string } | undefined {
  const file = join(dirname(path), `${basename(path, extname(path))}.json`);
  if (!existsSync(file)) return undefined;
  const json = readJsonObject(file);
  return { raw: isObject(json.config) ? json.config : json, file };
}

const shape = (w: WeightsFile, name: string): number[] => w.info(name).shape;
const countBlocks = (keys: readonly string[], prefix: string, suffix: string): number =>
  keys.filter((k) => k.startsWith(prefix) && k.endsWith(suffix) && /^\d+$/.test(k.slice(prefix.length, -suffix.length))).length;

function inferDiT(w: WeightsFile, path: string): DiTConfig {
  const [hidden, inChannels, patch] = shape(w, 'x_embedder.proj.weight');
  const heads = DIT_HEADS[hidden];
  if (heads === undefined) {
    const stem = basename(path, extname(path));
    throw new Error(`${path}: a DiT of width ${hidden}, whose head count is not one of the published models' (S/B/L/XL): write it in ${stem}.json beside the file, e.g. {"config": {"num_heads": …, "hidden_size": ${hidden}, …}} with all of DiT's constructor arguments`);
  }
  const tokens = w.has('pos_embed') ? shape(w, 'pos_embed')[1] : 256;
  return parseDiTConfig(
    {
      input_size: Math.round(Math.sqrt(tokens)) * patch,
      patch_size: patch,
      in_channels: inChannels,
      hidden_size: hidden,
      depth: countBlocks(w.keys(), 'blocks.', '.attn.qkv.weight'),
      num_heads: heads,
      mlp_ratio: shape(w, 'blocks.0.mlp.fc1.weight')[0] / hidden,
      // The published label tables have num_classes + 1 rows: the last is the null class.
      class_dropout_prob: 0.1,
      num_classes: shape(w, 'y_embedder.embedding_table.weight')[0] - 1,
      learn_sigma: shape(w, 'final_layer.linear.weight')[0] === patch * patch * 2 * inChannels,
    },
    `${path} (config read from tensor shapes)`,
  );
}

function inferDiCo(w: WeightsFile, path: string): DiCoConfig {
  const [hidden, inChannels] = shape(w, 'x_embedder.proj.weight');
  const depth = STAGES.map((stage) => countBlocks(w.keys(), `${stage}.`, '.conv1.weight'));
  const first = STAGES.findIndex((_, i) => depth[i] > 0);
  if (first < 0) throw new Error(`${path}: a DiCo checkpoint without any DiCo blocks`);
  const stage = STAGES[first];
  const [expanded, width] = shape(w, `${stage}.0.conv4.weight`);
  return parseDiCoConfig(
    {
      in_channels: inChannels,
      hidden_size: hidden,
      depth,
      mlp_ratio: expanded / width,
      num_classes: shape(w, 'y_embedder.embedding_table_0.weight')[0] - 1,
      learn_sigma: shape(w, 'final_layer.out_proj.weight')[0] === 2 * inChannels,
      class_dropout_prob: 0.1,
    },
    `${path} (config read from tensor shapes)`,
  );
}

export function openClassConditional(path: string, family: ClassConditionalFamily): ClassConditionalModel {
  const weights = openWeights(path);
  const sidecar = sidecarConfig(path);
  const configFrom = sidecar?.file ?? 'tensor shapes';
  if (family === 'dit') {
    const config = sidecar ? parseDiTConfig(sidecar.raw, sidecar.file) : inferDiT(weights, path);
    return {
      family, path, weights, config, configFrom, ...classConditionalShape(config),
      nativeSize: config.input_size * 8,
      architecture: 'DiT',
      latentMultiple: config.patch_size,
      buildGraph: (o) => buildDiTGraph(weights, config, o),
    };
  }
  const config = sidecar ? parseDiCoConfig(sidecar.raw, sidecar.file) : inferDiCo(weights, path);
  return {
    family, path, weights, config, configFrom, ...classConditionalShape(config),
    nativeSize: 256,
    architecture: 'DiCo',
    latentMultiple: 4,
    buildGraph: (o) => buildDiCoGraph(weights, config, o),
  };
}

/** Channels and classes as DiT and DiCo configs both state them (learned sigma doubles the output). */
function classConditionalShape(config: { in_channels: number; learn_sigma: boolean; num_classes: number; class_dropout_prob: number }) {
  return {
    inChannels: config.in_channels,
    outChannels: config.learn_sigma ? 2 * config.in_channels : config.in_channels,
    numClasses: config.num_classes,
    hasNullClass: config.class_dropout_prob > 0,
  };
}
