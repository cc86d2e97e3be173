// SD3's prompt encoding (diffusers' StableDiffusion3Pipeline.encode_prompt): CLIP-L and CLIP-G each give
// their penultimate layer (no final LayerNorm) and their projected pooled output; the two hidden states
// are concatenated along channels and zero-padded to T5's width, then T5's tokens (or zeros without T5)
// follow along the sequence. The pooled vector is CLIP-L's ⊕ CLIP-G's.
import { ClipTextEncoder } from '../../models/clip/encoder.ts';
import { buildT5Graph } from '../../models/t5/encoder.ts';
import { ort, type Provider, type Session } from '../../runtime/session.ts';
import { ModelSessions } from '../../runtime/session-cache.ts';
import { ClipTokenizer, type ClipPad } from '../../text/clip-tokenizer.ts';
import { T5Tokenizer } from '../../text/t5-tokenizer.ts';
import type { Sd3Sources, Sd3TextEncoder } from './sources.ts';

const CLIP_TOKENS = 77;

export interface Sd3Prompts {
  /** [rows, 77 + t5Tokens, jointWidth]. */
  context: Float32Array;
  /** [rows, pooledWidth]. */
  pooled: Float32Array;
  tokens: number;
}

interface ClipStage {
  tokenizer: ClipTokenizer;
  encoder: ClipTextEncoder;
  pad?: ClipPad;
}

export class Sd3TextEncoders {
  private constructor(
    private readonly clips: ClipStage[],
    private readonly t5: { tokenizer: T5Tokenizer; session: Session } | undefined,
    readonly t5Tokens: number,
    readonly jointWidth: number,
    private readonly sessions: ModelSessions,
  ) {}

  /** `sessions`: where the encoders' sessions live (the pipeline's); absent: their own. */
  static async create(s: Sd3Sources, t5Tokens: number, providers?: readonly Provider[], sessions = ModelSessions.standalone('sd3-text')): Promise<Sd3TextEncoders> {
    const clip = async (e: Sd3TextEncoder, name: string): Promise<ClipStage> => ({
      tokenizer: ClipTokenizer.fromFolder(e.tokenizerDir),
      encoder: await ClipTextEncoder.create(e.source, e.config, { skip: 1, normalize: false, pooled: true, session: { providers }, sessions: sessions.child(name) }),
      pad: e.pad,
    });
    if (s.t5 && s.t5.config.dModel !== s.transformerConfig.jointAttentionDim) {
      throw new Error(`${s.path}: T5 gives ${s.t5.config.dModel}-wide features but the transformer takes joint_attention_dim ${s.transformerConfig.jointAttentionDim}: the T5 encoder does not belong to this model`);
    }
    const t5 = s.t5
      ? { tokenizer: T5Tokenizer.load(s.t5.tokenizer), session: await sessions.get('t5', () => buildT5Graph(s.t5!.source, s.t5!.config, { seqLen: t5Tokens }), { providers }) }
      : undefined;
    return new Sd3TextEncoders([await clip(s.clipL, 'clip-l'), await clip(s.clipG, 'clip-g')], t5, t5Tokens, s.transformerConfig.jointAttentionDim, sessions);
  }

  async encode(prompts: readonly string[]): Promise<Sd3Prompts> {
    const rows = prompts.length;
    const tokens = CLIP_TOKENS + this.t5Tokens;
    const width = this.jointWidth;
    const context = new Float32Array(rows * tokens * width);
    const pooledParts: { data: Float32Array; width: number }[] = [];
    let channel = 0;
    for (const { tokenizer, encoder, pad } of this.clips) {
      const out = await encoder.encode(prompts.map((p) => tokenizer.encodePadded(p, { pad })));
      const w = encoder.config.hiddenSize;
      if (channel + w > width) throw new Error(`SD3: CLIP widths (${channel + w} so far) exceed the transformer's joint_attention_dim ${width}`);
      for (let r = 0; r < rows; r++) {
        for (let t = 0; t < CLIP_TOKENS; t++) context.set(out.hidden.subarray((r * CLIP_TOKENS + t) * w, (r * CLIP_TOKENS + t + 1) * w), (r * tokens + t) * width + channel);
      }
      channel += w;
      pooledParts.push({ data: out.textEmbeds!, width: out.textEmbeds!.length / rows });
    }
    if (this.t5) {
      const ids = new Int32Array(rows * this.t5Tokens);
      prompts.forEach((p, r) => ids.set(this.t5!.tokenizer.encodePadded(p, this.t5Tokens).ids, r * this.t5Tokens));
      const hidden = (await this.t5.session.run({ input_ids: new ort.Tensor('int32', ids, [rows, this.t5Tokens]) })).hidden_state.data as Float32Array;
      for (let r = 0; r < rows; r++) context.set(hidden.subarray(r * this.t5Tokens * width, (r + 1) * this.t5Tokens * width), (r * tokens + CLIP_TOKENS) * width);
    }
    const pooledWidth = pooledParts.reduce((a, p) => a + p.width, 0);
    const pooled = new Float32Array(rows * pooledWidth);
    for (let r = 0; r < rows; r++) {
      let at = r * pooledWidth;
      for (const p of pooledParts) {
        pooled.set(p.data.subarray(r * p.width, (r + 1) * p.width), at);
        at += p.width;
      }
    }
    return { context, pooled, tokens };
  }

  release(): Promise<void> {
    return this.sessions.release();
  }
}
