// Loading one plugin folder: check the folder (links, sizes), read and validate studio-plugin.json,
// check the versions, read the style files it names, and collect every problem with where it is,
// so one run tells the author everything to fix. Files are only ever read as JSON or CSV text.
import { existsSync, lstatSync, realpathSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { z } from 'zod';
import type { HeadPreset } from '../heads/presets.ts';
import { KNOWN_FIELDS, MANIFEST_FILE, ManifestSchema, StylePresetSchema, type ModelRef, type PluginManifest, type Recipe, type SamplerPreset, type StylePreset } from './manifest.ts';
import { inspectTree, LIMITS, PluginFileError, readCapped, resolveInside } from './safe-files.ts';
import { parseRange, parseVersion, satisfies } from './semver.ts';
import { parseFooocusStyles, parseStylesCsv, StyleFileError, type StyleText } from './styles.ts';

export interface PluginPresets {
  styles: StylePreset[];
  samplers: SamplerPreset[];
  heads: HeadPreset[];
  recipes: Recipe[];
  models: ModelRef[];
}

export interface LoadedPlugin extends PluginPresets {
  name: string;
  version: string;
  /** The studio versions it declares it works with. */
  studio: string;
  description?: string;
  author?: string;
  license?: string;
  homepage?: string;
  /** The plugin folder's real path. */
  root: string;
  source: 'folder' | 'package';
  warnings: string[];
}

export class PluginError extends Error {
  constructor(
    readonly root: string,
    readonly problems: string[],
  ) {
    super(`the plugin at ${root} was not loaded:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'PluginError';
  }
}

/** npm lifecycle scripts that run code when a package is installed. */
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepare', 'prepublish'];

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const keep = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = keep;
    }
  }
  return d[b.length];
}

function didYouMean(key: string): string {
  const best = KNOWN_FIELDS.map((k) => ({ k, d: editDistance(key.toLowerCase(), k.toLowerCase()) })).sort((a, b) => a.d - b.d)[0];
  return best && best.d <= 2 ? ` (did you mean "${best.k}"?)` : '';
}

/** `styles[2].prompt` from zod's path. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : s ? `${s}.${String(p)}` : String(p)), '');
}

/** zod's issues as `file: field: what is wrong (got value)` lines. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], data: unknown, file: string): string[] {
  return issues.flatMap((issue) => {
    const where = fieldPath(issue.path);
    const at = where ? `${file}: ${where}` : file;
    if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => `${at}: unknown field "${k}"${didYouMean(k)}`);
    const got = issue.path.reduce<unknown>((v, p) => (v as Record<PropertyKey, unknown> | undefined)?.[p], data);
    const shown = got === undefined ? '' : typeof got === 'object' ? '' : ` (got ${JSON.stringify(got).slice(0, 80)})`;
    const missing = got === undefined && issue.code === 'invalid_type' ? ' (missing)' : '';
    return [`${at}: ${issue.message}${shown}${missing}`];
  });
}

function parseJson(text: string, file: string, problems: string[]): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    problems.push(`${file}: not valid JSON (${(e as Error).message})`);
    return undefined;
  }
}

function checkVersions(m: PluginManifest, studioVersion: string, problems: string[]): void {
  const range = parseRange(m.studio)!;
  const current = parseVersion(studioVersion);
  if (current && !satisfies(current, range)) {
    problems.push(`${MANIFEST_FILE}: studio: the plugin works with studio "${m.studio}", but this is studio ${studioVersion}; install a version of the plugin made for it`);
  }
}

function checkPackageJson(root: string, m: PluginManifest | undefined, problems: string[]): void {
  const path = join(root, 'package.json');
  if (!existsSync(path)) return;
  let pkg: { name?: unknown; version?: unknown; scripts?: Record<string, unknown> } | undefined;
  try {
    pkg = parseJson(readCapped(resolveInside(root, 'package.json', 'package.json'), LIMITS.manifestBytes, 'package.json'), 'package.json', problems) as typeof pkg;
  } catch (e) {
    problems.push((e as Error).message);
    return;
  }
  if (!pkg || typeof pkg !== 'object') return;
  const scripts = Object.keys(pkg.scripts ?? {}).filter((s) => INSTALL_SCRIPTS.includes(s));
  if (scripts.length) {
    problems.push(`package.json: scripts: has install scripts (${scripts.join(', ')}); a presets plugin is data only, and the studio does not load packages that run code when installed`);
  }
  if (m && pkg.name !== undefined && pkg.name !== m.name) problems.push(`package.json: name "${String(pkg.name)}" differs from ${MANIFEST_FILE}'s name "${m.name}"`);
  if (m && pkg.version !== undefined && pkg.version !== m.version) problems.push(`package.json: version "${String(pkg.version)}" differs from ${MANIFEST_FILE}'s version "${m.version}"`);
}

function readStyleFiles(root: string, files: readonly string[], warnings: string[], problems: string[]): StylePreset[] {
  const styles: StylePreset[] = [];
  files.forEach((name, i) => {
    const field = `${MANIFEST_FILE}: styleFiles[${i}]`;
    try {
      const path = resolveInside(root, name, field);
      const ext = extname(name).toLowerCase();
      if (ext !== '.csv' && ext !== '.json') throw new PluginFileError(`${field}: "${name}" must be a .csv (A1111 styles.csv) or .json (Fooocus styles) file`);
      const text = readCapped(path, LIMITS.dataFileBytes, name);
      let read: StyleText[] = [];
      if (ext === '.csv') {
        const csv = parseStylesCsv(text, name);
        warnings.push(...csv.warnings);
        read = csv.styles;
      } else {
        const data = parseJson(text, name, problems);
        if (data !== undefined) read = parseFooocusStyles(data, name);
      }
      for (const style of read) {
        const checked = StylePresetSchema.safeParse(style);
        if (checked.success) styles.push(checked.data);
        else problems.push(...describeIssues(checked.error.issues, style, `${name}: style "${style.name}"`));
      }
    } catch (e) {
      if (e instanceof PluginFileError || e instanceof StyleFileError || (e as { name?: string }).name === 'CsvError') problems.push((e as Error).message);
      else throw e;
    }
  });
  return styles;
}

function checkUniqueNames(kind: string, names: readonly string[], problems: string[]): void {
  const first = new Map<string, number>();
  names.forEach((n, i) => {
    if (first.has(n)) problems.push(`${kind}: the name "${n}" is used twice (entries ${first.get(n)} and ${i}); names must be unique within a plugin`);
    else first.set(n, i);
  });
}

/** Loads and checks the plugin in `dir`; throws PluginError listing every problem. */
export function loadPlugin(dir: string, o: { studioVersion: string; source?: 'folder' | 'package' }): LoadedPlugin {
  let root: string;
  try {
    root = realpathSync(dir);
    if (!lstatSync(root).isDirectory()) throw new Error('not a folder');
  } catch (e) {
    throw new PluginError(dir, [`cannot open the plugin folder: ${(e as Error).message}`]);
  }
  const problems = inspectTree(root);
  const warnings: string[] = [];
  let manifest: PluginManifest | undefined;
  try {
    const data = parseJson(readCapped(resolveInside(root, MANIFEST_FILE, MANIFEST_FILE), LIMITS.manifestBytes, MANIFEST_FILE), MANIFEST_FILE, problems);
    if (data !== undefined) {
      const parsed = ManifestSchema.safeParse(data);
      if (parsed.success) manifest = parsed.data;
      else problems.push(...describeIssues(parsed.error.issues, data, MANIFEST_FILE));
    }
  } catch (e) {
    if (!(e instanceof PluginFileError)) throw e;
    problems.push(existsSync(join(root, MANIFEST_FILE)) ? e.message : `no ${MANIFEST_FILE} in the folder (every plugin needs one)`);
  }
  checkPackageJson(root, manifest, problems);
  if (!manifest) throw new PluginError(root, problems);

  checkVersions(manifest, o.studioVersion, problems);
  const styles = [...(manifest.styles ?? []), ...readStyleFiles(root, manifest.styleFiles ?? [], warnings, problems)];
  const presets: PluginPresets = { styles, samplers: manifest.samplers ?? [], heads: manifest.heads ?? [], recipes: manifest.recipes ?? [], models: manifest.models ?? [] };
  for (const [kind, list] of Object.entries(presets) as Array<[string, Array<{ name: string }>]>) checkUniqueNames(kind, list.map((p) => p.name), problems);
  if (problems.length) throw new PluginError(root, problems);

  const { name, version, studio, description, author, license, homepage } = manifest;
  return { name, version, studio, description, author, license, homepage, root, source: o.source ?? 'folder', warnings, ...presets };
}
