// Hyper-parameters of DiCo (Revitalizing ConvNets for Scalable and Efficient Diffusion Modeling).
import { z } from 'zod';
import { parseModelConfig } from '../parse-config.ts';

const positiveInt = z.number().int().positive();

export const DiCoConfigSchema = z
  .object({
    in_channels: positiveInt,
    /** C: width of the first level; the others are 2C and 4C. */
    hidden_size: positiveInt,
    /** Blocks per stage: [encoder 1, encoder 2, bottleneck, decoder 2, decoder 1]. */
    depth: z.array(z.number().int().min(0)).length(5),
    mlp_ratio: z.number().positive(),
    num_classes: positiveInt,
    learn_sigma: z.boolean(),
    class_dropout_prob: z.number().min(0).max(1),
  })
  .refine((c) => c.hidden_size % 2 === 0, { message: 'hidden_size must be even (the first downsample halves it)', path: ['hidden_size'] });

export type DiCoConfig = z.infer<typeof DiCoConfigSchema>;

export function parseDiCoConfig(raw: unknown, source = 'DiCo config'): DiCoConfig {
  return parseModelConfig(DiCoConfigSchema, raw, source, 'DiCo');
}

export const STAGES = ['encoder_level_1', 'encoder_level_2', 'latent', 'decoder_level_2', 'decoder_level_1'] as const;
export type Stage = (typeof STAGES)[number];

/** Width of each stage: C, 2C, 4C, 2C, and 2C for the last decoder (it keeps the concatenated width). */
export function stageWidth(c: DiCoConfig, stage: Stage): number {
  const k = { encoder_level_1: 1, encoder_level_2: 2, latent: 4, decoder_level_2: 2, decoder_level_1: 2 }[stage];
  return k * c.hidden_size;
}

export const dicoOutChannels = (c: DiCoConfig): number => (c.learn_sigma ? 2 * c.in_channels : c.in_channels);
export const dicoLabelRows = (c: DiCoConfig): number => c.num_classes + (c.class_dropout_prob > 0 ? 1 : 0);

const IMAGENET = { in_channels: 4, num_classes: 1000, learn_sigma: true, class_dropout_prob: 0.1 } as const;

export const DICO_PRESETS = {
  'DiCo-S': { ...IMAGENET, hidden_size: 128, depth: [5, 4, 4, 4, 4], mlp_ratio: 2 },
  'DiCo-B': { ...IMAGENET, hidden_size: 256, depth: [5, 4, 4, 4, 4], mlp_ratio: 2 },
  'DiCo-L': { ...IMAGENET, hidden_size: 352, depth: [9, 8, 9, 8, 9], mlp_ratio: 2 },
  'DiCo-XL': { ...IMAGENET, hidden_size: 416, depth: [9, 9, 10, 9, 9], mlp_ratio: 2 },
  'DiCo-H': { ...IMAGENET, hidden_size: 416, depth: [14, 12, 10, 12, 14], mlp_ratio: 4 },
} satisfies Record<string, DiCoConfig>;

/** Every tensor a DiCo checkpoint of this config holds, with its shape. */
export function dicoTensorShapes(c: DiCoConfig): Record<string, number[]> {
  const C = c.hidden_size;
  const rows = dicoLabelRows(c);
  const out = dicoOutChannels(c);
  const shapes: Record<string, number[]> = {
    'x_embedder.proj.weight': [C, c.in_channels, 3, 3],
    'x_embedder.proj.bias': [C],
    'down1_2.body.0.weight': [C / 2, C, 3, 3],
    'down2_3.body.0.weight': [C, 2 * C, 3, 3],
    'up3_2.body.0.weight': [8 * C, 4 * C, 3, 3],
    'up2_1.body.0.weight': [4 * C, 2 * C, 3, 3],
    'reduce_chan_level2.weight': [2 * C, 4 * C, 1, 1],
    'reduce_chan_level2.bias': [2 * C],
    'reduce_chan_level1.weight': [2 * C, 2 * C, 1, 1],
    'reduce_chan_level1.bias': [2 * C],
    'final_layer.adaLN_modulation.1.weight': [4 * C, 2 * C],
    'final_layer.adaLN_modulation.1.bias': [4 * C],
    'final_layer.out_proj.weight': [out, 2 * C, 3, 3],
    'final_layer.out_proj.bias': [out],
  };
  [C, 2 * C, 4 * C].forEach((w, i) => {
    Object.assign(shapes, {
      [`t_embedder_${i + 1}.mlp.0.weight`]: [w, 256],
      [`t_embedder_${i + 1}.mlp.0.bias`]: [w],
      [`t_embedder_${i + 1}.mlp.2.weight`]: [w, w],
      [`t_embedder_${i + 1}.mlp.2.bias`]: [w],
      [`y_embedder.embedding_table_${i}.weight`]: [rows, w],
    });
  });
  STAGES.forEach((stage, s) => {
    const w = stageWidth(c, stage);
    const f = Math.floor(c.mlp_ratio * w);
    for (let i = 0; i < c.depth[s]; i++) {
      const b = `${stage}.${i}`;
      Object.assign(shapes, {
        [`${b}.adaLN_modulation.1.weight`]: [6 * w, w],
        [`${b}.adaLN_modulation.1.bias`]: [6 * w],
        [`${b}.conv1.weight`]: [w, w, 1, 1],
        [`${b}.conv1.bias`]: [w],
        [`${b}.conv2.weight`]: [w, 1, 3, 3],
        [`${b}.conv2.bias`]: [w],
        [`${b}.ca.1.weight`]: [w, w, 1, 1],
        [`${b}.ca.1.bias`]: [w],
        [`${b}.conv3.weight`]: [w, w, 1, 1],
        [`${b}.conv3.bias`]: [w],
        [`${b}.conv4.weight`]: [f, w, 1, 1],
        [`${b}.conv4.bias`]: [f],
        [`${b}.conv5.weight`]: [w, f, 1, 1],
        [`${b}.conv5.bias`]: [w],
      });
    }
  });
  return shapes;
}
