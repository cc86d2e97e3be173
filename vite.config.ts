// Builds the Svelte UI (renderer/) into dist/renderer, with relative asset paths so the same build
// loads from `studio serve` and from the desktop app's studio:// protocol.
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: 'renderer',
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
