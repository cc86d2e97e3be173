// Bundles the desktop app's main process, preload, engine host and studio jobs into dist/app/electron
// (the files electron.config.ts names), leaving Electron and the native addons to node_modules.
// Run with `npm run build:electron`; the UI is built separately (`npm run build:ui`).
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import shell from '../electron.config.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

export async function bundleElectron(outDir = join(root, shell.outDir)): Promise<string[]> {
  const files: string[] = [];
  for (const bundle of Object.values(shell.bundles)) {
    const outfile = join(outDir, bundle.file);
    await build({
      entryPoints: [join(root, bundle.entry)],
      outfile,
      bundle: true,
      platform: 'node',
      // Electron 45 runs Node 22.
      target: 'node22',
      format: bundle.format,
      external: shell.external,
      sourcemap: 'linked',
      logLevel: 'warning',
      // ESM bundles of CommonJS dependencies still call require(); give them one.
      banner: bundle.format === 'esm' ? { js: "import { createRequire as __studioRequire } from 'node:module'; const require = __studioRequire(import.meta.url);" } : undefined,
    });
    files.push(outfile);
  }
  return files;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const f of await bundleElectron()) console.log(f);
}
