// The desktop app's data folders: models, outputs, presets and plugins (data-only JSON), under the
// app's user-data folder unless STUDIO_MODELS_DIR / STUDIO_OUTPUTS_DIR point elsewhere.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface AppFolders {
  models: string;
  outputs: string;
  presets: string;
  plugins: string;
}

export function appFolders(userData: string, env: Record<string, string | undefined> = process.env): AppFolders {
  return {
    models: resolve(env.STUDIO_MODELS_DIR || join(userData, 'models')),
    outputs: resolve(env.STUDIO_OUTPUTS_DIR || join(userData, 'outputs')),
    presets: join(userData, 'presets'),
    plugins: join(userData, 'plugins'),
  };
}

/** Creates the folders that are missing; says which folder could not be created and why. */
export function ensureFolders(folders: AppFolders): void {
  for (const [name, path] of Object.entries(folders)) {
    try {
      mkdirSync(path, { recursive: true });
    } catch (e) {
      throw new Error(`cannot create the ${name} folder ${path}: ${(e as Error).message}`);
    }
  }
}
