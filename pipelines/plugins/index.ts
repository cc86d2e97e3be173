// Data-only plugin presets: discovery, validation, lookup and application (see manifest.ts for the format).
export { applyPresetsToFlags, withHeadPreset, type PresetFlags } from './apply.ts';
export { defaultPluginsDir, discoverPlugins, PLUGINS_DIR_ENV, type DiscoverOptions, type Discovery } from './discover.ts';
export { loadPlugin, PluginError, type LoadedPlugin } from './load.ts';
export { MANIFEST_FILE, ManifestSchema, type ModelRef, type PluginManifest, type Recipe, type SamplerPreset, type StylePreset } from './manifest.ts';
export { PresetLookupError, PresetRegistry, PRESET_KINDS, type PresetKind, type PresetRef } from './registry.ts';
export { LIMITS } from './safe-files.ts';
export { applyStyle, applyStyleText, parseFooocusStyles, parseStylesCsv, StyleFileError, type StyleText } from './styles.ts';
