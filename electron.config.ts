// The desktop shell in one place: what the app is called, its window, and which source files are
// bundled into which files for Electron (build/bundle-electron.ts reads this; so does the main process).
// Packaging (installers per platform) is configured in build/electron-builder.json.

export interface ElectronShellConfig {
  appId: string;
  productName: string;
  /** Custom scheme the UI and gallery images are served from (never file://). */
  scheme: string;
  window: { width: number; height: number; minWidth: number; minHeight: number; backgroundColor: string };
  /** Output folder of the bundles, relative to the repository root (package.json `main` points into it). */
  outDir: string;
  /** The built UI (`npm run build:ui`), relative to the repository root. */
  rendererDir: string;
  /** Source entry → bundle file name inside outDir. */
  bundles: { main: Bundle; preload: Bundle; engineHost: Bundle; engineJobs: Bundle };
  /** Packages left out of the bundles: Electron itself and native addons, loaded from node_modules. */
  external: string[];
}

interface Bundle {
  entry: string;
  file: string;
  format: 'esm' | 'cjs';
}

const config: ElectronShellConfig = {
  appId: 'app.diffusion-studio',
  productName: 'Diffusion Studio',
  scheme: 'studio',
  window: { width: 1440, height: 920, minWidth: 960, minHeight: 640, backgroundColor: '#14161a' },
  outDir: 'dist/app/electron',
  rendererDir: 'dist/renderer',
  bundles: {
    main: { entry: 'app/electron/main.ts', file: 'main.js', format: 'esm' },
    // Sandboxed preloads cannot load ES modules or other files: one CommonJS file.
    preload: { entry: 'app/electron/preload.cts', file: 'preload.cjs', format: 'cjs' },
    engineHost: { entry: 'pipelines/host/entry.ts', file: 'engine-host.js', format: 'esm' },
    engineJobs: { entry: 'pipelines/jobs/run.ts', file: 'engine-jobs.js', format: 'esm' },
  },
  // koffi: the FFI addon through which native ORT sessions reach ORT's C API (runtime/native).
  external: ['electron', 'onnxruntime-node', 'sharp', 'koffi'],
};

export default config;
