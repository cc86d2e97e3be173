// Head lists as typed on the command line: `L3H1:0.5,L4H0:1` (layer 3 head 1 at u = 0.5, …),
// `L3:1` or `L3` for every head of layer 3, u defaulting to 1 (PAG). Later items override earlier
// ones for the same head, so `L3:0.5,L3H1:1` is layer 3 at 0.5 except head 1 at full strength.
import { headWeightsData, type HeadPick } from '../attention/head-perturbation.ts';
import type { SelfAttentionLayer } from '../attention/self-attention.ts';
import { headName } from './architecture.ts';

export interface HeadSpecItem {
  layer: number;
  /** Absent: every head of the layer. */
  head?: number;
  u: number;
}

export class HeadSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HeadSpecError';
  }
}

/** The selection cannot be checked or expanded without the model's layers. */
export class NeedsModelError extends HeadSpecError {
  constructor(message: string) {
    super(message);
    this.name = 'NeedsModelError';
  }
}

const ITEM = /^L(\d+)(?:H(\d+))?(?::(.*))?$/i;

/** Whether `text` is written as a head list (rather than a preset name or file). */
export function looksLikeHeadSpec(text: string): boolean {
  return text.split(',').every((item) => ITEM.test(item.trim()));
}

export function parseHeadSpec(text: string): HeadSpecItem[] {
  const items = text.split(',').map((s) => s.trim());
  if (items.length === 0 || items.every((s) => s === '')) throw new HeadSpecError('head list is empty; write heads as L3H1:0.5,L4H0:1 or L3:1 for a whole layer');
  return items.map((item, i) => {
    const m = ITEM.exec(item);
    const at = `head list item ${i + 1} "${item}"`;
    if (!m) throw new HeadSpecError(`${at}: expected L<layer>H<head>:<u> (e.g. L3H1:0.5) or L<layer>:<u> for a whole layer`);
    const u = m[3] === undefined ? 1 : m[3].trim() === '' ? Number.NaN : Number(m[3]);
    if (!(u >= 0 && u <= 1)) throw new HeadSpecError(`${at}: strength u must be a number from 0 to 1 (got "${m[3]}")`);
    return { layer: Number(m[1]), ...(m[2] === undefined ? {} : { head: Number(m[2]) }), u };
  });
}

/**
 * The picks a head list names. With the model's layers, layers and heads are range-checked and whole
 * layers expanded; without them only explicit `L<l>H<h>` items can be taken (checked later, on use).
 */
export function expandHeadSpec(items: readonly HeadSpecItem[], layers?: readonly SelfAttentionLayer[]): HeadPick[] {
  const byHead = new Map<string, HeadPick>();
  for (const item of items) {
    const layer = layers?.[item.layer];
    if (layers && !layer) throw new HeadSpecError(`head list: layer ${item.layer} does not exist (this model has self-attention layers 0–${layers.length - 1}; see "studio heads list")`);
    if (item.head === undefined && !layer) throw new NeedsModelError(`head list item L${item.layer}: a whole layer needs the model to be known (how many heads layer ${item.layer} has)`);
    const heads = item.head === undefined ? Array.from({ length: layer!.heads }, (_, h) => h) : [item.head];
    for (const head of heads) byHead.set(headName(item.layer, head), { layer: item.layer, head, u: item.u });
  }
  const picks = [...byHead.values()].sort((a, b) => a.layer - b.layer || a.head - b.head);
  if (layers) {
    try {
      headWeightsData(layers, picks);
    } catch (e) {
      throw new HeadSpecError(`head list: ${(e as Error).message}`);
    }
  }
  return picks;
}

/** The spec text of a selection (inverse of parse + expand, one item per head). */
export function formatHeadSpec(picks: readonly HeadPick[]): string {
  return picks.map((p) => `${headName(p.layer, p.head)}:${p.u}`).join(',');
}
