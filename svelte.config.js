// Svelte compiler settings for the renderer (read by the Vite plugin and svelte-check).
export default {
  compilerOptions: {
    runes: true,
  },
};
