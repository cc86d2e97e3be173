// What a FLUX.1 model is made of once loaded, whatever its layout: the transformer, the 16-channel VAE,
// CLIP-L (pooled vector only) and T5 (the token sequence), each under the names the models read, with
// configs, tokenizers and the scheduler. Diffusers FluxPipeline folders, and single files in Black Forest
// Labs' layout (bf16, transformer only, or ComfyUI's with `model.diffusion_model.`, VAE and text encoders)
// completed by a components folder (checkpoints/components.ts).
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ModelParts, type ClipPart } from '../../checkpoints/components.ts';
import { readJsonObject, type JsonObject } from '../../checkpoints/json-fields.ts';
import type { KeyedSource } from '../../checkpoints/sources.ts';
import { fluxConfigFromDiffusers, fluxConfigFromTensors, type FluxConfig } from '../../models/flux/config.ts';
import type { T5Config } from '../../models/t5/config.ts';
import type { VaeConfig } from '../../models/vae/config.ts';
import { schedulerConfig } from '../sd3/sources.ts';
import { fluxPrefix, fluxSingleFileTransformer } from './keymap.ts';

export type FluxVariant = 'dev' | 'schnell';

export interface FluxSources {
  path: string;
  layout: 'diffusers' | 'single-file';
  /** dev: guidance-distilled, the guidance scale is a transformer input; schnell: timestep-distilled, no guidance. */
  variant: FluxVariant;
  transformer: KeyedSource;
  transformerConfig: FluxConfig;
  vae: KeyedSource;
  vaeConfig: VaeConfig;
  clipL: ClipPart;
  t5: { source: KeyedSource; config: T5Config; tokenizer: string };
  /** diffusers FlowMatchEulerDiscreteScheduler config. */
  scheduler: JsonObject;
}

/** black-forest-labs/FLUX.1-dev's scheduler: the shift follows the image size. */
export const FLUX_DEV_SCHEDULER: JsonObject = { num_train_timesteps: 1000, shift: 3.0, use_dynamic_shifting: true, base_shift: 0.5, max_shift: 1.15, base_image_seq_len: 256, max_image_seq_len: 4096 };
/** black-forest-labs/FLUX.1-schnell's: no shift. */
export const FLUX_SCHNELL_SCHEDULER: JsonObject = { num_train_timesteps: 1000, shift: 1.0, use_dynamic_shifting: false, base_shift: 0.5, max_shift: 1.15, base_image_seq_len: 256, max_image_seq_len: 4096 };

/** FLUX.1's VAE config (the ae of FLUX.1-dev/schnell), for files that bring none. */
const FLUX_VAE = {
  id: 'flux',
  vaeConfig: (): JsonObject => ({
    in_channels: 3, out_channels: 3, latent_channels: 16, block_out_channels: [128, 256, 512, 512], layers_per_block: 2, norm_num_groups: 32,
    scaling_factor: 0.3611, shift_factor: 0.1159, use_quant_conv: false, use_post_quant_conv: false, mid_block_add_attention: true,
  }),
};

const ENCODERS = { clipL: 'text_encoders.clip_l.transformer.', t5: 'text_encoders.t5xxl.transformer.' } as const;

export class FluxMissingPartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FluxMissingPartError';
  }
}

export function loadFluxFolder(dir: string, o: { modelsDir?: string } = {}): FluxSources {
  for (const c of ['transformer', 'vae', 'text_encoder', 'text_encoder_2']) {
    if (!existsSync(join(dir, c))) {
      throw new FluxMissingPartError(`${dir}: a FLUX.1 pipeline folder needs ${c}/ (FLUX conditions on CLIP-L in text_encoder/ and T5 in text_encoder_2/, with tokenizer/ and tokenizer_2/)`);
    }
  }
  return fluxFromParts(ModelParts.folder(dir), dir, 'diffusers', o.modelsDir);
}

export interface FluxSingleFileOptions {
  modelsDir?: string;
  /** A diffusers FLUX folder giving the parts and configs the file lacks (default: `<file without .safetensors>/`). */
  componentsDir?: string;
}

/** A FLUX folder or single file. */
export function loadFluxSources(path: string, o: FluxSingleFileOptions = {}): FluxSources {
  return statSync(path).isDirectory() ? loadFluxFolder(path, o) : loadFluxSingleFile(path, o);
}

export function loadFluxSingleFile(path: string, o: FluxSingleFileOptions = {}): FluxSources {
  return fluxFromParts(ModelParts.singleFile(path, o.componentsDir), path, 'single-file', o.modelsDir);
}

function fluxFromParts(parts: ModelParts, path: string, layout: FluxSources['layout'], modelsDir?: string): FluxSources {
  const where = layout === 'diffusers' ? `${path}/` : `${parts.sibling}/ beside the file (or name that folder with --config)`;
  const prefix = parts.file && fluxPrefix(parts.file.keys());
  if (parts.file && prefix === undefined) throw new Error(`${path} is not a FLUX.1 single file: it has no double_blocks.* tensors (Black Forest Labs' layout, or ComfyUI's under model.diffusion_model.)`);
  const transformer = parts.file ? fluxSingleFileTransformer(parts.file, prefix!) : parts.fromComponents('transformer', 'diffusion_pytorch_model')!;
  const variant: FluxVariant = transformer.has('time_text_embed.guidance_embedder.linear_1.weight') ? 'dev' : 'schnell';

  const clipL = parts.clip({ prefix: ENCODERS.clipL, component: 'text_encoder', index: 0, hiddenAct: 'quick_gelu', pad: 'eos', familyName: 'FLUX.1', modelsDir });
  const t5 = parts.t5(ENCODERS.t5, 'text_encoder_2');
  if (!clipL || !t5) {
    const missing = [clipL ? '' : 'CLIP-L', t5 ? '' : 'T5'].filter(Boolean).join(' and ');
    throw new FluxMissingPartError(
      `${path} is a FLUX.1-${variant} transformer without its text encoders (${missing} missing; FLUX needs both: CLIP-L's pooled vector and T5's tokens). ` +
        `Add them: put the FLUX diffusers folder's text_encoder/ (CLIP-L) and text_encoder_2/ (T5 v1.1 XXL), with tokenizer/ and tokenizer_2/, in ${where}` +
        (layout === 'single-file' ? ', or use a checkpoint that bundles them (text_encoders.clip_l.* and text_encoders.t5xxl.*).' : '.'),
    );
  }
  const given = parts.config('transformer');
  // A single file's own tensors say what it is (dev or schnell); only the RoPE axes, which no weight holds, come from a config.
  const transformerConfig = layout === 'diffusers' && given ? fluxConfigFromDiffusers(given.json, given.file) : fluxConfigFromTensors(transformer, `${path} (config from its tensors)`, given && fluxConfigFromDiffusers(given.json, given.file).axesDimsRope);

  const tokenizer = parts.t5Tokenizer('tokenizer_2', modelsDir);
  if (!tokenizer) throw new FluxMissingPartError(`${path}: no T5 tokenizer was found: put T5's tokenizer.json in ${join(parts.components ?? parts.sibling, 'tokenizer_2')}/ or in <models dir>/tokenizers/t5/`);
  if (t5.config.dModel !== transformerConfig.jointAttentionDim) {
    throw new Error(`${path}: T5 gives ${t5.config.dModel}-wide features but the transformer takes joint_attention_dim ${transformerConfig.jointAttentionDim}: the T5 encoder does not belong to this model`);
  }
  if (clipL.config.hiddenSize !== transformerConfig.pooledProjectionDim) {
    throw new Error(`${path}: CLIP-L gives a ${clipL.config.hiddenSize}-wide pooled vector but the transformer takes pooled_projection_dim ${transformerConfig.pooledProjectionDim}: the text encoder does not belong to this model`);
  }

  const vae = parts.vae(FLUX_VAE);
  if (!vae) throw new FluxMissingPartError(`${path} has no VAE: put FLUX's VAE as a diffusers folder (vae/) in ${where}`);

  // A folder's scheduler belongs to its transformer; a single file's follows the variant its weights show.
  const schedulerFile = layout === 'diffusers' ? join(path, 'scheduler', 'scheduler_config.json') : undefined;
  const scheduler = schedulerFile && existsSync(schedulerFile) ? schedulerConfig(readJsonObject(schedulerFile)) : variant === 'dev' ? FLUX_DEV_SCHEDULER : FLUX_SCHNELL_SCHEDULER;
  return { path, layout, variant, transformer, transformerConfig, vae: vae.source, vaeConfig: vae.config, clipL, t5: { ...t5, tokenizer }, scheduler };
}
