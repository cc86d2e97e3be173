// Builds the Svelte UI (renderer/) into dist/renderer, with relative asset paths so the same build
// loads from `studio serve` and from the desktop app's studio:// protocol.
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  // From this file, not the working directory: `studio serve` builds the UI wherever it is started.
  root: fileURLToPath(new URL('./renderer', import.meta.url)),
  base: './',
  plugins: [svelte({ configFile: fileURLToPath(new URL('./svelte.config.js', import.meta.url)) })],
  build: {
    outDir: '../dist/renderer',
    emptyOutDir: true,
    target: 'es2022',
    // The CSP forbids inline scripts and styles: everything goes to files.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
});
