// The model families as the command line's help lists them, read from the registry
// (pipelines/families/registry.ts): a family added there shows up in `studio --help` and
// `studio generate --help`. Importing this loads every family's code, so front ends import it
// on demand, only to print help.
import { DEFAULT_MODEL, FAMILIES } from '../families/registry.ts';
import type { ModelDefaults } from './api.ts';

export interface FamilySummary {
  id: string;
  label: string;
  /** Shipped with the studio: `--model <id>` draws with it. */
  builtIn: boolean;
  /** The model a request without --model draws with. */
  isDefault: boolean;
  defaults: ModelDefaults;
}

export function familySummaries(): FamilySummary[] {
  return FAMILIES.map((f) => ({ id: f.id, label: f.label, builtIn: f.builtIn === true, isDefault: f.id === DEFAULT_MODEL, defaults: f.defaults }));
}
