// The generate form's state, shared by the panels that edit it. Sampler, steps, CFG and size show the
// chosen model's defaults until the user edits them; only edited ones are sent, the engine fills the rest.
import type { AttentionKind, ExecutionProvider, HiresMode, HiresUpscaler, SamplerName } from '../../pipelines/jobs/api.ts';
import type { ModelSettings } from './model-defaults.ts';

export type SeedMode = 'random' | 'fixed' | 'increment';
/** The hi-res panel's final sizes, as multiples of the base size (1: off): a ×2 stage each. */
export const HIRES_SCALES = [1, 2, 4, 8, 16] as const;
export type { AttentionKind };

/** The user's values for the model settings; null: cleared (the model's default, like an unedited field). */
type Edits = { [K in keyof ModelSettings]?: ModelSettings[K] | null };

export class GenerateForm {
  prompt = $state('');
  negative = $state('');
  /** Empty: the default model. */
  model = $state('');
  /** A VAE file from the library in place of the model's own; empty: the model's own. */
  vae = $state('');
  /** Where jobs run: auto takes the fastest provider that works on this machine (the engine's probe). */
  ep = $state<ExecutionProvider>('auto');
  seed = $state(0);
  seedMode = $state<SeedMode>('random');
  batch = $state(1);
  attention = $state<AttentionKind>('softmax');
  linfusionPath = $state('');
  /** 0 turns PAG off. */
  pagScale = $state(0);
  clipSkip = $state(1);
  /** LoRAs by name (the models folder's Lora/) or path, each at a weight. */
  loras = $state<{ name: string; weight: number }[]>([]);
  /** The folder of the embeddings a recalled image used (a prompt word equal to a file's name calls it); empty: none. */
  embeddingsDir = $state('');
  /** The hi-res ladder: the final size is the base size × this (1: off), through ×2 stages. */
  hiresScale = $state(1);
  hiresMode = $state<HiresMode>('ladder');
  /** img2img strength per stage, comma-separated; empty: LinFusion's 0.4, 0.3, 0.2, 0.1. */
  hiresStrengths = $state('');
  /** GiB the ladder's stages may use (above the GPU's own figure: on the user's word); null: all the GPU has. */
  hiresMemory = $state<number | null>(null);
  /** A1111's hires fix (text to image): upscale by hiresFixScale, then img2img at hiresFixDenoise (its defaults). */
  hiresFix = $state(false);
  hiresFixScale = $state(2);
  hiresFixUpscaler = $state<HiresUpscaler>('latent');
  hiresFixDenoise = $state(0.7);
  /** Steps of the second pass; null: the same as the first. */
  hiresFixSteps = $state<number | null>(null);
  #edits = $state<Edits>({});
  /** The chosen model's settings, as far as the UI knows them. */
  readonly defaults = $derived.by(() => this.defaultsOf(this.model));

  constructor(private readonly defaultsOf: (model: string) => Partial<ModelSettings> = () => ({})) {}

  // Setting one edits it; undefined puts it back on the model's default.
  get sampler(): SamplerName | null { return this.#shown('sampler'); }
  set sampler(v: SamplerName | null | undefined) { this.#edit('sampler', v); }
  get steps(): number | null { return this.#shown('steps'); }
  set steps(v: number | null | undefined) { this.#edit('steps', v); }
  get cfg(): number | null { return this.#shown('cfg'); }
  set cfg(v: number | null | undefined) { this.#edit('cfg', v); }
  get width(): number | null { return this.#shown('width'); }
  set width(v: number | null | undefined) { this.#edit('width', v); }
  get height(): number | null { return this.#shown('height'); }
  set height(v: number | null | undefined) { this.#edit('height', v); }

  /** Whether any model setting differs from following the model. */
  get edited(): boolean {
    return Object.keys(this.#edits).length > 0;
  }

  resetToModelDefaults(): void {
    this.#edits = {};
  }

  /** The edited model settings, for the request (the others are left out: the model's default). */
  overrides(): Partial<ModelSettings> {
    return Object.fromEntries(Object.entries(this.#edits).filter(([, v]) => v !== null)) as Partial<ModelSettings>;
  }

  #shown<K extends keyof ModelSettings>(key: K): ModelSettings[K] | null {
    const edit = this.#edits[key];
    return edit !== undefined ? edit : (this.defaults[key] ?? null);
  }

  #edit<K extends keyof ModelSettings>(key: K, value: ModelSettings[K] | null | undefined): void {
    if (value === undefined) delete this.#edits[key];
    else this.#edits[key] = value;
  }
}
