// FLUX.1's prompt encoding (diffusers' FluxPipeline.encode_prompt): CLIP-L gives only its pooled output
// (the final-LayerNorm hidden state at EOS, unprojected), T5 the token sequence (padded to
// max_sequence_length, no attention mask). No negative prompt: dev's guidance is an input, not CFG.
import { ClipTextEncoder } from '../../models/clip/encoder.ts';
import { buildT5Graph } from '../../models/t5/encoder.ts';
import { ort, type Provider, type Session } from '../../runtime/session.ts';
import { ModelSessions } from '../../runtime/session-cache.ts';
import { ClipTokenizer } from '../../text/clip-tokenizer.ts';
import { T5Tokenizer } from '../../text/t5-tokenizer.ts';
import type { FluxSources } from './sources.ts';

export interface FluxPrompts {
  /** [rows, t5Tokens, d_model]. */
  context: Float32Array;
  /** [rows, CLIP-L width]. */
  pooled: Float32Array;
}

export class FluxTextEncoders {
  private constructor(
    private readonly clip: { tokenizer: ClipTokenizer; encoder: ClipTextEncoder; pad?: FluxSources['clipL']['pad'] },
    private readonly t5: { tokenizer: T5Tokenizer; session: Session },
    readonly t5Tokens: number,
    private readonly sessions: ModelSessions,
  ) {}

  /** `sessions`: where the encoders' sessions live (the pipeline's); absent: their own. */
  static async create(s: FluxSources, t5Tokens: number, providers?: readonly Provider[], sessions = ModelSessions.standalone('flux-text')): Promise<FluxTextEncoders> {
    const encoder = await ClipTextEncoder.create(s.clipL.source, s.clipL.config, { pooled: true, session: { providers }, sessions: sessions.child('clip-l') });
    const t5 = { tokenizer: T5Tokenizer.load(s.t5.tokenizer), session: await sessions.get('t5', () => buildT5Graph(s.t5.source, s.t5.config, { seqLen: t5Tokens }), { providers }) };
    return new FluxTextEncoders({ tokenizer: ClipTokenizer.fromFolder(s.clipL.tokenizerDir), encoder, pad: s.clipL.pad }, t5, t5Tokens, sessions);
  }

  async encode(prompts: readonly string[]): Promise<FluxPrompts> {
    const { tokenizer, encoder, pad } = this.clip;
    const pooled = (await encoder.encode(prompts.map((p) => tokenizer.encodePadded(p, { pad })))).pooled!;
    const ids = new Int32Array(prompts.length * this.t5Tokens);
    prompts.forEach((p, r) => ids.set(this.t5.tokenizer.encodePadded(p, this.t5Tokens).ids, r * this.t5Tokens));
    const context = (await this.t5.session.run({ input_ids: new ort.Tensor('int32', ids, [prompts.length, this.t5Tokens]) })).hidden_state.data as Float32Array;
    return { context, pooled };
  }

  release(): Promise<void> {
    return this.sessions.release();
  }
}
