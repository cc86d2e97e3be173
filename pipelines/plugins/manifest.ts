// studio-plugin.json: what a plugin may contain. A plugin is data only — style presets, sampler
// presets, head presets, method recipes and model references pinned by SHA-256 — and every object is
// strict, so a misspelt or unexpected field is an error rather than something silently ignored.
import { z } from 'zod';
import { HeadPresetSchema } from '../heads/presets.ts';
import { SAMPLER_NAMES } from '../jobs/api.ts';
import { parseRange, parseVersion } from './semver.ts';
import { ATTENTION_KINDS, orList } from '../attention/options.ts';

export const MANIFEST_FILE = 'studio-plugin.json';

/** Lowercase npm-style names, optionally scoped: `cinema-styles`, `@someone/studio-presets`. */
const PluginNameSchema = z
  .string()
  .regex(/^(@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]{0,63}$/, { error: 'must be lowercase letters, digits, ".", "_" or "-" (npm package style, optionally @scope/name), at most 64 characters' });

/** Names users type after --preset: no control characters and no "/" (it separates plugin/preset). */
export const PresetNameSchema = z
  .string()
  .min(1, { error: 'must not be empty' })
  .max(100, { error: 'must be at most 100 characters' })
  // eslint-disable-next-line no-control-regex
  .regex(/^[^/\u0000-\u001f\u007f]+$/, { error: 'must not contain "/" or control characters' })
  .refine((s) => s.trim() === s, { error: 'must not start or end with spaces' });

const text = (max: number) => z.string().max(max, { error: `must be at most ${max} characters` });
const httpsUrl = z.string().regex(/^https:\/\/[^\s]+$/, { error: 'must be an https:// address' }).max(500);

const imageSide = z
  .int({ error: 'must be a whole number of pixels' })
  .min(64, { error: 'must be at least 64' })
  .max(16384, { error: 'must be at most 16384' })
  .multipleOf(8, { error: 'must be a multiple of 8' });

export const StylePresetSchema = z.strictObject({
  name: PresetNameSchema,
  description: text(500).optional(),
  /** A1111's convention: `{prompt}` is replaced by the user's prompt; without it the style is appended. */
  prompt: text(8000),
  negative: text(8000).default(''),
});

export const SamplerPresetSchema = z
  .strictObject({
    name: PresetNameSchema,
    description: text(500).optional(),
    sampler: z.enum(SAMPLER_NAMES, { error: `must be one of: ${SAMPLER_NAMES.join(' ')}` }).optional(),
    steps: z.int({ error: 'must be a whole number' }).min(1, { error: 'must be at least 1' }).max(1000, { error: 'must be at most 1000' }).optional(),
    cfg: z.number({ error: 'must be a number' }).min(0, { error: 'must be >= 0' }).max(100, { error: 'must be at most 100' }).optional(),
    clipSkip: z.int({ error: 'must be a whole number' }).min(1, { error: 'must be at least 1' }).max(12, { error: 'must be at most 12' }).optional(),
  })
  .refine((p) => p.sampler !== undefined || p.steps !== undefined || p.cfg !== undefined || p.clipSkip !== undefined, {
    error: 'sets nothing: give at least one of sampler, steps, cfg, clipSkip',
  });

const LadderStageSchema = z.strictObject({
  width: imageSide,
  height: imageSide,
  /** img2img strength of this stage (the first stage is txt2img and ignores it). */
  strength: z.number({ error: 'must be a number' }).gt(0, { error: 'must be above 0' }).max(1, { error: 'must be at most 1' }),
  steps: z.int({ error: 'must be a whole number' }).min(1, { error: 'must be at least 1' }).max(1000, { error: 'must be at most 1000' }),
});

/** A high-resolution ladder (e.g. LinFusion's): generate at the first size, then img2img up each stage. */
export const LadderRecipeSchema = z
  .strictObject({
    kind: z.literal('hires-ladder'),
    name: PresetNameSchema,
    description: text(500).optional(),
    attention: z.enum(ATTENTION_KINDS, { error: `must be ${orList(ATTENTION_KINDS)}` }).optional(),
    stages: z.array(LadderStageSchema).min(1, { error: 'needs at least one stage' }).max(8, { error: 'at most 8 stages' }),
  })
  .superRefine((r, ctx) => {
    r.stages.forEach((s, i) => {
      const prev = r.stages[i - 1];
      if (prev && (s.width < prev.width || s.height < prev.height)) {
        ctx.addIssue({ code: 'custom', path: ['stages', i], message: `is smaller than stage ${i - 1} (${s.width}x${s.height} after ${prev.width}x${prev.height}); a ladder only goes up` });
      }
    });
  });

export const RecipeSchema = z.discriminatedUnion('kind', [LadderRecipeSchema], { error: 'kind must be "hires-ladder"' });

/** A model the presets were made for: found by content, never fetched by the studio. */
export const ModelRefSchema = z.strictObject({
  name: PresetNameSchema,
  description: text(500).optional(),
  /** The file name users usually have (no folders). */
  file: z.string().regex(/^[^/\\\u0000]+$/, { error: 'must be a file name without folders' }).max(255),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, { error: 'must be the SHA-256 of the file: 64 lowercase hex digits' }),
  family: z.string().regex(/^[a-z0-9-]{1,32}$/, { error: 'must be a short family name such as sd1, sd2, sdxl' }).optional(),
  /** Where users can get it; shown to them, never downloaded by the studio. */
  url: httpsUrl.optional(),
});

export const ManifestSchema = z.strictObject({
  name: PluginNameSchema,
  version: z.string().refine((v) => parseVersion(v) !== undefined, { error: 'must be a version like 1.0.0' }),
  /** The studio versions the plugin works with, as an npm range: ">=0.1.0 <0.3.0", "^0.1.0". */
  studio: z.string().refine((r) => parseRange(r) !== undefined, { error: 'must be a version range such as ">=0.1.0 <1.0.0" or "^0.1.0"' }),
  description: text(1000).optional(),
  author: text(200).optional(),
  license: text(100).optional(),
  homepage: httpsUrl.optional(),
  styles: z.array(StylePresetSchema).max(5000).optional(),
  /** Style files inside the plugin: A1111 styles.csv (.csv) or Fooocus style JSON (.json). */
  styleFiles: z.array(z.string()).max(50).optional(),
  samplers: z.array(SamplerPresetSchema).max(1000).optional(),
  heads: z.array(HeadPresetSchema).max(1000).optional(),
  recipes: z.array(RecipeSchema).max(1000).optional(),
  models: z.array(ModelRefSchema).max(1000).optional(),
});

export type PluginManifest = z.output<typeof ManifestSchema>;
export type StylePreset = z.output<typeof StylePresetSchema>;
export type SamplerPreset = z.output<typeof SamplerPresetSchema>;
export type Recipe = z.output<typeof RecipeSchema>;
export type ModelRef = z.output<typeof ModelRefSchema>;

/** Every field name the schemas know, for "did you mean" hints on unknown fields. */
export const KNOWN_FIELDS = [
  ...new Set([
    ...Object.keys(ManifestSchema.shape),
    ...Object.keys(StylePresetSchema.shape),
    ...Object.keys(SamplerPresetSchema.shape),
    ...Object.keys(LadderRecipeSchema.shape),
    ...Object.keys(LadderStageSchema.shape),
    ...Object.keys(ModelRefSchema.shape),
    ...Object.keys(HeadPresetSchema.shape),
  ]),
];
