// `studio presets list|show|validate|import-styles`, and `--preset NAME` for generate and batch.
import { existsSync, mkdirSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import {
  applyPresetsToFlags,
  defaultPluginsDir,
  discoverPlugins,
  LIMITS,
  loadPlugin,
  MANIFEST_FILE,
  parseFooocusStyles,
  parseStylesCsv,
  PluginError,
  PRESET_KINDS,
  PresetLookupError,
  PresetRegistry,
  type Discovery,
  type LoadedPlugin,
  type PresetFlags,
  type PresetKind,
  type PresetRef,
  type StyleText,
} from '../../pipelines/plugins/index.ts';
import { describeIssues } from '../../pipelines/plugins/load.ts';
import { ManifestSchema, StylePresetSchema } from '../../pipelines/plugins/manifest.ts';
import { readCapped } from '../../pipelines/plugins/safe-files.ts';
import { replaceFileAtomic } from '../../pipelines/queue/journal.ts';
import { HELP_OPTION, JSON_OPTION, parseCommandLine, stringOptions } from './command-line.ts';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './exit-codes.ts';
import { STUDIO_VERSION } from './version.ts';

export const PRESETS_HELP = `Usage: studio presets <command> [options]

Presets come from plugins: folders (or installed packages) holding a studio-plugin.json with style
presets, sampler presets, head presets, method recipes and model references. Plugins are data only:
nothing in them is ever run.

Commands:
  list                 The installed presets, and the plugins that were rejected and why
  show NAME            One preset in full (NAME or PLUGIN/NAME), or a whole plugin
  validate PATH...     Check plugin folders (or a studio-plugin.json, an A1111 styles.csv,
                       a Fooocus style .json) and say what is wrong where
  import-styles FILE   Turn an A1111 styles.csv or Fooocus style .json into a plugin in the
                       plugins folder; then use a style with --preset NAME

Options:
  --plugins-dir DIR    Plugins folder (default: $STUDIO_PLUGINS_DIR, else the desktop app's:
                       ${defaultPluginsDir({}).replace(/^.*(Diffusion Studio)/, '<app data>/$1')})
  --kind KIND          list: only ${PRESET_KINDS.join(', ')} presets
  --name NAME          import-styles: the plugin's name (default: from the file name)
  --force              import-styles: replace a plugin of that name made by an earlier import
  --json               Print JSON
  -h, --help           Show this help

Plugins are found in the plugins folder (one folder each) and in node_modules folders (the plugins
folder's and the current folder's) among packages whose package.json has the keyword
"studio-plugin". With --preset NAME, generate and batch apply the style preset NAME (its {prompt}
template and negative prompt) and the sampler preset NAME (sampler, steps, cfg, clip skip where
the command line does not set them).
`;

const OPTIONS = {
  ...stringOptions('plugins-dir', 'kind', 'name'),
  force: { type: 'boolean' },
  ...JSON_OPTION,
  ...HELP_OPTION,
} as const;

const discoveries = new Map<string, Discovery>();

/** Plugins of a folder, found once per process (batch applies --preset to every row). */
export function pluginDiscovery(pluginsDir = defaultPluginsDir()): Discovery {
  const key = `${pluginsDir}\n${process.cwd()}`;
  let d = discoveries.get(key);
  if (!d) discoveries.set(key, (d = discoverPlugins({ studioVersion: STUDIO_VERSION, pluginsDir })));
  return d;
}

/** `--preset NAME` on generate's option texts: the style's prompt template and the sampler preset's defaults. */
export function withPreset<V extends PresetFlags & { preset?: string }>(values: V): V {
  if (values.preset === undefined) return values;
  try {
    return applyPresetsToFlags(values, new PresetRegistry(pluginDiscovery()).resolve(values.preset, ['style', 'sampler']));
  } catch (e) {
    if (e instanceof PresetLookupError) throw new UsageError(`--preset: ${e.message}`);
    throw e;
  }
}

function summary(ref: PresetRef): string {
  const v = ref.value as unknown as Record<string, unknown>;
  switch (ref.kind) {
    case 'style':
      return String(v.description ?? v.prompt);
    case 'sampler':
      return [v.sampler, v.steps !== undefined && `${v.steps} steps`, v.cfg !== undefined && `cfg ${v.cfg}`, v.clipSkip !== undefined && `clip skip ${v.clipSkip}`].filter(Boolean).join(', ');
    case 'head':
      return `${(v.heads as unknown[]).length} heads at scale ${v.scale} for ${(v.architecture as { family: string }).family}`;
    case 'recipe':
      return `${v.kind}: ${(v.stages as Array<{ width: number; height: number }>).map((s) => `${s.width}x${s.height}`).join(' → ')}`;
    case 'model':
      return `${v.file} sha256 ${String(v.sha256).slice(0, 12)}…`;
  }
}

function pluginJson(p: LoadedPlugin) {
  const presets = new PresetRegistry({ pluginsDir: '', plugins: [p], rejected: [] }).all().map((r) => ({ kind: r.kind, name: r.name, qualified: r.qualified }));
  return { name: p.name, version: p.version, studio: p.studio, description: p.description, source: p.source, root: p.root, presets, warnings: p.warnings };
}

function printRejected(rejected: readonly PluginError[]): void {
  if (!rejected.length) return;
  process.stdout.write(`\nRejected plugins:\n`);
  for (const r of rejected) process.stdout.write(`  ${r.root}\n${r.problems.map((p) => `    ${p}\n`).join('')}`);
}

function list(d: Discovery, kind: string | undefined, json: boolean): number {
  if (kind !== undefined && !(PRESET_KINDS as readonly string[]).includes(kind)) throw new UsageError(`--kind: expected one of ${PRESET_KINDS.join(', ')}, got "${kind}"`);
  const kinds = kind === undefined ? PRESET_KINDS : [kind as PresetKind];
  const registry = new PresetRegistry(d);
  if (json) {
    const plugins = d.plugins.map(pluginJson).map((p) => ({ ...p, presets: p.presets.filter((r) => kinds.includes(r.kind)) }));
    process.stdout.write(`${JSON.stringify({ pluginsDir: d.pluginsDir, plugins, rejected: d.rejected.map((r) => ({ root: r.root, problems: r.problems })) }, null, 2)}\n`);
    return EXIT_OK;
  }
  process.stdout.write(`Plugins folder: ${d.pluginsDir}${existsSync(d.pluginsDir) ? '' : ' (does not exist yet)'}\n`);
  if (!d.plugins.length) process.stdout.write('No plugins installed. Import A1111 styles with "studio presets import-styles styles.csv".\n');
  for (const p of d.plugins) {
    process.stdout.write(`\n${p.name} ${p.version}  (${p.source} ${p.root})\n`);
    for (const r of registry.all(kinds).filter((r) => r.plugin === p)) process.stdout.write(`  ${r.kind.padEnd(8)} ${r.qualified.padEnd(32)} ${summary(r).slice(0, 80)}\n`);
    for (const w of p.warnings) process.stdout.write(`  warning: ${w}\n`);
  }
  printRejected(d.rejected);
  return EXIT_OK;
}

function show(d: Discovery, name: string | undefined, json: boolean): number {
  if (name === undefined) throw new UsageError('show needs a preset name: studio presets show NAME');
  const plugin = d.plugins.find((p) => p.name === name);
  const found = new PresetRegistry(d).find(name);
  if (!plugin && !found.length) throw new UsageError(`no preset or plugin named "${name}"; see "studio presets list"`);
  const out = plugin ? pluginJson(plugin) : found.map((r) => ({ kind: r.kind, qualified: r.qualified, plugin: `${r.plugin.name} ${r.plugin.version}`, preset: r.value }));
  process.stdout.write(json ? `${JSON.stringify(out)}\n` : `${JSON.stringify(out, null, 2)}\n`);
  return EXIT_OK;
}

/** A1111 styles.csv or Fooocus style JSON → checked styles (names made safe), with warnings. */
function readStyleFile(file: string): { styles: StyleText[]; warnings: string[] } {
  const ext = extname(file).toLowerCase();
  if (ext !== '.csv' && ext !== '.json') throw new UsageError(`${file}: expected an A1111 styles .csv or a Fooocus style .json file`);
  if (!existsSync(file)) throw new UsageError(`${file}: no such file`);
  const text = readCapped(realpathSync(file), LIMITS.dataFileBytes, file);
  const read = ext === '.csv' ? parseStylesCsv(text, file) : { styles: parseFooocusStyles(JSON.parse(text), file), warnings: [] };
  const styles = read.styles.map((s) => ({ ...s, name: s.name.replace(/[/\u0000-\u001f\u007f]+/g, '-').trim() }));
  return { styles, warnings: read.warnings };
}

function validate(paths: readonly string[], json: boolean): number {
  if (!paths.length) throw new UsageError('validate needs a plugin folder (or file): studio presets validate PATH');
  const results = paths.map((path) => {
    try {
      if (/\.(csv|json)$/i.test(path) && basename(path) !== MANIFEST_FILE) {
        const { styles, warnings } = readStyleFile(path);
        const problems = styles.flatMap((s) => {
          const r = StylePresetSchema.safeParse(s);
          return r.success ? [] : r.error.issues.map((i) => `${path}: style "${s.name}": ${i.path.join('.')}: ${i.message}`);
        });
        return { path, ok: problems.length === 0, problems, warnings, what: `${styles.length} styles` };
      }
      const dir = basename(path) === MANIFEST_FILE ? dirname(path) : path;
      const p = loadPlugin(dir, { studioVersion: STUDIO_VERSION });
      const counts = Object.entries({ style: p.styles, sampler: p.samplers, head: p.heads, recipe: p.recipes, model: p.models })
        .filter(([, l]) => l.length)
        .map(([k, l]) => `${l.length} ${k}${l.length === 1 ? '' : 's'}`);
      return { path, ok: true, problems: [], warnings: p.warnings, what: `${p.name} ${p.version}: ${counts.join(', ') || 'no presets'}` };
    } catch (e) {
      if (e instanceof PluginError) return { path, ok: false, problems: e.problems, warnings: [], what: '' };
      return { path, ok: false, problems: [(e as Error).message], warnings: [], what: '' };
    }
  });
  if (json) process.stdout.write(`${JSON.stringify(results)}\n`);
  else {
    for (const r of results) {
      process.stdout.write(r.ok ? `ok       ${r.path}  (${r.what})\n` : `invalid  ${r.path}\n`);
      for (const p of r.problems) process.stdout.write(`  ${p}\n`);
      for (const w of r.warnings) process.stdout.write(`  warning: ${w}\n`);
    }
  }
  return results.every((r) => r.ok) ? EXIT_OK : EXIT_FAILURE;
}

function pluginNameFor(file: string): string {
  const stem = basename(file, extname(file)).toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+|-+$/g, '');
  return (stem || 'styles').slice(0, 64);
}

function importStyles(file: string | undefined, o: { pluginsDir: string; name?: string; force: boolean; json: boolean }): number {
  if (file === undefined) throw new UsageError('import-styles needs a file: studio presets import-styles styles.csv');
  const { styles, warnings } = readStyleFile(file);
  if (!styles.length) throw new UsageError(`${file}: no styles in it`);
  const name = o.name ?? pluginNameFor(file);
  const dir = join(o.pluginsDir, name.replace('/', '__'));
  const manifestPath = join(dir, MANIFEST_FILE);
  if (existsSync(dir) && !o.force) throw new UsageError(`${dir} already exists; choose another --name, or add --force to replace it`);
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`${dir} exists and is not a folder`);
  const [major, minor] = STUDIO_VERSION.split('.');
  const manifest = {
    name,
    version: '1.0.0',
    studio: `>=${major}.${minor}.0`,
    description: `Styles imported from ${basename(file)}`,
    styles: styles.map((s) => ({ name: s.name, prompt: s.prompt, ...(s.negative ? { negative: s.negative } : {}) })),
  };
  const checked = ManifestSchema.safeParse(manifest);
  if (!checked.success) throw new UsageError(`${file} could not be imported:\n${describeIssues(checked.error.issues, manifest, MANIFEST_FILE).join('\n')}`);
  mkdirSync(dir, { recursive: true });
  replaceFileAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  let plugin: LoadedPlugin;
  try {
    plugin = loadPlugin(dir, { studioVersion: STUDIO_VERSION });
  } catch (e) {
    throw new UsageError(`${file} could not be imported: ${(e as Error).message}`);
  }
  if (o.json) process.stdout.write(`${JSON.stringify({ plugin: pluginJson(plugin), warnings })}\n`);
  else {
    for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
    process.stdout.write(`Imported ${plugin.styles.length} styles into ${dir}\nUse one with --preset "${plugin.styles[0].name}" (or "${name}/${plugin.styles[0].name}").\n`);
  }
  return EXIT_OK;
}

export async function presetsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, OPTIONS, { positionals: true });
  const [sub, ...rest] = positionals;
  if (values.help || sub === undefined) {
    (sub === undefined && !values.help ? process.stderr : process.stdout).write(PRESETS_HELP);
    return values.help ? EXIT_OK : EXIT_USAGE;
  }
  const pluginsDir = values['plugins-dir'] !== undefined ? resolve(values['plugins-dir']) : defaultPluginsDir();
  const json = values.json ?? false;
  switch (sub) {
    case 'list':
      return list(pluginDiscovery(pluginsDir), values.kind, json);
    case 'show':
      return show(pluginDiscovery(pluginsDir), rest[0], json);
    case 'validate':
      return validate(rest, json);
    case 'import-styles':
      return importStyles(rest[0], { pluginsDir, name: values.name, force: values.force ?? false, json });
    default:
      throw new UsageError(`unknown presets command "${sub}"; one of: list, show, validate, import-styles`);
  }
}
