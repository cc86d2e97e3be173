// ComfyUI's PNG chunks: `prompt` = the executed graph in API format
//   {"<id>": {"class_type": "KSampler", "inputs": {"seed": 1, "model": ["4", 0], …}}}
// (a link is [source node id, output index]), and `workflow` = the editor graph (LiteGraph:
// nodes[] with widgets_values, links[] as [id, from, from_slot, to, to_slot, type]).
// The settings are found by starting at the first sampler node and following its links to the
// text encoders, the empty latent and the checkpoint loader.
import { fromComfySampler } from './sampler-names.ts';
import { compact, isRecord, parseJson, toInteger, toNumber, type ImportedSettings } from './settings.ts';

export const COMFY_PROMPT_KEYWORD = 'prompt';
export const COMFY_WORKFLOW_KEYWORD = 'workflow';

interface ApiNode {
  class_type: string;
  inputs: Record<string, unknown>;
}
type ApiGraph = Record<string, ApiNode>;

export interface ComfyMetadata extends ImportedSettings {
  source: 'comfyui';
  denoise?: number;
  /** Id of the sampler node the settings came from. */
  samplerNode?: string;
  apiGraph?: unknown;
  workflow?: unknown;
}

const SAMPLER_CLASSES = ['KSampler', 'KSamplerAdvanced', 'SamplerCustom', 'SamplerCustomAdvanced'];
const MAX_HOPS = 32;

function isLink(v: unknown): v is [string | number, number] {
  return Array.isArray(v) && v.length === 2 && (typeof v[0] === 'string' || typeof v[0] === 'number') && typeof v[1] === 'number';
}

class GraphWalker {
  constructor(private readonly graph: ApiGraph) {}

  node(v: unknown): ApiNode | undefined {
    return isLink(v) ? this.graph[String(v[0])] : undefined;
  }

  /** A literal as is; a link followed to its node, whose first input named in `keys` is resolved in turn. */
  scalar(value: unknown, keys: readonly string[], hops = 0): unknown {
    if (!isLink(value)) return value;
    const source = this.node(value);
    if (!source || hops > MAX_HOPS) return undefined;
    for (const k of keys) if (k in source.inputs) return this.scalar(source.inputs[k], keys, hops + 1);
    return undefined;
  }

  /** The prompt text behind a conditioning link (through combine / area / ControlNet nodes). */
  text(link: unknown, polarity: 'positive' | 'negative', hops = 0): string | undefined {
    const node = this.node(link);
    if (!node || hops > MAX_HOPS) return undefined;
    for (const key of ['text', 'text_g', 'text_l', 'prompt', 'string', 'value']) {
      if (key in node.inputs) {
        const t = this.scalar(node.inputs[key], ['text', 'string', 'value', 'prompt']);
        if (typeof t === 'string') return t;
      }
    }
    for (const key of [polarity, 'conditioning', 'conditioning_1', 'conditioning_to', 'conditioning_from']) {
      const t = this.text(node.inputs[key], polarity, hops + 1);
      if (t !== undefined) return t;
    }
    return undefined;
  }

  /** The first node up the chain (following `via` inputs) that has `key`. */
  upstream(link: unknown, key: string, via: readonly string[], hops = 0): ApiNode | undefined {
    const node = this.node(link);
    if (!node || hops > MAX_HOPS) return undefined;
    if (key in node.inputs) return node;
    for (const v of via) {
      const found = this.upstream(node.inputs[v], key, via, hops + 1);
      if (found) return found;
    }
    return undefined;
  }
}

function byNumericId(a: string, b: string): number {
  return Number(a) - Number(b) || a.localeCompare(b);
}

function asApiGraph(value: unknown): ApiGraph | undefined {
  if (!isRecord(value)) return undefined;
  const graph: ApiGraph = {};
  for (const [id, node] of Object.entries(value)) {
    if (isRecord(node) && typeof node.class_type === 'string' && isRecord(node.inputs)) {
      graph[id] = { class_type: node.class_type, inputs: node.inputs };
    }
  }
  return Object.keys(graph).length ? graph : undefined;
}

/** Names of the widget values of the editor nodes we read, in the order ComfyUI stores them. */
const WIDGET_NAMES: Record<string, readonly string[]> = {
  KSampler: ['seed', 'control_after_generate', 'steps', 'cfg', 'sampler_name', 'scheduler', 'denoise'],
  KSamplerAdvanced: ['add_noise', 'noise_seed', 'control_after_generate', 'steps', 'cfg', 'sampler_name', 'scheduler', 'start_at_step', 'end_at_step', 'return_with_leftover_noise'],
  CLIPTextEncode: ['text'],
  CheckpointLoaderSimple: ['ckpt_name'],
  EmptyLatentImage: ['width', 'height', 'batch_size'],
  PrimitiveNode: ['value', 'control_after_generate'],
  RandomNoise: ['noise_seed', 'control_after_generate'],
  KSamplerSelect: ['sampler_name'],
  BasicScheduler: ['scheduler', 'steps', 'denoise'],
  CFGGuider: ['cfg'],
};

/** Turns an editor workflow into the API shape (widget values named, links as [from, slot]). */
function workflowToApiGraph(workflow: unknown): ApiGraph | undefined {
  if (!isRecord(workflow) || !Array.isArray(workflow.nodes)) return undefined;
  const linkSource = new Map<number, [string, number]>();
  for (const l of Array.isArray(workflow.links) ? workflow.links : []) {
    if (Array.isArray(l) && typeof l[0] === 'number') linkSource.set(l[0], [String(l[1]), Number(l[2])]);
  }
  const graph: ApiGraph = {};
  for (const n of workflow.nodes) {
    if (!isRecord(n) || typeof n.type !== 'string' || n.id === undefined) continue;
    const inputs: Record<string, unknown> = {};
    const widgets = n.widgets_values;
    if (Array.isArray(widgets)) (WIDGET_NAMES[n.type] ?? []).forEach((name, i) => (inputs[name] = widgets[i]));
    else if (isRecord(widgets)) Object.assign(inputs, widgets);
    for (const input of Array.isArray(n.inputs) ? n.inputs : []) {
      const link = isRecord(input) && typeof input.link === 'number' ? linkSource.get(input.link) : undefined;
      if (link && typeof input.name === 'string') inputs[input.name] = link;
    }
    graph[String(n.id)] = { class_type: n.type, inputs };
  }
  return graph;
}

/**
 * Reads ComfyUI's `prompt` (preferred: it is what ran) or, failing that, `workflow` chunk text.
 * Returns undefined when neither holds a graph with a sampler.
 */
export function parseComfyUI(chunks: { prompt?: string; workflow?: string }): ComfyMetadata | undefined {
  const apiGraph = parseJson(chunks.prompt);
  const workflow = parseJson(chunks.workflow);
  const graph = asApiGraph(apiGraph) ?? workflowToApiGraph(workflow);
  if (!graph) return undefined;
  const samplerId = Object.keys(graph)
    .filter((id) => SAMPLER_CLASSES.includes(graph[id].class_type))
    .sort(byNumericId)[0];
  if (samplerId === undefined) return undefined;

  const walk = new GraphWalker(graph);
  const s = graph[samplerId].inputs;
  const guider = walk.node(s.guider)?.inputs ?? {};
  const sigmas = walk.node(s.sigmas);
  const samplerName = walk.scalar(s.sampler_name, ['sampler_name', 'value']) ?? walk.node(s.sampler)?.inputs.sampler_name;
  const scheduler =
    walk.scalar(s.scheduler, ['scheduler', 'value']) ??
    sigmas?.inputs.scheduler ??
    (sigmas?.class_type === 'KarrasScheduler' ? 'karras' : undefined);
  const latent = walk.upstream(s.latent_image, 'width', ['samples', 'latent', 'latent_image']);
  const loader = walk.upstream(s.model ?? guider.model, 'ckpt_name', ['model']) ?? walk.upstream(s.model ?? guider.model, 'unet_name', ['model']);
  const seed = walk.scalar(s.seed ?? s.noise_seed, ['seed', 'noise_seed', 'value']) ?? walk.node(s.noise)?.inputs.noise_seed;
  const samplerText = typeof samplerName === 'string' ? samplerName : undefined;
  const schedulerText = typeof scheduler === 'string' ? scheduler : undefined;
  const checkpoint = loader?.inputs.ckpt_name ?? loader?.inputs.unet_name;

  return compact({
    source: 'comfyui' as const,
    prompt: walk.text(s.positive ?? guider.positive, 'positive'),
    negativePrompt: walk.text(s.negative ?? guider.negative, 'negative'),
    seed: toInteger(walk.scalar(seed, ['seed', 'noise_seed', 'value'])),
    steps: toInteger(walk.scalar(s.steps ?? sigmas?.inputs.steps, ['steps', 'value'])),
    cfgScale: toNumber(walk.scalar(s.cfg ?? guider.cfg, ['cfg', 'value'])),
    sampler: samplerText,
    scheduler: schedulerText,
    studioSampler: samplerText === undefined ? undefined : fromComfySampler(samplerText, schedulerText),
    denoise: toNumber(walk.scalar(s.denoise ?? sigmas?.inputs.denoise, ['denoise', 'value'])),
    width: toInteger(walk.scalar(latent?.inputs.width, ['width', 'value'])),
    height: toInteger(walk.scalar(latent?.inputs.height, ['height', 'value'])),
    model: typeof checkpoint === 'string' ? checkpoint : undefined,
    samplerNode: samplerId,
    apiGraph,
    workflow,
  });
}
