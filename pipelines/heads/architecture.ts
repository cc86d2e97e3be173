// What a head selection is tied to: the model family and the head count of every self-attention
// layer in execution order. Two models with the same fingerprint address the same heads by the same
// (layer, head) pairs; a head list found on one means nothing on a model with another.
import { createHash } from 'node:crypto';
import type { SelfAttentionLayer } from '../attention/self-attention.ts';

export interface ArchitectureFingerprint {
  /** e.g. `sd1`, `sd2`, `sdxl`, `emoji-dit`. */
  family: string;
  /** Head count of each self-attention layer, by layer index. */
  heads: number[];
  /** First 16 hex digits of SHA-256 over family and head counts: a short name for comparing. */
  hash: string;
}

export function fingerprintHash(family: string, heads: readonly number[]): string {
  return createHash('sha256').update(`${family}|${heads.join(',')}`).digest('hex').slice(0, 16);
}

export function fingerprintOf(family: string, layers: readonly SelfAttentionLayer[]): ArchitectureFingerprint {
  const heads = layers.map((l) => l.heads);
  return { family, heads, hash: fingerprintHash(family, heads) };
}

/** Why `found` cannot take heads chosen for `wanted`, in words; undefined when they match. */
export function architectureMismatch(wanted: ArchitectureFingerprint, found: ArchitectureFingerprint): string | undefined {
  if (wanted.family !== found.family) return `it is for a ${wanted.family} model and this model is ${found.family}`;
  if (wanted.heads.length !== found.heads.length) {
    return `it is for a ${wanted.family} model with ${wanted.heads.length} self-attention layers and this one has ${found.heads.length}`;
  }
  const layer = wanted.heads.findIndex((h, i) => h !== found.heads[i]);
  if (layer >= 0) return `its layer ${layer} has ${wanted.heads[layer]} heads and this model's has ${found.heads[layer]}`;
  return undefined;
}

/** `L3H1`: how heads are named in specs, caches and messages. */
export const headName = (layer: number, head: number): string => `L${layer}H${head}`;
