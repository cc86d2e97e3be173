// Hyper-parameters of the class-conditional DiT (the original DiT code's constructor arguments).
import { z } from 'zod';
import { parseModelConfig } from '../parse-config.ts';

const positiveInt = z.number().int().positive();

export const DiTConfigSchema = z
  .object({
    /** Latent side the checkpoint was trained at (sets the stored pos_embed's grid). */
    input_size: positiveInt,
    patch_size: positiveInt,
    in_channels: positiveInt,
    hidden_size: positiveInt,
    depth: positiveInt,
    num_heads: positiveInt,
    mlp_ratio: z.number().positive(),
    /** > 0 means the label table has one extra row, the null class used for classifier-free guidance. */
    class_dropout_prob: z.number().min(0).max(1),
    num_classes: positiveInt,
    learn_sigma: z.boolean(),
  })
  .refine((c) => c.hidden_size % c.num_heads === 0, { message: 'hidden_size must be divisible by num_heads', path: ['num_heads'] })
  .refine((c) => c.hidden_size % 4 === 0, { message: 'hidden_size must be divisible by 4 (2-D sin-cos position embedding)', path: ['hidden_size'] });

export type DiTConfig = z.infer<typeof DiTConfigSchema>;

/** Validates a config object (e.g. the `config` of a model's JSON); errors name the offending field. */
export function parseDiTConfig(raw: unknown, source = 'DiT config'): DiTConfig {
  return parseModelConfig(DiTConfigSchema, raw, source, 'DiT');
}

export const ditOutChannels = (c: DiTConfig): number => (c.learn_sigma ? 2 * c.in_channels : c.in_channels);
export const ditHasNullClass = (c: DiTConfig): boolean => c.class_dropout_prob > 0;
export const ditMlpHidden = (c: DiTConfig): number => Math.floor(c.hidden_size * c.mlp_ratio);

const IMAGENET = { in_channels: 4, mlp_ratio: 4, class_dropout_prob: 0.1, num_classes: 1000, learn_sigma: true } as const;

/** Widths and depths of the published sizes, each released with patch sizes 2, 4 and 8. */
const DIT_SIZES = {
  XL: { hidden_size: 1152, depth: 28, num_heads: 16 },
  L: { hidden_size: 1024, depth: 24, num_heads: 16 },
  B: { hidden_size: 768, depth: 12, num_heads: 12 },
  S: { hidden_size: 384, depth: 12, num_heads: 6 },
};

/** The published configs, `DiT-XL/2` … `DiT-S/8` (input_size 32 = 256² images through the SD VAE; use 64 for 512²). */
export const DIT_PRESETS: Record<string, DiTConfig> = Object.fromEntries(
  Object.entries(DIT_SIZES).flatMap(([size, dims]) => [2, 4, 8].map((p) => [`DiT-${size}/${p}`, { ...IMAGENET, input_size: 32, patch_size: p, ...dims }])),
);

/** Every tensor a checkpoint of this config holds, with its shape (PyTorch state-dict names). */
export function ditTensorShapes(c: DiTConfig): Record<string, number[]> {
  const d = c.hidden_size;
  const p = c.patch_size;
  const mlp = ditMlpHidden(c);
  const tokens = (c.input_size / p) ** 2;
  const shapes: Record<string, number[]> = {
    'x_embedder.proj.weight': [d, c.in_channels, p, p],
    'x_embedder.proj.bias': [d],
    pos_embed: [1, tokens, d],
    't_embedder.mlp.0.weight': [d, 256],
    't_embedder.mlp.0.bias': [d],
    't_embedder.mlp.2.weight': [d, d],
    't_embedder.mlp.2.bias': [d],
    'y_embedder.embedding_table.weight': [c.num_classes + (ditHasNullClass(c) ? 1 : 0), d],
    'final_layer.adaLN_modulation.1.weight': [2 * d, d],
    'final_layer.adaLN_modulation.1.bias': [2 * d],
    'final_layer.linear.weight': [p * p * ditOutChannels(c), d],
    'final_layer.linear.bias': [p * p * ditOutChannels(c)],
  };
  for (let i = 0; i < c.depth; i++) {
    const b = `blocks.${i}`;
    Object.assign(shapes, {
      [`${b}.adaLN_modulation.1.weight`]: [6 * d, d],
      [`${b}.adaLN_modulation.1.bias`]: [6 * d],
      [`${b}.attn.qkv.weight`]: [3 * d, d],
      [`${b}.attn.qkv.bias`]: [3 * d],
      [`${b}.attn.proj.weight`]: [d, d],
      [`${b}.attn.proj.bias`]: [d],
      [`${b}.mlp.fc1.weight`]: [mlp, d],
      [`${b}.mlp.fc1.bias`]: [mlp],
      [`${b}.mlp.fc2.weight`]: [d, mlp],
      [`${b}.mlp.fc2.bias`]: [d],
    });
  }
  return shapes;
}
