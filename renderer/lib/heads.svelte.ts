// Which attention heads are selected in the head grid, each with its SoftPAG strength.
import type { HeadEffect, HeadLayer, HeadWeight, Preview } from '../../pipelines/jobs/api-studio.ts';

const key = (layer: number, head: number) => `${layer}:${head}`;

export class HeadSelection {
  layers = $state<HeadLayer[]>([]);
  /** Why there are no layers, when there are none. */
  message = $state<string | undefined>(undefined);
  loading = $state(false);
  /** "layer:head" → strength in 0..1. */
  selected = $state<Record<string, number>>({});
  /** The strength a newly selected head gets. */
  defaultStrength = $state(1);
  /** The head whose strength the slider edits. */
  focused = $state<{ layer: number; head: number } | undefined>(undefined);

  /** Each head's effect thumbnail for the layers shown ("layer:head" → map), and the unperturbed preview. */
  effects = $state.raw<{ base: Preview; byHead: Record<string, HeadEffect> } | undefined>(undefined);
  /** Steps of the small previews the head tools draw (effect maps, HeadHunter). */
  previewSteps = $state(4);

  count = $derived(Object.keys(this.selected).length);
  maxHeads = $derived(Math.max(0, ...this.layers.map((l) => l.heads)));

  effect(layer: number, head: number): HeadEffect | undefined {
    return this.effects?.byHead[key(layer, head)];
  }

  setEffects(base: Preview, maps: HeadEffect[]): void {
    this.effects = { base, byHead: Object.fromEntries(maps.map((m) => [key(m.layer, m.head), m])) };
  }

  /** Replaces the selection (a preset, a HeadHunter result). */
  apply(weights: readonly HeadWeight[]): void {
    this.selected = Object.fromEntries(weights.map((w) => [key(w.layer, w.head), w.strength]));
  }

  strength(layer: number, head: number): number | undefined {
    return this.selected[key(layer, head)];
  }

  toggle(layer: number, head: number): void {
    const k = key(layer, head);
    if (k in this.selected) delete this.selected[k];
    else this.selected[k] = this.defaultStrength;
    this.focused = { layer, head };
  }

  setStrength(layer: number, head: number, strength: number): void {
    this.selected[key(layer, head)] = Math.min(1, Math.max(0, strength));
  }

  clear(): void {
    this.selected = {};
  }

  setLayers(layers: HeadLayer[], message?: string): void {
    this.layers = layers;
    this.effects = undefined;
    this.message = message;
    const valid = new Set(layers.flatMap((l) => Array.from({ length: l.heads }, (_, h) => key(l.index, h))));
    this.selected = Object.fromEntries(Object.entries(this.selected).filter(([k]) => valid.has(k)));
  }

  weights(): HeadWeight[] {
    return Object.entries(this.selected).map(([k, strength]) => {
      const [layer, head] = k.split(':').map(Number);
      return { layer, head, strength };
    });
  }

  /** diffusers names of the layers that have a selected head (PAG's `layers`). */
  selectedLayerNames(): string[] {
    const withHeads = new Set(this.weights().map((w) => w.layer));
    return this.layers.filter((l) => withHeads.has(l.index)).map((l) => l.name);
  }
}
