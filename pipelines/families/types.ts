// What a model family declares: how to recognise its checkpoints, how to load them, the settings it
// draws with, the methods it runs and the parts those methods need. One folder per family
// (./sd1, ./emoji-lit, ./dit, …), listed in ./registry.ts.
import type { AttentionKind } from '../attention/options.ts';
import type { SelfAttentionLayer } from '../attention/self-attention.ts';
import type { Detection } from '../checkpoints/detect.ts';
import type { ArchitectureFingerprint } from '../heads/architecture.ts';
import type { HeadModel } from '../heads/model.ts';
import type { GenerateOptions, GenerateRequest, GenerateResult, ModelDefaults, SamplerName } from '../jobs/api.ts';
import type { StoryModel } from '../recipes/story/story-model.ts';
import type { ModelSessions, Releasable } from '../runtime/session-cache.ts';
import type { Provider } from '../runtime/session.ts';
import type { LoraRequest } from '../lora/apply.ts';

/** What is known about a model before anything is loaded. */
export interface ModelProbe {
  /** What loaders take: an embedded model's name, or the resolved path. */
  target: string;
  /** Tensor names / config files, read by pipelines/checkpoints (absent for the embedded models). */
  detection?: Detection;
  /** The `architecture` of an emoji model's config.json (embedded names and emoji model folders). */
  emojiArchitecture?: string;
}

export interface FamilyMethods {
  /** Self-attention variants (pipelines/attention/options.ts ids). */
  attention: readonly AttentionKind[];
  /** Perturbed-attention guidance on whole layers, per-head SoftPAG, and HeadHunter's search. */
  pag: boolean;
  softpag: boolean;
  headhunter: boolean;
  /** IR-Diffusion story mode. */
  story: boolean;
  img2img: boolean;
  /** Inpainting over an init image with a mask (masked latent blending). */
  inpaint: boolean;
  /**
   * Inpainting checkpoints: UNets whose conv_in also takes the mask and the masked image's latents
   * (9 channels), recognised from the weights and used with the mask whenever one is given.
   */
  inpaintCheckpoints?: boolean;
  /** ControlNets made for this family (diffusers folders and single files). */
  controlNet?: boolean;
  /** IP-Adapter image prompts (adapter files made for this family). */
  ipAdapter?: boolean;
  /** A1111's hires fix: draw small, upscale, img2img at the larger size. */
  hiresFix: boolean;
  /** Class-conditional: draws a class label, not a prompt. */
  classLabels: boolean;
  /** CLIP skip and a VAE override (Stable Diffusion's text encoder and VAE). */
  clipSkip: boolean;
  vaeOverride: boolean;
  /** LoRA / LyCORIS files and textual-inversion embeddings (absent: not supported). */
  lora?: boolean;
  /** LinFusion's high-resolution ladder, `--hires WxH` (absent: not supported). */
  hiresLadder?: boolean;
  /** LinFusion's SDXL HighRes and SuperRes, `--hires-mode highres|superres` (absent: not supported). */
  hiresDualBranch?: boolean;
}

export interface LoadSettings {
  modelsDir?: string;
  vae?: string;
  providers: Provider[];
  /** Resolved LoRA files and weights (merged into the weights when the sessions are built). */
  loras?: readonly LoraRequest[];
  /** A single file's config folder or .yaml (`--config`). */
  config?: string;
  /** Where the model's sessions live (given by WarmModels; absent: the model's own standalone set). */
  sessions?: ModelSessions;
}

/** What head previews are drawn with (HeadHunter, effect maps). */
export interface PreviewSettings {
  prompt: string;
  negative: string;
  steps?: number;
  cfg?: number;
  sampler?: SamplerName;
  size?: number;
}

export interface FamilyHeads<P> {
  /** The self-attention layers and their fingerprint, read without loading weights. */
  inspect(target: string, modelsDir: string | undefined): { layers: SelfAttentionLayer[]; architecture: ArchitectureFingerprint };
  /** A preview renderer over the loaded pipeline, and the side it draws. */
  previewModel(pipeline: P, settings: PreviewSettings): { model: HeadModel; size: number };
}

export interface ModelFamily<P extends Releasable = Releasable> {
  id: string;
  /** For people: "Stable Diffusion 1.x". */
  label: string;
  /** A model shipped with the studio, named by the family id (the emoji models). */
  builtIn?: boolean;
  /** How sure this family is that the probe is one of its models: 0 = not at all, 1 = certain. */
  score(probe: ModelProbe): number;
  defaults: ModelDefaults;
  methods: FamilyMethods;
  /** The samplers it runs; absent: every sampler. */
  samplers?: readonly SamplerName[];
  /** The one size it draws, when it has one (head previews are drawn at it). */
  fixedSize?: number;
  /** The square sides it draws, when it draws more than one; absent: `fixedSize`, or any size. */
  sides?: readonly number[];
  /**
   * Maps settings made for other models (an SD sampler, a 512×512 size) to what this family runs, with a
   * note for each change; absent: such settings are refused by checkRequest.
   */
  adapt?(request: GenerateRequest): { request: GenerateRequest; notes: string[] };
  /** Completes "X does not apply to …" for a request asking for a method this family lacks. */
  refusal(model: string): string;
  load(target: string, o: LoadSettings): Promise<P> | P;
  /** Draws a request on the loaded pipeline (the caller fills in `timings.load`). */
  generate(pipeline: P, probe: ModelProbe, request: GenerateRequest, options: GenerateOptions): Promise<GenerateResult>;
  heads?: FamilyHeads<P>;
  /** Story mode (IR-Diffusion) on this family's models. */
  story?: { load(target: string, o: LoadSettings): Promise<StoryModel> | StoryModel };
}
