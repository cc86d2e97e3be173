// The generate job: the one request shape for image generation, shared by the CLI, `studio serve`,
// batch and the desktop app. It is validated at the boundary (zod) and recorded verbatim in each
// PNG's studio chunk, so a parsed request must be enough to re-run an image exactly: everything
// random (the seed) is decided here, before the engine sees it. Data only: zod and the data-only
// lists of samplers and attention variants, so the renderer may bundle it.
import { MAX_PROMPT_CHARS } from './api-limits.ts';
import { z } from 'zod';
import { AttentionSchema, type Attention } from '../attention/options.ts';
import { SAMPLER_NAMES as SAMPLER_LIST, type SamplerName } from '../samplers/names.ts';

export { AttentionSchema, type Attention, type SamplerName };
export { ATTENTION_VARIANTS, ATTENTION_KINDS, attentionCliForms, parseAttentionArg, takesPath, type AttentionKind } from '../attention/options.ts';
export { SAMPLER_LABELS } from '../samplers/names.ts';

/**
 * The samplers' ids: the `_karras` variants use Karras sigmas; DDIM, PNDM and DDPM step on the
 * discrete training timesteps. Everything else about the schedule (prediction type, spacing, betas)
 * comes from the model's own scheduler config.
 */
export const SAMPLER_NAMES = SAMPLER_LIST as unknown as readonly [SamplerName, ...SamplerName[]];

/** 8-bit RGB, interleaved, row-major: what the engine hands back (images, previews, thumbnails). */
export interface Rgb8 {
  width: number;
  height: number;
  pixels: Uint8Array;
}

export const EXECUTION_PROVIDERS = ['cpu', 'webgpu', 'cuda', 'dml', 'coreml', 'auto'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

/** Seeds are kept within JSON's exact integers so the studio chunk round-trips them. */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

/** Seeds drawn when the caller gives none: the range A1111 and ComfyUI users are used to. */
export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

const imageSide = z
  .int({ error: 'must be a whole number of pixels' })
  .min(64, { error: 'must be at least 64 pixels' })
  .max(16384, { error: 'must be at most 16384 pixels' })
  .multipleOf(8, { error: 'must be a multiple of 8 (the VAE works on 8x8 pixel blocks)' });

/** img2img strength when an init image is given without one (diffusers' default). */
export const DEFAULT_STRENGTH = 0.8;

/** Hires fix upscalers: latent interpolation (A1111's "Latent" is bilinear) or Lanczos on the pixels. */
export const HIRES_UPSCALERS = ['latent', 'latent-nearest', 'latent-bicubic', 'lanczos'] as const;
export type HiresUpscaler = (typeof HIRES_UPSCALERS)[number];

/** A1111's hires fix: draw at the base size, upscale, then img2img at `denoise` (A1111's defaults). */
export const HiresFixSchema = z.object({
  scale: z.number({ error: 'must be a number' }).gt(1, { error: 'must be above 1' }).max(8, { error: 'must be at most 8' }),
  denoise: z.number({ error: 'must be a number' }).gt(0, { error: 'must be above 0' }).max(1, { error: 'must be at most 1' }).default(0.7),
  upscaler: z.enum(HIRES_UPSCALERS, { error: `must be one of: ${HIRES_UPSCALERS.join(' ')}` }).default('latent'),
  /** Steps of the second pass; absent: the request's steps (A1111's 0). */
  steps: z.int({ error: 'must be a whole number' }).min(1, { error: 'must be at least 1' }).max(1000, { error: 'must be at most 1000' }).optional(),
});
export type HiresFix = z.output<typeof HiresFixSchema>;

/** The size a hires fix draws at: the base size times the scale, on the VAE's 8-pixel grid. */
export function hiresSize(base: number, scale: number): number {
  return Math.round((base * scale) / 8) * 8;
}

/**
 * LinFusion's high-resolution modes: the SDEdit ladder (SD 1.x / 2.x / XL), and its SDXL pipelines: HighRes
 * (text to image through dual-branch stages) and SuperRes (an init image enlarged the same way).
 */
export const HIRES_MODES = ['ladder', 'highres', 'superres'] as const;
export type HiresMode = (typeof HIRES_MODES)[number];

/** LinFusion's ladder strengths (its notebook): 2×, 4×, 8×, 16× the base; later stages keep the last. */
export const LADDER_STRENGTHS = [0.4, 0.3, 0.2, 0.1] as const;

/**
 * LinFusion's HighRes / SuperRes loop settings, named and defaulted as its pipelines' arguments (cosine_scale_1,
 * cosine_scale_2, cosine_scale_3, gaussian_sigma, upscale_strength; its notebooks pass gaussian_sigma 0.8).
 */
export const DUAL_BRANCH_DEFAULTS = { cosineScale1: 3, cosineScale2: 1, cosineScale3: 1, gaussianSigma: 1, upscaleStrength: 0.32 } as const;

/** The multiples of 64 on either side of `side`. */
const nearestMultiples = (side: unknown) => {
  const n = Number(side);
  return Number.isFinite(n) ? `: nearest ${Math.max(64, Math.floor(n / 64) * 64)} or ${Math.ceil(n / 64) * 64}` : '';
};

const ladderSide = z
  .int({ error: 'must be a whole number of pixels' })
  .min(128, { error: 'must be at least 128 pixels' })
  .max(65536, { error: 'must be at most 65536 pixels' })
  .multipleOf(64, { error: (issue) => `must be a multiple of 64 (each stage halves it down to the base, which the UNet halves three times)${nearestMultiples(issue.input)}` });

const loopScale = (what: string) => z.number({ error: 'must be a number' }).min(0, { error: 'must be 0 or more' }).max(100, { error: `must be at most 100 (${what})` });

/** `--hires WxH`: the final size, reached from the base size by doubling it once per stage. */
export const HiresLadderSchema = z.object({
  width: ladderSide,
  height: ladderSide,
  mode: z.enum(HIRES_MODES, { error: `must be one of: ${HIRES_MODES.join(' ')}` }).default('ladder'),
  /** img2img strength per stage; absent: LinFusion's 0.4, 0.3, 0.2, 0.1. */
  strengths: z.array(z.number({ error: 'must be a number' }).gt(0, { error: 'must be above 0' }).max(1, { error: 'must be at most 1' })).min(1).max(10).optional(),
  /** Write every stage's image beside the final one (they are written when a later stage fails either way). */
  keepStages: z.boolean().default(false),
  /**
   * The most device memory the stages may use, GiB (default: all the device has; above it, on the user's word); the
   * memory plan runs each stage the fastest way within it.
   */
  memoryGiB: z.number({ error: 'must be a number of GiB' }).gt(0, { error: 'must be above 0' }).max(65536, { error: 'must be at most 65536' }).optional(),
  /** HighRes / SuperRes: exponents of the cosine factor for the skip residual, the branch mix and the blur's σ. */
  cosineScale1: loopScale('the skip residual').optional(),
  cosineScale2: loopScale('the dilated branch').optional(),
  cosineScale3: loopScale("the blur's sigma").optional(),
  /** HighRes / SuperRes: the Gaussian blur's σ at the start (it falls with the cosine factor). */
  gaussianSigma: z.number({ error: 'must be a number' }).gt(0, { error: 'must be above 0' }).max(100, { error: 'must be at most 100' }).optional(),
  /** HighRes: the first scale's strength (later scales fall linearly to 0); SuperRes: the first stage's. */
  upscaleStrength: z.number({ error: 'must be a number' }).gt(0, { error: 'must be above 0' }).max(1, { error: 'must be at most 1' }).optional(),
});
export type HiresLadder = z.output<typeof HiresLadderSchema>;

export interface LadderStage {
  width: number;
  height: number;
  /** img2img strength; undefined for the base (text-to-image). */
  strength?: number;
  /** Denoising steps this stage runs (img2img: int(steps · strength), as diffusers; HighRes / SuperRes: ceil). */
  steps: number;
  /** HighRes / SuperRes: the dilated branch's convolution dilation. */
  dilation?: number;
}

/**
 * The ladder's stages: the base at the request's size, then one ×2 stage per doubling up to the final
 * size. Returns a sentence saying what is wrong instead when the sizes do not form a ladder.
 */
export function ladderStages(base: { width: number; height: number }, hires: HiresLadder, steps: number): LadderStage[] | string {
  const ratio = hires.width / base.width;
  const count = Math.round(Math.log2(ratio));
  if (count < 1 || 2 ** count !== ratio || hires.height !== base.height * ratio) {
    const fits = [1, 2, 3, 4, 5].map((k) => `${base.width * 2 ** k}x${base.height * 2 ** k}`).join(', ');
    return `--hires ${hires.width}x${hires.height} is not the base ${base.width}×${base.height} doubled 1 or more times (each ladder stage doubles both sides): use ${fits}, or set --width/--height to the final size halved per stage`;
  }
  if (hires.strengths && hires.strengths.length !== count) {
    return `--hires-strengths gives ${hires.strengths.length} strengths for ${count} stages (${base.width}×${base.height} → ${hires.width}×${hires.height}): give ${count}`;
  }
  const stages: LadderStage[] = [{ ...base, steps }];
  for (let k = 1; k <= count; k++) {
    const strength = hires.strengths?.[k - 1] ?? LADDER_STRENGTHS[Math.min(k, LADDER_STRENGTHS.length) - 1];
    const stageSteps = Math.min(Math.floor(steps * strength), steps);
    if (stageSteps < 1) return `ladder stage ${k} (strength ${strength}) would run no denoising step with --steps ${steps}: give --steps ${Math.ceil(1 / strength)} or more, or a higher strength`;
    stages.push({ width: base.width * 2 ** k, height: base.height * 2 ** k, strength, steps: stageSteps });
  }
  return stages;
}

const pad = z.int({ error: 'must be a whole number of pixels' }).min(0, { error: 'must be 0 or more' }).max(4096, { error: 'must be at most 4096' }).multipleOf(8, { error: 'must be a multiple of 8 (the VAE works on 8x8 pixel blocks)' });

/** Outpainting: pixels of new canvas on each side of the init image, generated to match it. */
export const OutpaintSchema = z
  .object({ left: pad, right: pad, top: pad, bottom: pad })
  .refine((p) => p.left + p.right + p.top + p.bottom > 0, { error: 'adds no canvas: give at least one side more than 0 pixels' });
export type Outpaint = z.output<typeof OutpaintSchema>;

/** Inpainting mask blur in pixels when a mask is given without one (A1111's default). */
export const DEFAULT_MASK_BLUR = 4;


/** One attention head's perturbation strength u (SoftPAG): `(1-u)·attention + u·V`. */
export const HeadWeightSchema = z.object({
  /** The self-attention layer's index in the model's execution order (`studio heads list`). */
  layer: z.int().min(0),
  head: z.int().min(0),
  strength: z.number().min(0, { error: 'must be from 0 to 1' }).max(1, { error: 'must be from 0 to 1' }),
});
export type HeadWeight = z.infer<typeof HeadWeightSchema>;

export const PagSchema = z.object({
  scale: z.number().min(0, { error: 'must be >= 0' }).max(100),
  /** diffusers' layer names: `mid`, `down_blocks.1`, `up_blocks.0.attentions.1`, … (diffusers' default: mid). */
  layers: z.array(z.string().min(1)).min(1, { error: 'needs at least one layer name' }).default(['mid']),
  /** diffusers' `pag_adaptive_scale`: the scale falls by this much per unit of timestep (0 = constant). */
  adaptiveScale: z.number().min(0, { error: 'must be >= 0' }).optional(),
  /** Per-head strengths; when given they replace `layers`. */
  heads: z.array(HeadWeightSchema).min(1).optional(),
});

/** A LoRA asked for by path or by name, at a weight (A1111's `<lora:name:weight>`). */
export const LoraRefSchema = z.object({
  name: z.string().min(1, { error: 'give a LoRA file or name' }),
  weight: z.number({ error: 'must be a number' }).min(-20, { error: 'must be at least -20' }).max(20, { error: 'must be at most 20' }).default(1),
});
export type LoraRef = z.infer<typeof LoraRefSchema>;

/** How a control image is prepared: edges found here (canny, soft edges) or used as it is (depth, pose, normal maps). */
export const CONTROL_PREPROCESSORS = ['none', 'canny', 'softedge'] as const;
export type ControlPreprocessor = (typeof CONTROL_PREPROCESSORS)[number];

const fraction = z.number({ error: 'must be a number' }).min(0, { error: 'must be from 0 to 1' }).max(1, { error: 'must be from 0 to 1' });

/** One ControlNet with its control image (A1111's ControlNet unit). */
export const ControlNetUnitSchema = z
  .object({
    /** A diffusers ControlNet folder or a .safetensors file (diffusers or original layout). */
    model: z.string().min(1, { error: 'give a ControlNet file or folder' }),
    image: z.string().min(1, { error: 'give a control image' }),
    weight: z.number({ error: 'must be a number' }).min(0, { error: 'must be from 0 to 2' }).max(2, { error: 'must be from 0 to 2' }).default(1),
    /** The fraction of the steps where it starts and stops acting. */
    start: fraction.default(0),
    end: fraction.default(1),
    preprocess: z.enum(CONTROL_PREPROCESSORS, { error: `must be one of: ${CONTROL_PREPROCESSORS.join(' ')}` }).default('none'),
    /** diffusers' guess mode: no prompt needed; residuals ramp from 0.1 to 1 and skip the negative branch. */
    guessMode: z.boolean().default(false),
  })
  .refine((u) => u.start < u.end, { error: 'start must be below end (fractions of the steps)', path: ['start'] });
export type ControlNetUnit = z.output<typeof ControlNetUnitSchema>;

/** How strongly an IP-Adapter's image steers when a request gives no scale (diffusers' set_ip_adapter_scale default). */
export const DEFAULT_IP_ADAPTER_SCALE = 1;

/** IP-Adapter: an image prompt through an adapter file and the CLIP image encoder it was trained with. */
export const IpAdapterSchema = z.object({
  /** `ip-adapter_sd15.safetensors`, `.bin`, or a Plus variant (image_proj + ip_adapter tensors). */
  model: z.string().min(1, { error: 'give an IP-Adapter file' }),
  image: z.string().min(1, { error: 'give the image prompt (--ip-image)' }),
  /** The CLIPVisionModelWithProjection folder; absent: `image_encoder/` beside the adapter. */
  imageEncoder: z.string().min(1).optional(),
  /** diffusers' set_ip_adapter_scale: how strongly the image steers (0: not at all). */
  scale: z.number({ error: 'must be a number' }).min(0, { error: 'must be from 0 to 2' }).max(2, { error: 'must be from 0 to 2' }).default(DEFAULT_IP_ADAPTER_SCALE),
});
export type IpAdapterRequest = z.output<typeof IpAdapterSchema>;

export const GenerateRequestSchema = z
  .object({
    /** Checkpoint file or diffusers folder, or a name found in `modelsDir`; absent: the default model. */
    model: z.string().min(1).optional(),
    modelsDir: z.string().min(1).optional(),
    /** VAE override (file or folder). */
    vae: z.string().min(1).optional(),
    /** Single files: a diffusers config folder or an original .yaml whose settings win over the weights' statistics. */
    config: z.string().min(1).optional(),
    /** LoRA / LyCORIS files or names in `loraDir`, merged at their weights (prompt tags `<lora:NAME:W>` add more). */
    loras: z.array(LoraRefSchema).max(32, { error: 'at most 32 LoRAs' }).optional(),
    /** Where LoRA names are looked up; absent: the models folder's LoRA folder (A1111 `Lora/`, ComfyUI `loras/`). */
    loraDir: z.string().min(1).optional(),
    /** Textual-inversion embeddings: a prompt word equal to a file's stem becomes its vectors. */
    embeddingsDir: z.string().min(1).optional(),
    prompt: z.string().max(MAX_PROMPT_CHARS, { error: `is longer than ${MAX_PROMPT_CHARS} characters; shorten it` }),
    negative: z.string().max(MAX_PROMPT_CHARS, { error: `is longer than ${MAX_PROMPT_CHARS} characters; shorten it` }).default(''),
    /** Absent: the model's default (20 for Stable Diffusion, 8 for the embedded models). */
    steps: z.int({ error: 'must be a whole number' }).min(1, { error: 'must be at least 1' }).max(1000, { error: 'must be at most 1000' }).optional(),
    /** Absent: the model's default (7.5 for Stable Diffusion). */
    cfg: z.number({ error: 'must be a number' }).min(0, { error: 'must be >= 0' }).max(100, { error: 'must be at most 100' }).optional(),
    /** Absent: the model's default (dpmpp_2m_karras for Stable Diffusion; flow models have their own). */
    sampler: z.enum(SAMPLER_NAMES, { error: `must be one of: ${SAMPLER_NAMES.join(' ')}` }).optional(),
    /** One seed for the whole batch: all images' noise comes from one generator, as diffusers does. */
    seed: z
      .int({ error: `must be a whole number from 0 to ${MAX_SEED}` })
      .min(0, { error: `must be from 0 to ${MAX_SEED}` })
      .max(MAX_SEED, { error: `must be from 0 to ${MAX_SEED}` })
      .default(randomSeed),
    /** Absent: the model's native size (512 for SD 1.x, 768 for SD 2.x v-models, 1024 for SDXL). */
    width: imageSide.optional(),
    height: imageSide.optional(),
    batch: z.int({ error: 'must be a whole number' }).min(1, { error: 'must be at least 1' }).max(64, { error: 'must be at most 64' }).default(1),
    initImage: z.string().min(1).optional(),
    /** img2img: how much of the schedule is re-run (1 = the init image is fully replaced). */
    strength: z.number({ error: 'must be a number' }).gt(0, { error: 'must be above 0' }).max(1, { error: 'must be at most 1' }).optional(),
    /** Inpainting: a mask image over the init image, white = repaint, black = keep. */
    mask: z.string().min(1).optional(),
    /** Inpainting: the mask's blur in pixels, which is also the blend of the final overlay. */
    maskBlur: z.int({ error: 'must be a whole number of pixels' }).min(0, { error: 'must be 0 or more' }).max(256, { error: 'must be at most 256' }).optional(),
    /** Inpainting: redraw the whole image, or only the region around the mask at the full size (A1111's "Only masked"). */
    inpaintArea: z.enum(['whole', 'masked'], { error: 'must be whole or masked' }).optional(),
    /** Inpainting only the masked area: pixels of context around the mask (A1111's default 32). */
    padding: z.int({ error: 'must be a whole number of pixels' }).min(0, { error: 'must be 0 or more' }).max(4096, { error: 'must be at most 4096' }).optional(),
    outpaint: OutpaintSchema.optional(),
    hiresFix: HiresFixSchema.optional(),
    /** LinFusion's high-resolution ladder up to this size (from the base at width × height). */
    hires: HiresLadderSchema.optional(),
    pag: PagSchema.optional(),
    /** ControlNets, each with its control image; several act at once (their residuals add up). */
    controlNets: z.array(ControlNetUnitSchema).min(1).max(8, { error: 'at most 8 ControlNets' }).optional(),
    ipAdapter: IpAdapterSchema.optional(),
    attention: AttentionSchema.default({ kind: 'softmax' }),
    ep: z.enum(EXECUTION_PROVIDERS, { error: `must be one of: ${EXECUTION_PROVIDERS.join(' ')}` }).default('cpu'),
    /** A1111's convention: 1 = the last layer (no skip), 2 = the penultimate, … */
    clipSkip: z.int({ error: 'must be a whole number' }).min(1, { error: 'must be at least 1' }).max(12, { error: 'must be at most 12' }).default(1),
    /** Class-conditional models (DiT, DiCo): the class to draw, below the model's class count (checked when it is loaded). */
    classLabel: z.int({ error: 'must be a whole number' }).min(0, { error: 'must be 0 or more' }).max(1_000_000, { error: 'is too large' }).optional(),
  })
  .superRefine((r, ctx) => {
    if (r.strength !== undefined && r.initImage === undefined) {
      ctx.addIssue({ code: 'custom', path: ['strength'], message: 'only applies to img2img: give an init image too' });
    }
    if (r.mask !== undefined && r.initImage === undefined) {
      ctx.addIssue({ code: 'custom', path: ['mask'], message: 'paints over an image: give the image to inpaint as the init image too' });
    }
    if (r.hiresFix !== undefined && r.initImage !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['hiresFix'], message: 'applies to text-to-image: leave out the init image, or raise the size and use --strength' });
    }
    if (r.hires !== undefined && r.hiresFix !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['hires'], message: 'and --hires-fix both upscale: use one of them' });
    }
    if (r.hires !== undefined) hiresIssues(r.hires, r).forEach(([path, message]) => ctx.addIssue({ code: 'custom', path, message }));
    if (r.inpaintArea !== undefined && r.mask === undefined) {
      ctx.addIssue({ code: 'custom', path: ['inpaintArea'], message: 'only applies to inpainting: give a mask too' });
    }
    if (r.padding !== undefined && r.inpaintArea !== 'masked') {
      ctx.addIssue({ code: 'custom', path: ['padding'], message: 'only applies to inpainting the masked area: give --inpaint-area masked too' });
    }
    if (r.outpaint !== undefined && r.initImage === undefined) {
      ctx.addIssue({ code: 'custom', path: ['outpaint'], message: 'extends an image: give the image as the init image too' });
    }
    if (r.outpaint !== undefined && r.mask !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['outpaint'], message: 'makes its own mask (the new border): leave out the mask, or inpaint first and outpaint the result' });
    }
    if (r.maskBlur !== undefined && r.mask === undefined && r.outpaint === undefined) {
      ctx.addIssue({ code: 'custom', path: ['maskBlur'], message: 'only applies to inpainting: give a mask too' });
    }
  })
  .transform((r) => ({
    ...r,
    ...(r.initImage !== undefined && r.strength === undefined ? { strength: DEFAULT_STRENGTH } : {}),
    ...(r.inpaintArea === 'masked' && r.padding === undefined ? { padding: 32 } : {}),
    ...((r.mask !== undefined || r.outpaint !== undefined) && r.maskBlur === undefined ? { maskBlur: DEFAULT_MASK_BLUR } : {}),
  }));

/** What a `--hires` request cannot combine, by mode: [path, message] pairs. */
function hiresIssues(h: HiresLadder, r: { initImage?: string; batch: number; controlNets?: unknown; ipAdapter?: unknown; pag?: unknown; mask?: unknown; outpaint?: unknown }): Array<[string[], string]> {
  const issues: Array<[string[], string]> = [];
  const dualBranch = (['cosineScale1', 'cosineScale2', 'cosineScale3', 'gaussianSigma', 'upscaleStrength'] as const).filter((k) => h[k] !== undefined);
  if (h.mode === 'superres' && r.initImage === undefined) issues.push([['initImage'], 'is needed by --hires-mode superres: give the image to enlarge (studio upscale IMAGE --model … does)']);
  if (h.mode !== 'superres' && r.initImage !== undefined) issues.push([['hires'], `--hires-mode ${h.mode} starts from text: leave out the init image, or enlarge it with --hires-mode superres (SDXL)`]);
  if (h.mode === 'ladder' && dualBranch.length) issues.push([['hires', dualBranch[0]], 'applies to --hires-mode highres and superres (SDXL), not to the ladder']);
  if (h.mode === 'highres' && h.strengths) issues.push([['hires', 'strengths'], "do not apply to --hires-mode highres: its strengths fall linearly from --upscale-strength to 0"]);
  if (h.mode !== 'ladder' && r.batch > 1) issues.push([['batch'], `must be 1 with --hires-mode ${h.mode} (LinFusion's pipeline draws one image per run): vary --seed instead`]);
  const extras = ([['controlNets', '--controlnet'], ['ipAdapter', '--ip-adapter'], ['pag', '--pag-scale'], ['mask', '--mask'], ['outpaint', '--outpaint']] as const).filter(([k]) => r[k] !== undefined);
  if (h.mode !== 'ladder') for (const [k, flag] of extras) issues.push([[k], `${flag} does not apply to --hires-mode ${h.mode} (LinFusion's SDXL pipeline has no such input)`]);
  return issues;
}

/** What callers may send (defaults not yet applied). */
export type GenerateRequestInput = z.input<typeof GenerateRequestSchema>;
/** A validated request with every default (and the seed) decided. */
export type GenerateRequest = z.output<typeof GenerateRequestSchema>;

export interface GenerateProgress {
  /** e.g. 'load', 'encode', 'denoise', 'decode' (per tile when the VAE tiles) */
  phase: string;
  step: number;
  total: number;
  /** A ladder's stage: which (0 = the base) of how many, its size and its img2img strength (none for the base). */
  stage?: { index: number; count: number; width: number; height: number; strength?: number };
  /** A ladder stage's finished image, one event per image of the batch (the final stage's come as the result). */
  stageImage?: Rgb8 & { batchIndex: number };
  /** A cheap preview of the current latents (denoise steps only). */
  preview?: Rgb8;
}

/** Live previews during a generation (what the UI shows as it runs, what `--previews DIR` writes). */
export const PreviewOptionsSchema = z.strictObject({
  /** A preview every N denoise steps and at the last; 0: none. */
  every: z.number().int().min(0).max(10_000).default(1),
  /** A TAESD decoder (.safetensors or .pth) to draw them with; absent: `<models dir>/vae_approx/` when it holds the family's, else a latent→RGB map fitted through the model's VAE. */
  taesd: z.string().min(1).optional(),
});
export type PreviewOptions = z.output<typeof PreviewOptionsSchema>;

export interface GenerateOptions {
  onProgress?: (progress: GenerateProgress) => void;
  /** Absent: a preview every step. */
  previews?: PreviewOptions;
  /** Checked between steps; when it fires the engine rejects (with `signal.reason`). */
  signal?: AbortSignal;
}

export interface GeneratedImage {
  width: number;
  height: number;
  /** Interleaved 8-bit RGB, row-major, length width * height * 3. */
  pixels: Uint8Array;
  /** The request's seed (the whole batch shares it); `batchIndex` tells the images apart. */
  seed: number;
  batchIndex: number;
}

/** The settings a run actually used once the model's defaults filled the request's gaps. */
export interface ResolvedSettings {
  steps: number;
  cfg: number;
  sampler: SamplerName;
  width: number;
  height: number;
}

/** The request's settings, each absent one taken from the model's defaults. */
export function resolveSettings(request: GenerateRequest, defaults: ResolvedSettings): ResolvedSettings {
  return {
    steps: request.steps ?? defaults.steps,
    cfg: request.cfg ?? defaults.cfg,
    sampler: request.sampler ?? defaults.sampler,
    width: request.width ?? defaults.width,
    height: request.height ?? defaults.height,
  };
}

export interface GenerateResult {
  images: GeneratedImage[];
  /** What the engine used for the request's absent fields; recorded in the image metadata. */
  settings?: ResolvedSettings;
  /** Things the run did that the user may not expect (unknown words dropped, an empty prompt). */
  notes?: string[];
  model: {
    /** Shown as A1111's `Model:` (file name without extension, or folder name). */
    name: string;
    /** The single checkpoint file, hashed for `Model hash`; absent for diffusers folders. */
    file?: string;
    family?: string;
  };
  /** LoRA files merged, by the name their prompt tag uses: hashed for A1111's `Lora hashes`. */
  loras?: { name: string; file: string; weight: number }[];
  /** Textual-inversion files the prompt or negative called: hashed for A1111's `TI hashes`. */
  embeddings?: { name: string; file: string }[];
  /** The execution provider that actually ran. */
  ep: string;
  /** Milliseconds by phase. */
  timings: Record<string, number>;
  /** A ladder's stages as they ran (the metadata records them). */
  stages?: LadderStage[];
}

/** Bad request content the engine only finds when it looks at the files (e.g. a LoRA as `model`). */
export class BadRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadRequestError';
  }
}
