// The presets of all loaded plugins, by kind and name. A preset is named `plugin/preset`, or just
// `preset` when no other plugin has one of that name.
import type { HeadPreset } from '../heads/presets.ts';
import type { Discovery } from './discover.ts';
import type { LoadedPlugin } from './load.ts';
import type { ModelRef, Recipe, SamplerPreset, StylePreset } from './manifest.ts';

export interface PresetOfKind {
  style: StylePreset;
  sampler: SamplerPreset;
  head: HeadPreset;
  recipe: Recipe;
  model: ModelRef;
}
export type PresetKind = keyof PresetOfKind;
export const PRESET_KINDS: readonly PresetKind[] = ['style', 'sampler', 'head', 'recipe', 'model'];

const LIST: { [K in PresetKind]: (p: LoadedPlugin) => ReadonlyArray<PresetOfKind[K]> } = {
  style: (p) => p.styles,
  sampler: (p) => p.samplers,
  head: (p) => p.heads,
  recipe: (p) => p.recipes,
  model: (p) => p.models,
};

export interface PresetRef<K extends PresetKind = PresetKind> {
  kind: K;
  plugin: LoadedPlugin;
  name: string;
  /** `plugin/name` */
  qualified: string;
  value: PresetOfKind[K];
}

export class PresetLookupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PresetLookupError';
  }
}

export class PresetRegistry {
  constructor(readonly discovery: Discovery) {}

  all<K extends PresetKind>(kinds: readonly K[] = PRESET_KINDS as readonly K[]): PresetRef<K>[] {
    return this.discovery.plugins.flatMap((plugin) =>
      kinds.flatMap((kind) => LIST[kind](plugin).map((value) => ({ kind, plugin, name: value.name, qualified: `${plugin.name}/${value.name}`, value }) as PresetRef<K>)),
    );
  }

  /** Presets with this name (`plugin/name` or a bare name) among `kinds`. */
  find<K extends PresetKind>(name: string, kinds?: readonly K[]): PresetRef<K>[] {
    const all = this.all(kinds);
    const exact = all.filter((r) => r.qualified === name);
    return exact.length ? exact : all.filter((r) => r.name === name);
  }

  /**
   * The presets `name` stands for, all from one plugin (a style and a sampler preset may share a
   * name: `--preset photo` applies both). Throws when nothing matches or several plugins do.
   */
  resolve<K extends PresetKind>(name: string, kinds: readonly K[]): PresetRef<K>[] {
    const found = this.find(name, kinds);
    const plugins = [...new Set(found.map((r) => r.plugin.name))];
    if (plugins.length > 1) {
      throw new PresetLookupError(`preset "${name}" is in several plugins; name one of: ${found.map((r) => `"${r.qualified}"`).join(', ')}`);
    }
    if (found.length) return found;
    const wanted = kinds.map((k) => `${k} preset`).join(' or ');
    const other = this.find(name).filter((r) => !(kinds as readonly string[]).includes(r.kind));
    if (other.length) throw new PresetLookupError(`"${name}" is a ${other[0].kind} preset (from ${other[0].plugin.name}), not a ${wanted}`);
    const rejected = this.discovery.rejected.length ? ` (${this.discovery.rejected.length} plugin(s) were rejected: run "studio presets list" to see why)` : '';
    const known = this.all(kinds).map((r) => r.qualified);
    const list = known.length ? `; known: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', …' : ''}` : `; no ${wanted}s are installed in ${this.discovery.pluginsDir}`;
    throw new PresetLookupError(`no ${wanted} named "${name}"${list}${rejected}`);
  }
}
