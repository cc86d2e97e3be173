// The self-attention variants a request may ask for, as data only (ids, labels, help, option schemas):
// the renderer, the CLI help and the request validation read this file, so it imports nothing but zod.
// The graph side of each variant (builder, FLOP count, where it applies) is in ./registry.ts.
import { z } from 'zod';

const fraction = (what: string) =>
  z.number({ error: `${what}: must be a number` }).gt(0, { error: `${what}: must be above 0` }).lt(1, { error: `${what}: must be below 1` });

/** AgentSD's README settings, used for every option a request leaves out. */
export const AGENT_DEFAULTS = {
  /** Fraction of a layer's tokens merged away (ToMe) before attention. */
  ratio: 0.4,
  /** Fraction merged away to form the agent tokens while agents are used. */
  agentRatio: 0.95,
  /** Fraction of the steps that use agents; later steps run plain ToMe (AgentSD: 20 of 50). */
  agentSteps: 20 / 50,
} as const;

const softmax = {
  id: 'softmax',
  label: 'Softmax',
  help: 'the model as trained',
  schema: z.object({ kind: z.literal('softmax') }),
} as const;

const agent = {
  id: 'agent',
  label: 'Agent',
  help: 'Agent Attention: faster at large sizes, no extra weights',
  // Options are left out of a parsed request when not given (no zod defaults), so requests recorded
  // in PNGs before these options existed read back unchanged.
  schema: z.object({
    kind: z.literal('agent'),
    ratio: fraction('agent ratio').optional(),
    agentRatio: fraction('agent agentRatio').optional(),
    agentSteps: z.number().min(0, { error: 'agent agentSteps: must be from 0 to 1' }).max(1, { error: 'agent agentSteps: must be from 0 to 1' }).optional(),
  }),
} as const;

const linfusion = {
  id: 'linfusion',
  label: 'LinFusion',
  help: 'linear attention from distilled LinFusion modules',
  schema: z.object({
    kind: z.literal('linfusion'),
    path: z.string().min(1, { error: 'needs the path of the LinFusion folder or file' }),
  }),
} as const;

/** Every variant, the default (softmax) first. */
export const ATTENTION_VARIANTS = [softmax, agent, linfusion] as const;
export type AttentionKind = (typeof ATTENTION_VARIANTS)[number]['id'];
export const ATTENTION_KINDS = ATTENTION_VARIANTS.map((v) => v.id) as [AttentionKind, ...AttentionKind[]];

export const AttentionSchema = z.discriminatedUnion('kind', [softmax.schema, agent.schema, linfusion.schema]);
export type Attention = z.infer<typeof AttentionSchema>;
export type AgentAttentionRequest = z.infer<typeof agent.schema>;

const variant = (kind: string) => ATTENTION_VARIANTS.find((v) => v.id === kind);

/** Variants whose request carries a path (written `kind:PATH` on the command line). */
export const takesPath = (kind: AttentionKind): boolean => 'path' in variant(kind)!.schema.shape;

/** The label shown for a variant (metadata, UI). */
export const attentionLabel = (kind: AttentionKind): string => variant(kind)!.label;

const optionKeys = (kind: AttentionKind): string[] => Object.keys(variant(kind)!.schema.shape).filter((k) => k !== 'kind');

/** How the command line writes each variant: `softmax`, `agent[:ratio=X,…]`, `linfusion:PATH`. */
export function attentionCliForms(): string[] {
  return ATTENTION_KINDS.map((k) => (takesPath(k) ? `${k}:PATH` : optionKeys(k).length ? `${k}[:${optionKeys(k).map((o) => `${o}=X`).join(',')}]` : k));
}

/** `a, b or c`. */
export const orList = (items: readonly string[]) => (items.length > 1 ? `${items.slice(0, -1).join(', ')} or ${items.at(-1)}` : items.join(''));

/**
 * `--attention` text → the request: `kind`, `kind:PATH` for variants that read a file, or
 * `kind:key=value,…` for a variant's numeric options. Returns the problem in words when it does not parse.
 */
export function parseAttentionArg(text: string): Attention | string {
  const colon = text.indexOf(':');
  const kind = colon < 0 ? text : text.slice(0, colon);
  const rest = colon < 0 ? undefined : text.slice(colon + 1);
  const v = variant(kind);
  const expected = `expected ${orList(ATTENTION_KINDS.map((k) => (takesPath(k) ? `${k}:PATH` : k)))}, got ${JSON.stringify(text)}`;
  if (!v) return expected;
  let request: Record<string, unknown> = { kind };
  if (takesPath(v.id)) {
    if (!rest) return expected;
    request.path = rest;
  } else if (rest !== undefined) {
    const keys = optionKeys(v.id);
    if (keys.length === 0) return `${kind} takes no options, got ${JSON.stringify(text)}`;
    for (const pair of rest.split(',')) {
      const [key, value, extra] = pair.split('=');
      if (!keys.includes(key) || value === undefined || extra !== undefined) return `${kind} options are ${keys.map((k) => `${k}=X`).join(',')}, got ${JSON.stringify(pair)}`;
      request = { ...request, [key]: value.trim() === '' ? Number.NaN : Number(value) };
    }
  }
  const parsed = AttentionSchema.safeParse(request);
  return parsed.success ? parsed.data : parsed.error.issues.map((i) => i.message).join('; ');
}
