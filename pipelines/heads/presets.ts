// Head presets: data files (JSON, validated here) naming heads to perturb with their strength u and
// the guidance scale, tied to the architecture fingerprint of the model they were made for.
//
// Composing presets takes, for each head, the LARGEST u any of them gives it (not the sum): each
// preset was tuned at its own strengths, and a head two presets share should not be pushed past what
// either found good; u = 1 is already PAG's full identity, so a sum would only saturate there.
import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import type { HeadPick } from '../attention/head-perturbation.ts';
import { PresetSearchSchema } from '../jobs/api-studio.ts';
import { architectureMismatch, fingerprintHash, headName, type ArchitectureFingerprint } from './architecture.ts';

export const PRESET_VERSION = 1;

const unit = z.number({ error: 'must be a number' }).min(0, { error: 'must be from 0 to 1' }).max(1, { error: 'must be from 0 to 1' });

export const PresetHeadSchema = z.strictObject({
  layer: z.int({ error: 'must be a whole number' }).min(0, { error: 'must be 0 or more' }),
  head: z.int({ error: 'must be a whole number' }).min(0, { error: 'must be 0 or more' }),
  /** SoftPAG strength: (1-u)·attention + u·V; 1 = PAG's identity. */
  u: unit,
});

export const ArchitectureSchema = z.strictObject({
  family: z.string().min(1, { error: 'must name the model family (sd1, sd2, sdxl, …)' }),
  heads: z.array(z.int().min(1, { error: 'every layer has at least one head' })).min(1, { error: 'needs the head count of every self-attention layer' }),
  hash: z.string().regex(/^[0-9a-f]{16}$/, { error: 'must be 16 lowercase hex digits' }),
});

/** How a preset was found (kept for the record; not used to apply it). */
export const SearchRecordSchema = PresetSearchSchema.extend({
  /** Objective values: no perturbation, PAG on every head, then the set after each round. */
  scores: z.record(z.string(), z.number()).optional(),
});

export const HeadPresetSchema = z
  .strictObject({
    version: z.literal(PRESET_VERSION, { error: `must be ${PRESET_VERSION} (this studio reads head preset version ${PRESET_VERSION})` }),
    name: z.string().min(1, { error: 'must not be empty' }),
    description: z.string().optional(),
    architecture: ArchitectureSchema,
    /** Perturbed-attention guidance scale the heads were chosen at. */
    scale: z.number({ error: 'must be a number' }).min(0, { error: 'must be 0 or more' }).max(100, { error: 'must be at most 100' }),
    heads: z.array(PresetHeadSchema).min(1, { error: 'needs at least one head' }),
    search: SearchRecordSchema.optional(),
  })
  .superRefine((p, ctx) => {
    const a = p.architecture;
    const hash = fingerprintHash(a.family, a.heads);
    if (a.hash !== hash) ctx.addIssue({ code: 'custom', path: ['architecture', 'hash'], message: `does not match its family and head counts (expected ${hash}); the file was edited by hand or damaged` });
    const seen = new Set<string>();
    p.heads.forEach((h, i) => {
      const name = headName(h.layer, h.head);
      if (h.layer >= a.heads.length) ctx.addIssue({ code: 'custom', path: ['heads', i, 'layer'], message: `${name}: layer ${h.layer} does not exist (the architecture has layers 0–${a.heads.length - 1})` });
      else if (h.head >= a.heads[h.layer]) ctx.addIssue({ code: 'custom', path: ['heads', i, 'head'], message: `${name}: layer ${h.layer} has heads 0–${a.heads[h.layer] - 1}` });
      if (seen.has(name)) ctx.addIssue({ code: 'custom', path: ['heads', i], message: `${name} is listed twice` });
      seen.add(name);
    });
  });

export type HeadPreset = z.infer<typeof HeadPresetSchema>;

export class HeadPresetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HeadPresetError';
  }
}

/** `heads[2].u` from zod's path. */
function where(path: readonly PropertyKey[]): string {
  return path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : s ? `${s}.${String(p)}` : String(p)), '') || '(top level)';
}

/** Validates parsed JSON as a head preset; `source` (a file name) starts every error line. */
export function parseHeadPreset(data: unknown, source: string): HeadPreset {
  const r = HeadPresetSchema.safeParse(data);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => {
    const got = i.path.reduce<unknown>((v, p) => (v as Record<PropertyKey, unknown> | undefined)?.[p], data);
    const shown = got === undefined || typeof got === 'object' ? '' : ` (got ${JSON.stringify(got)})`;
    return `  ${where(i.path)}: ${i.message}${shown}`;
  });
  throw new HeadPresetError(`${source} is not a valid head preset:\n${lines.join('\n')}`);
}

export function readHeadPreset(path: string): HeadPreset {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new HeadPresetError(`head preset ${path}: cannot read it (${(e as Error).message})`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new HeadPresetError(`head preset ${path}: not JSON (${(e as Error).message})`);
  }
  return parseHeadPreset(data, path);
}

export function writeHeadPreset(path: string, preset: HeadPreset): void {
  const checked = parseHeadPreset(preset, path);
  writeFileSync(path, `${JSON.stringify(checked, null, 2)}\n`);
}

/** A preset for a head selection found on a model with this fingerprint. */
export function makeHeadPreset(o: {
  name: string;
  description?: string;
  architecture: ArchitectureFingerprint;
  scale: number;
  heads: readonly HeadPick[];
  search?: HeadPreset['search'];
}): HeadPreset {
  const preset = {
    version: PRESET_VERSION,
    name: o.name,
    ...(o.description ? { description: o.description } : {}),
    architecture: { family: o.architecture.family, heads: [...o.architecture.heads], hash: o.architecture.hash },
    scale: o.scale,
    heads: o.heads.map(({ layer, head, u }) => ({ layer, head, u })),
    ...(o.search ? { search: o.search } : {}),
  };
  return parseHeadPreset(preset, `preset "${o.name}"`);
}

/** The preset's heads for a model with fingerprint `model`; refuses a preset made for another architecture. */
export function presetPicks(preset: HeadPreset, model: ArchitectureFingerprint, source = `head preset "${preset.name}"`): HeadPick[] {
  const why = architectureMismatch(preset.architecture, model);
  if (why) throw new HeadPresetError(`${source} does not fit this model: ${why} (preset architecture ${preset.architecture.hash}, model ${model.hash}). Search heads for this model with "studio heads search", or pick a preset made for it.`);
  return preset.heads.map(({ layer, head, u }) => ({ layer, head, u }));
}

/** Head selections merged: each head at the largest u any selection gives it; ordered by layer, head. */
export function mergePicks(...selections: ReadonlyArray<readonly HeadPick[]>): HeadPick[] {
  const byHead = new Map<string, HeadPick>();
  for (const picks of selections) {
    for (const p of picks) {
      const key = headName(p.layer, p.head);
      const had = byHead.get(key);
      if (!had || p.u > had.u) byHead.set(key, { layer: p.layer, head: p.head, u: p.u });
    }
  }
  return [...byHead.values()].sort((a, b) => a.layer - b.layer || a.head - b.head);
}

/**
 * Several presets as one: the union of their heads at the largest u each gets, the largest of their
 * scales. They must all be made for one architecture.
 */
export function composePresets(presets: readonly HeadPreset[], name = presets.map((p) => p.name).join('+')): HeadPreset {
  if (presets.length === 0) throw new HeadPresetError('composing head presets: none given');
  const first = presets[0];
  for (const p of presets.slice(1)) {
    if (architectureMismatch(first.architecture, p.architecture)) {
      const arch = (x: HeadPreset) => `${x.architecture.family} ${x.architecture.hash}, ${x.architecture.heads.length} layers`;
      throw new HeadPresetError(`cannot compose head presets "${first.name}" (${arch(first)}) and "${p.name}" (${arch(p)}): they are for different architectures`);
    }
  }
  return makeHeadPreset({
    name,
    description: `composed of ${presets.map((p) => p.name).join(', ')}`,
    architecture: first.architecture,
    scale: Math.max(...presets.map((p) => p.scale)),
    heads: mergePicks(...presets.map((p) => p.heads)),
  });
}
