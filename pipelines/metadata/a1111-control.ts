// The ControlNet extension's units in A1111's parameters: `ControlNet 0: "Module: canny, Model: name [hash], Weight: 1,
// …, Guidance Start: 0, Guidance End: 1, …, Control Mode: Balanced"`, one key per unit (Forge writes the same). A unit
// whose module is an IP-Adapter's CLIP encoder (`ip-adapter_clip_sd15`, `ip-adapter_clip_sdxl`…) is the image prompt.
import type { ControlPreprocessor } from '../jobs/api.ts';
import { toNumber, type ImportedControlUnit, type ImportedSettings } from './settings.ts';

/** The parameter key of one ControlNet unit. */
export const isControlUnitKey = (key: string): boolean => /^ControlNet \d+$/.test(key);

/** The extension's preprocessors that are the studio's own (its soft-edge family all map to ours). */
function studioPreprocess(module: string): ControlPreprocessor | undefined {
  if (module === 'none' || module === 'canny') return module;
  return /^softedge/.test(module) ? 'softedge' : undefined;
}

/** `Key: value, Key: value` → fields; a value runs to the next `, Key:` (model names may hold commas). */
function unitFields(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const part of text.split(/, (?=[A-Z][A-Za-z ]*: )/)) {
    const colon = part.indexOf(': ');
    if (colon > 0) fields[part.slice(0, colon)] = part.slice(colon + 2).trim();
  }
  return fields;
}

const fraction = (v: string | undefined, fallback: number) => {
  const n = toNumber(v);
  return n !== undefined && n >= 0 && n <= 1 ? n : fallback;
};

/** The units of the parameter line (keys in order), split into ControlNets and the IP-Adapter; disabled or empty units left out. */
export function controlUnitsOf(params: Record<string, string>): Pick<ImportedSettings, 'controlNets' | 'ipAdapter'> {
  const controlNets: ImportedControlUnit[] = [];
  let ipAdapter: ImportedSettings['ipAdapter'];
  for (const [key, text] of Object.entries(params)) {
    if (!isControlUnitKey(key)) continue;
    const f = unitFields(text);
    const module = f['Module'] ?? 'none';
    const model = (f['Model'] ?? '').replace(/\s*\[[0-9a-f]+\]$/i, '');
    if (!model || model === 'None') continue;
    const weight = toNumber(f['Weight']) ?? 1;
    if (/^ip-adapter/i.test(module)) {
      ipAdapter ??= { model, weight };
      continue;
    }
    const ours = studioPreprocess(module);
    controlNets.push({
      module,
      ...(ours ? { studioPreprocess: ours } : {}),
      model,
      weight,
      start: fraction(f['Guidance Start'], 0),
      end: fraction(f['Guidance End'], 1),
      guessMode: f['Control Mode'] === 'ControlNet is more important',
    });
  }
  return { ...(controlNets.length ? { controlNets } : {}), ...(ipAdapter ? { ipAdapter } : {}) };
}
