// Finding plugins: every folder in the user's plugins folder, and every installed package (in the
// plugins folder's node_modules, or the current folder's) whose package.json has the keyword
// "studio-plugin" or a "studio-plugin" field. Each is loaded on its own: one broken plugin is
// reported and the others still load.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadPlugin, PluginError, type LoadedPlugin } from './load.ts';
import { MANIFEST_FILE } from './manifest.ts';
import { LIMITS, readCapped } from './safe-files.ts';

export const PLUGINS_DIR_ENV = 'STUDIO_PLUGINS_DIR';

/**
 * The desktop app's plugins folder (<user data>/plugins, user data being the app's folder under the
 * platform's application-data folder), or $STUDIO_PLUGINS_DIR.
 */
export function defaultPluginsDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (env[PLUGINS_DIR_ENV]) return resolve(env[PLUGINS_DIR_ENV]);
  const appData =
    platform === 'win32'
      ? (env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'))
      : platform === 'darwin'
        ? join(homedir(), 'Library', 'Application Support')
        : (env.XDG_CONFIG_HOME ?? join(homedir(), '.config'));
  return join(appData, 'Diffusion Studio', 'plugins');
}

export interface DiscoverOptions {
  studioVersion: string;
  /** Default: defaultPluginsDir(). */
  pluginsDir?: string;
  /** node_modules folders searched for plugin packages. Default: the plugins folder's and the current folder's. */
  nodeModules?: string[];
}

export interface Discovery {
  pluginsDir: string;
  plugins: LoadedPlugin[];
  rejected: PluginError[];
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Package folders in a node_modules folder, scoped ones (@scope/name) included. */
function packageDirs(nodeModules: string): string[] {
  if (!isDir(nodeModules)) return [];
  const dirs: string[] = [];
  for (const name of readdirSync(nodeModules).sort()) {
    if (name.startsWith('.')) continue;
    const path = join(nodeModules, name);
    if (name.startsWith('@')) {
      if (isDir(path)) for (const sub of readdirSync(path).sort()) if (!sub.startsWith('.')) dirs.push(join(path, sub));
    } else {
      dirs.push(path);
    }
  }
  return dirs.filter(isDir);
}

/** Whether a package declares itself a studio plugin (its package.json is read as JSON, nothing else). */
function declaresPlugin(dir: string): boolean {
  try {
    const pkg = JSON.parse(readCapped(join(dir, 'package.json'), LIMITS.manifestBytes, 'package.json')) as { keywords?: unknown; 'studio-plugin'?: unknown };
    return (Array.isArray(pkg.keywords) && pkg.keywords.includes('studio-plugin')) || pkg['studio-plugin'] !== undefined;
  } catch {
    return false; // not a readable package: not ours to report
  }
}

export function discoverPlugins(o: DiscoverOptions): Discovery {
  const pluginsDir = o.pluginsDir ?? defaultPluginsDir();
  const candidates: Array<{ dir: string; source: 'folder' | 'package' }> = [];
  if (isDir(pluginsDir)) {
    for (const name of readdirSync(pluginsDir).sort()) {
      const dir = join(pluginsDir, name);
      if (name.startsWith('.') || name === 'node_modules' || !isDir(dir)) continue;
      candidates.push({ dir, source: 'folder' });
    }
  }
  const nodeModules = o.nodeModules ?? [join(pluginsDir, 'node_modules'), resolve('node_modules')];
  for (const nm of [...new Set(nodeModules.map((p) => resolve(p)))]) {
    for (const dir of packageDirs(nm)) if (declaresPlugin(dir)) candidates.push({ dir, source: 'package' });
  }

  const plugins: LoadedPlugin[] = [];
  const rejected: PluginError[] = [];
  const seen = new Map<string, LoadedPlugin>();
  for (const { dir, source } of candidates) {
    try {
      if (source === 'folder' && !existsSync(join(dir, MANIFEST_FILE))) {
        throw new PluginError(dir, [`no ${MANIFEST_FILE} in this folder of the plugins folder, so it is not a plugin (move it elsewhere or add one)`]);
      }
      const plugin = loadPlugin(dir, { studioVersion: o.studioVersion, source });
      const earlier = seen.get(plugin.name);
      if (earlier) {
        if (earlier.root === plugin.root) continue; // the same folder reached twice (a link)
        throw new PluginError(plugin.root, [`a plugin named "${plugin.name}" is already loaded from ${earlier.root}; remove one of them`]);
      }
      seen.set(plugin.name, plugin);
      plugins.push(plugin);
    } catch (e) {
      if (e instanceof PluginError) rejected.push(e);
      else rejected.push(new PluginError(dir, [`could not be read: ${(e as Error).message}`]));
    }
  }
  return { pluginsDir, plugins, rejected };
}
