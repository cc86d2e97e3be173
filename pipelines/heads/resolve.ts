// `--heads` values → head picks: a preset file, a preset name (looked up in the preset folders), or a
// head list (`L3H1:0.5,L4:1`); several joined with `+` are merged (each head at its largest u).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { HeadPick } from '../attention/head-perturbation.ts';
import type { SelfAttentionLayer } from '../attention/self-attention.ts';
import type { ArchitectureFingerprint } from './architecture.ts';
import { mergePicks, presetPicks, readHeadPreset } from './presets.ts';
import { expandHeadSpec, HeadSpecError, looksLikeHeadSpec, NeedsModelError, parseHeadSpec } from './spec.ts';

/** Presets shipped with the studio (found by HeadHunter on the embedded models). */
export const SHIPPED_PRESETS_DIR = resolve(import.meta.dirname, 'shipped');

/** Where preset names are looked up: the shipped ones, then `<models dir>/presets/heads`. */
export function presetDirs(modelsDir?: string): string[] {
  return [SHIPPED_PRESETS_DIR, ...(modelsDir ? [join(modelsDir, 'presets', 'heads')] : [])];
}

export function listPresetNames(dirs: readonly string[]): string[] {
  const names = dirs.flatMap((d) => (existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -'.json'.length)) : []));
  return [...new Set(names)].sort();
}

/** The model a selection is for; without it only explicit `L<l>H<h>` lists can be taken on trust. */
export interface HeadsTarget {
  architecture: ArchitectureFingerprint;
  layers: readonly SelfAttentionLayer[];
}

export interface ResolvedHeads {
  picks: HeadPick[];
  /** The largest scale among the presets used (absent for plain head lists). */
  presetScale?: number;
}

const isFile = (p: string) => existsSync(p) && statSync(p).isFile();

export function resolveHeads(text: string, target: HeadsTarget | undefined, dirs: readonly string[]): ResolvedHeads {
  const parts = isFile(text) ? [text] : text.split('+').map((s) => s.trim());
  const selections: HeadPick[][] = [];
  const scales: number[] = [];
  for (const part of parts) {
    const file = isFile(part) ? part : looksLikeHeadSpec(part) ? undefined : dirs.map((d) => join(d, `${part}.json`)).find(isFile);
    if (file) {
      const preset = readHeadPreset(file);
      if (!target) throw new NeedsModelError(`head preset ${file}: the model must be known to check that the preset fits it`);
      selections.push(presetPicks(preset, target.architecture, `head preset ${file}`));
      scales.push(preset.scale);
    } else if (looksLikeHeadSpec(part)) {
      selections.push(specPicks(part, target));
    } else {
      const known = listPresetNames(dirs);
      throw new HeadSpecError(
        `"${part}" is not a preset file, not a head list like L3H1:0.5,L4:1, and no preset has that name` +
          (known.length ? ` (presets: ${known.join(', ')})` : ` (no presets found in ${dirs.join(', ')})`),
      );
    }
  }
  return { picks: mergePicks(...selections), ...(scales.length ? { presetScale: Math.max(...scales) } : {}) };
}

function specPicks(text: string, target: HeadsTarget | undefined): HeadPick[] {
  return expandHeadSpec(parseHeadSpec(text), target?.layers);
}
