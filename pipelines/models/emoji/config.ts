// config.json of the project's own emoji models (assets/models/emoji-*/; training/ARCHITECTURE.md):
// one schema per architecture, read through a union discriminated on `architecture`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { describeIssues } from '../parse-config.ts';

const positiveInt = z.number().int().positive();
const eps = z.number().positive().max(0.1);
const tanhGelu = z.literal('tanh', { error: 'only the tanh GELU is implemented' });

export const EmojiSamplerSchema = z.object({
  name: z.literal('euler-rectified-flow'),
  steps: positiveInt,
  cfg: z.number().min(0),
  shift: z.number().positive(),
});
export type EmojiSampler = z.infer<typeof EmojiSamplerSchema>;

export const EmojiTextConfigSchema = z
  .object({
    architecture: z.literal('emoji-text'),
    format_version: z.literal(1),
    vocab_size: z.number().int().min(3),
    dim: positiveInt,
    layers: positiveInt,
    heads: positiveInt,
    mlp_hidden: positiveInt,
    max_len: z.number().int().min(2),
    layer_norm_eps: eps,
    gelu: tanhGelu,
    special_tokens: z.object({ pad: z.number().int().min(0), bos: z.number().int().min(0), unk: z.number().int().min(0) }),
  })
  .refine((c) => c.dim % c.heads === 0, { message: 'dim must be divisible by heads', path: ['heads'] })
  .refine((c) => new Set([c.special_tokens.pad, c.special_tokens.bos, c.special_tokens.unk]).size === 3, {
    message: 'pad, bos and unk must be different ids',
    path: ['special_tokens'],
  })
  .refine((c) => Math.max(c.special_tokens.pad, c.special_tokens.bos, c.special_tokens.unk) < c.vocab_size, {
    message: 'special token ids must be below vocab_size',
    path: ['special_tokens'],
  });
export type EmojiTextConfig = z.infer<typeof EmojiTextConfigSchema>;

const widths = z.array(positiveInt).length(3);

export const EmojiVaeConfigSchema = z
  .object({
    architecture: z.literal('emoji-vae'),
    format_version: z.literal(1),
    image_channels: positiveInt,
    latent_channels: positiveInt,
    /** Widths at 64², 32², 16² (encoder) and 16², 32², 64² (decoder). */
    encoder_channels: widths,
    decoder_channels: widths,
    decoder_blocks_at_16: positiveInt,
    group_norm_groups: positiveInt,
    group_norm_eps: eps,
    image_size: positiveInt,
    latent_size: positiveInt,
  })
  .refine((c) => c.image_size === 4 * c.latent_size, { message: 'image_size must be 4 × latent_size (two 2× stages)', path: ['image_size'] })
  .refine((c) => [...c.encoder_channels, ...c.decoder_channels].every((w) => w % c.group_norm_groups === 0), {
    message: 'every channel width must be divisible by group_norm_groups',
    path: ['group_norm_groups'],
  });
export type EmojiVaeConfig = z.infer<typeof EmojiVaeConfigSchema>;

/** Fields every emoji denoiser shares: latent, conditioning, timestep sinusoid, sampler defaults. */
const denoiserFields = {
  format_version: z.literal(1),
  in_channels: positiveInt,
  latent_size: positiveInt,
  text_dim: positiveInt,
  layer_norm_eps: eps,
  freq_dim: z.number().int().positive().multipleOf(2),
  gelu: tanhGelu,
  text_encoder: z.string().min(1),
  vae: z.string().min(1),
  sampler: EmojiSamplerSchema,
};

const transformerFields = {
  ...denoiserFields,
  patch_size: positiveInt,
  hidden_size: positiveInt,
  depth: positiveInt,
  /** Cross-attention heads (and the softmax self-attention's for emoji-DiT). */
  num_heads: positiveInt,
  mlp_hidden: positiveInt,
};

/** What both transformer denoisers need of their widths: whole heads and whole patches. */
function checkTransformer(c: { hidden_size: number; num_heads: number; latent_size: number; patch_size: number }, ctx: z.RefinementCtx): void {
  if (c.hidden_size % c.num_heads !== 0) ctx.addIssue({ code: 'custom', message: 'hidden_size must be divisible by num_heads', path: ['num_heads'] });
  if (c.latent_size % c.patch_size !== 0) ctx.addIssue({ code: 'custom', message: 'latent_size must be divisible by patch_size', path: ['patch_size'] });
}

export const EmojiDitConfigSchema = z
  .object({ ...transformerFields, architecture: z.literal('emoji-dit'), self_attention: z.literal('softmax') })
  .superRefine(checkTransformer);
export type EmojiDitConfig = z.infer<typeof EmojiDitConfigSchema>;

export const EmojiLitConfigSchema = z
  .object({
    ...transformerFields,
    architecture: z.literal('emoji-lit'),
    self_attention: z.literal('relu-linear'),
    /** Heads of the ReLU linear self-attention (few and wide, LiT's recipe). */
    linear_heads: positiveInt,
    dwc_kernel: z.number().int().positive().refine((k) => k % 2 === 1, 'the depthwise kernel must be odd (same padding)'),
    linear_eps: z.number().positive(),
  })
  .superRefine(checkTransformer)
  .refine((c) => c.hidden_size % c.linear_heads === 0, { message: 'hidden_size must be divisible by linear_heads', path: ['linear_heads'] });
export type EmojiLitConfig = z.infer<typeof EmojiLitConfigSchema>;

export const EmojiDicoConfigSchema = z
  .object({
    ...denoiserFields,
    architecture: z.literal('emoji-dico'),
    /** C: width at the latent resolution. */
    channels: positiveInt,
    /** Width multipliers of the three levels (16², 8², 4² for a 16² latent). */
    level_mult: z.array(positiveInt).length(3),
    /** Blocks per stage: [encoder 1, encoder 2, latent, decoder 2, decoder 1]. */
    depths: z.array(z.number().int().min(0)).length(5),
    mlp_ratio: z.number().positive(),
    cond_dim: positiveInt,
  })
  .refine((c) => c.latent_size % 4 === 0, { message: 'latent_size must be divisible by 4 (two 2× downsamples)', path: ['latent_size'] });
export type EmojiDicoConfig = z.infer<typeof EmojiDicoConfigSchema>;

/** The 2× upsampler from the decoder's 64² image to 128² (training/emoji/upsampler.py). */
export const EmojiUpsamplerConfigSchema = z.object({
  architecture: z.literal('emoji-upsampler'),
  format_version: z.literal(1),
  scale: z.literal(2, { error: 'only the 2× upsampler is implemented' }),
  channels: positiveInt,
  blocks: z.number().int().min(0),
  input_size: positiveInt,
});
export type EmojiUpsamplerConfig = z.infer<typeof EmojiUpsamplerConfigSchema>;

export const EmojiConfigSchema = z.discriminatedUnion('architecture', [
  EmojiTextConfigSchema,
  EmojiVaeConfigSchema,
  EmojiDitConfigSchema,
  EmojiLitConfigSchema,
  EmojiDicoConfigSchema,
  EmojiUpsamplerConfigSchema,
]);
export type EmojiConfig = z.infer<typeof EmojiConfigSchema>;
export type EmojiArchitecture = EmojiConfig['architecture'];
export const EMOJI_ARCHITECTURES: readonly EmojiArchitecture[] = ['emoji-text', 'emoji-vae', 'emoji-dit', 'emoji-lit', 'emoji-dico', 'emoji-upsampler'];

/** The two transformer denoisers share one graph builder (dit.ts). */
export type EmojiTransformerConfig = EmojiDitConfig | EmojiLitConfig;

export class EmojiConfigError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'EmojiConfigError';
  }
}

type ConfigOf<A extends EmojiArchitecture> = Extract<EmojiConfig, { architecture: A }>;

/** Validates a parsed config.json; `file` names it in errors, `expected` restricts the architecture. */
export function parseEmojiConfig<A extends EmojiArchitecture = EmojiArchitecture>(raw: unknown, file: string, expected?: readonly A[]): ConfigOf<A> {
  const arch = typeof raw === 'object' && raw !== null ? (raw as { architecture?: unknown }).architecture : undefined;
  if (typeof arch !== 'string' || !(EMOJI_ARCHITECTURES as readonly string[]).includes(arch)) {
    throw new EmojiConfigError(file, `"architecture" is ${JSON.stringify(arch)}, not one of ${EMOJI_ARCHITECTURES.join(', ')}: this folder does not hold an emoji model`);
  }
  if (expected && !(expected as readonly string[]).includes(arch)) {
    throw new EmojiConfigError(file, `holds an ${arch} model where ${expected.join(' or ')} is needed`);
  }
  const r = EmojiConfigSchema.safeParse(raw);
  if (!r.success) {
    throw new EmojiConfigError(file, `invalid ${arch} config (${describeIssues(r.error)})`);
  }
  return r.data as ConfigOf<A>;
}

/** Reads and validates `<dir>/config.json`. */
export function readEmojiConfig<A extends EmojiArchitecture = EmojiArchitecture>(dir: string, expected?: readonly A[]): ConfigOf<A> {
  const file = join(dir, 'config.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new EmojiConfigError(file, `cannot be read (${(e as Error).message}); an emoji model folder needs config.json and model.safetensors`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new EmojiConfigError(file, `is not valid JSON (${(e as Error).message})`);
  }
  return parseEmojiConfig(raw, file, expected);
}

/** Token grid side of a transformer denoiser at a given latent side. */
export function emojiTokenGrid(c: EmojiTransformerConfig, latentSize = c.latent_size): number {
  if (latentSize % c.patch_size !== 0) throw new RangeError(`latent side ${latentSize} is not divisible by the patch size ${c.patch_size}`);
  return latentSize / c.patch_size;
}
