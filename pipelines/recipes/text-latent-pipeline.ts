// What a text-conditioned latent transformer pipeline (SD3, FLUX) keeps between runs: its VAE, its text
// encoders for the current token count (rebuilt when that changes), and its transformer sessions per
// shape, all in one ModelSessions (given by WarmModels, or its own).
import type { Graph } from '../onnx/graph.ts';
import type { KeyedSource } from '../checkpoints/sources.ts';
import type { VaeConfig } from '../models/vae/config.ts';
import { Vae } from '../models/vae/vae.ts';
import { ModelSessions } from '../runtime/session-cache.ts';
import type { Provider, Session } from '../runtime/session.ts';
import type { SelfAttentionLayer } from '../attention/self-attention.ts';
import type { HeadPick } from '../attention/head-perturbation.ts';

/** What every run of such a pipeline takes beyond the prompt and sampling settings. */
export interface TextLatentRunOptions {
  /** T5 tokens (diffusers' max_sequence_length). */
  t5Tokens?: number;
  /** Images per prompt; their noise comes from the one generator, as diffusers draws it. */
  images?: number;
  /** Flow sampler (flow_euler by default). */
  sampler?: string;
  /** SoftPAG / PAG / HeadHunter heads: layer indices follow the pipeline's `layers`. */
  heads?: { scale: number; picks: readonly HeadPick[] };
  onStep?: (step: number, total: number, latents: Float32Array) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface TextLatentResult {
  /** [count, height, width, 3] in [0, 1], as diffusers' numpy output. */
  images: Float32Array;
  count: number;
  width: number;
  height: number;
  /** Latents [images, C, h, w] after each step. */
  latentsPerStep: Float32Array[];
  provider: Provider;
}

export interface TextLatentPipelineOptions {
  providers?: readonly Provider[];
  dtype?: 'float32' | 'float16';
  /** Where its sessions live (given by WarmModels); absent: its own. */
  sessions?: ModelSessions;
}

export abstract class TextLatentPipeline<S extends { vae: KeyedSource; vaeConfig: VaeConfig }, E extends { release(): Promise<void> }> {
  readonly vae: Vae;
  protected readonly sessions: ModelSessions;
  private text?: { tokens: number; encoders: Promise<E> };

  constructor(readonly sources: S, readonly layers: SelfAttentionLayer[], protected readonly o: TextLatentPipelineOptions, name: string) {
    this.sessions = o.sessions ?? ModelSessions.standalone(name);
    this.vae = new Vae(sources.vae, sources.vaeConfig, { session: { providers: o.providers }, sessions: this.sessions.child('vae') });
  }

  protected abstract createEncoders(tokens: number, sessions: ModelSessions): Promise<E>;

  /** The text encoders for `tokens` text tokens; the previous ones are released when the count changes. */
  protected encoders(tokens: number): Promise<E> {
    if (!this.text || this.text.tokens !== tokens) {
      void this.text?.encoders.then((e) => e.release());
      this.text = { tokens, encoders: this.createEncoders(tokens, this.sessions.child(`text/${tokens}`)) };
    }
    return this.text.encoders;
  }

  /** The transformer session of one input shape, built once. */
  protected transformer(shape: readonly number[], build: () => Graph): Promise<Session> {
    return this.sessions.get(`transformer/${JSON.stringify(shape)}`, build, { providers: this.o.providers });
  }

  release(): Promise<void> {
    this.text = undefined;
    return this.sessions.release();
  }
}
