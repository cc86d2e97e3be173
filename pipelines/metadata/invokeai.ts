// InvokeAI's PNG chunks: `invokeai_metadata` = the core metadata object (positive_prompt, seed,
// cfg_scale, scheduler, model{name,hash,base}, …), and `invokeai_graph` = the executed graph
// ({nodes: {id: {type, …fields}}, edges: [{source: {node_id, field}, destination: {node_id, field}}]}).
// The metadata object is preferred; from a graph alone the settings are found around the denoise node.
import { fromInvokeScheduler } from './sampler-names.ts';
import { compact, isRecord, parseJson, toInteger, toNumber, type ImportedSettings } from './settings.ts';

export const INVOKE_METADATA_KEYWORD = 'invokeai_metadata';
export const INVOKE_GRAPH_KEYWORD = 'invokeai_graph';

export interface InvokeMetadata extends ImportedSettings {
  source: 'invokeai';
  generationMode?: string;
  /** The parsed `invokeai_metadata` object, for fields not mapped here (LoRAs, ControlNets, …). */
  metadata?: Record<string, unknown>;
  graph?: unknown;
}

type Fields = Record<string, unknown>;

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** The raw values both layouts hold, each from its own place. */
interface RawSettings {
  prompt: unknown;
  negative: unknown;
  seed: unknown;
  steps: unknown;
  cfg: unknown;
  width: unknown;
  height: unknown;
  scheduler: unknown;
  model: unknown;
}

function settingsOf(raw: RawSettings): Omit<InvokeMetadata, 'source'> {
  const model = isRecord(raw.model) ? raw.model : {};
  const scheduler = str(raw.scheduler);
  return {
    prompt: str(raw.prompt),
    negativePrompt: str(raw.negative),
    seed: toInteger(raw.seed),
    steps: toInteger(raw.steps),
    cfgScale: toNumber(raw.cfg),
    width: toInteger(raw.width),
    height: toInteger(raw.height),
    sampler: scheduler,
    scheduler,
    studioSampler: scheduler === undefined ? undefined : fromInvokeScheduler(scheduler),
    // v3+ writes {name, hash, base}; v2-era graphs wrote {model_name, base_model}
    model: str(model.name) ?? str(model.model_name),
    modelHash: str(model.hash),
  };
}

function fromCoreMetadata(m: Fields): Omit<InvokeMetadata, 'source'> {
  return {
    ...settingsOf({
      prompt: m.positive_prompt,
      negative: m.negative_prompt,
      seed: m.seed,
      steps: m.steps,
      cfg: m.cfg_scale,
      width: m.width,
      height: m.height,
      scheduler: m.scheduler,
      model: m.model,
    }),
    clipSkip: toInteger(m.clip_skip),
    denoisingStrength: toNumber(m.strength),
    generationMode: str(m.generation_mode),
  };
}

interface Edge {
  source: { node_id: string; field: string };
  destination: { node_id: string; field: string };
}

function edgesOf(graph: Fields): Edge[] {
  const list = Array.isArray(graph.edges) ? graph.edges : [];
  return list.filter(
    (e): e is Edge =>
      isRecord(e) &&
      isRecord(e.source) &&
      isRecord(e.destination) &&
      typeof e.source.node_id === 'string' &&
      typeof e.destination.node_id === 'string' &&
      typeof e.destination.field === 'string',
  );
}

function fromGraph(graph: Fields): Omit<InvokeMetadata, 'source'> | undefined {
  const nodes: Record<string, Fields> = isRecord(graph.nodes)
    ? Object.fromEntries(
        Object.entries(graph.nodes)
          .filter((e): e is [string, Fields] => isRecord(e[1]))
          .map(([id, node]) => [id, { id, ...node }]),
      )
    : {};
  const all = Object.values(nodes);
  const core = all.find((n) => n.type === 'core_metadata');
  if (core) return fromCoreMetadata(core);

  const edges = edgesOf(graph);
  /** The node feeding `field` of node `id`. */
  const feeding = (id: unknown, field: string): Fields | undefined => {
    const e = edges.find((x) => x.destination.node_id === id && x.destination.field === field);
    return e ? nodes[e.source.node_id] : undefined;
  };
  /** A field's own value, or the `value` of a primitive node wired into it. */
  const valueOf = (node: Fields | undefined, field: string): unknown => (node ? node[field] ?? feeding(node.id, field)?.value : undefined);

  const denoise = all.find((n) => typeof n.type === 'string' && n.type.endsWith('denoise_latents'));
  if (!denoise) return undefined;
  const noise = feeding(denoise.id, 'noise');
  return settingsOf({
    prompt: valueOf(feeding(denoise.id, 'positive_conditioning'), 'prompt'),
    negative: valueOf(feeding(denoise.id, 'negative_conditioning'), 'prompt'),
    seed: valueOf(noise, 'seed'),
    steps: denoise.steps,
    cfg: denoise.cfg_scale,
    width: valueOf(noise, 'width'),
    height: valueOf(noise, 'height'),
    scheduler: denoise.scheduler,
    model: feeding(denoise.id, 'unet')?.model,
  });
}

/** Reads InvokeAI's chunks; undefined when neither holds usable settings. */
export function parseInvokeAI(chunks: { metadata?: string; graph?: string }): InvokeMetadata | undefined {
  const metadata = parseJson(chunks.metadata);
  const graph = parseJson(chunks.graph);
  const settings = isRecord(metadata) ? fromCoreMetadata(metadata) : isRecord(graph) ? fromGraph(graph) : undefined;
  if (!settings) return undefined;
  return compact({
    source: 'invokeai' as const,
    ...settings,
    metadata: isRecord(metadata) ? metadata : undefined,
    graph,
  });
}
