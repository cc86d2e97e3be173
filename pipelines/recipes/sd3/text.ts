// SD3's prompt encoding (diffusers' StableDiffusion3Pipeline.encode_prompt): CLIP-L and CLIP-G each give
// their penultimate layer (no final LayerNorm) and their projected pooled output; the two hidden states
// are concatenated along channels and zero-padded to T5's width, then T5's tokens (or zeros without T5)
// follow along the sequence. The pooled vector is CLIP-L's ⊕ CLIP-G's.
// A1111 prompt weighting, as A1111 does it for SD3 (modules/models/sd3/sd3_cond.py): CLIP-L and CLIP-G are
// one text model, so a prompt becomes 77-token chunks (BREAK, long prompts) and each chunk's weights scale
// the [L | G] states with one mean restored over both; the pooled vector comes from the first chunk. T5
// reads the prompt without its weighting syntax, each weighted part tokenized on its own as A1111 does, and
// — as Forge does, where A1111 drops them — its states are scaled by the weights with their mean restored.
// Plain prompts under 75 tokens give exactly diffusers' encoding.
import { ClipTextEncoder } from '../../models/clip/encoder.ts';
import { buildT5Graph } from '../../models/t5/encoder.ts';
import { ort, type Provider, type Session } from '../../runtime/session.ts';
import { ModelSessions } from '../../runtime/session-cache.ts';
import { ClipTokenizer } from '../../text/clip-tokenizer.ts';
import { BREAK_WEIGHT, parsePromptAttention } from '../../text/prompt-weights.ts';
import { T5Tokenizer } from '../../text/t5-tokenizer.ts';
import { applyEmphasis, encodePrompts, type TextEncoderStage } from '../sd/conditioning.ts';
import type { Sd3Sources, Sd3TextEncoder } from './sources.ts';

export interface Sd3Prompts {
  /** [rows, 77·chunks + t5Tokens, jointWidth]. */
  context: Float32Array;
  /** [rows, pooledWidth]. */
  pooled: Float32Array;
  tokens: number;
}

export class Sd3TextEncoders {
  private constructor(
    private readonly clips: TextEncoderStage[],
    private readonly t5: { tokenizer: T5Tokenizer; session: Session } | undefined,
    readonly t5Tokens: number,
    readonly jointWidth: number,
    private readonly sessions: ModelSessions,
  ) {}

  /** `sessions`: where the encoders' sessions live (the pipeline's); absent: their own. */
  static async create(s: Sd3Sources, t5Tokens: number, providers?: readonly Provider[], sessions = ModelSessions.standalone('sd3-text')): Promise<Sd3TextEncoders> {
    const clip = async (e: Sd3TextEncoder, name: string): Promise<TextEncoderStage> => ({
      tokenizer: ClipTokenizer.fromFolder(e.tokenizerDir),
      encoder: await ClipTextEncoder.create(e.source, e.config, { skip: 1, normalize: false, pooled: true, session: { providers }, sessions: sessions.child(name) }),
      pad: e.pad,
      width: e.config.hiddenSize,
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
    const clip = await encodePrompts(this.clips, prompts, new Set(), { emphasis: 'joint', pooled: 'all' });
    const width = this.jointWidth;
    if (clip.width > width) throw new Error(`SD3: CLIP widths (${clip.width}) exceed the transformer's joint_attention_dim ${width}`);
    const tokens = clip.tokens + this.t5Tokens;
    const context = new Float32Array(rows * tokens * width);
    for (let r = 0; r < rows; r++) {
      for (let t = 0; t < clip.tokens; t++) context.set(clip.hidden.subarray((r * clip.tokens + t) * clip.width, (r * clip.tokens + t + 1) * clip.width), (r * tokens + t) * width);
    }
    if (this.t5) {
      const t5 = this.t5;
      const encoded = prompts.map((p) => weightedT5Ids(t5.tokenizer, p, this.t5Tokens));
      const ids = Int32Array.from(encoded.flatMap((e) => e.ids));
      const hidden = (await t5.session.run({ input_ids: new ort.Tensor('int32', ids, [rows, this.t5Tokens]) })).hidden_state.data as Float32Array;
      for (let r = 0; r < rows; r++) {
        const own = hidden.slice(r * this.t5Tokens * width, (r + 1) * this.t5Tokens * width);
        applyEmphasis(own, encoded[r].weights, width);
        context.set(own, (r * tokens + clip.tokens) * width);
      }
    }
    return { context, pooled: clip.pooled!, tokens };
  }

  release(): Promise<void> {
    return this.sessions.release();
  }
}

/**
 * T5 ids of an A1111-weighted prompt, `length` long, with a weight per id: each weighted part tokenized on
 * its own (A1111's Sd3T5.tokenize_line), then `</s>` and padding; a prompt without weights is tokenized whole,
 * exactly as diffusers does.
 */
export function weightedT5Ids(tokenizer: T5Tokenizer, prompt: string, length: number): { ids: number[]; weights: number[] } {
  const parts = parsePromptAttention(prompt).filter(([text, weight]) => !(text === 'BREAK' && weight === BREAK_WEIGHT));
  if (parts.every(([, w]) => w === 1)) return { ids: tokenizer.encodePadded(parts.map(([text]) => text).join(''), length).ids, weights: Array(length).fill(1) };
  const ids: number[] = [];
  const weights: number[] = [];
  for (const [text, weight] of parts) {
    const own = tokenizer.encode(text);
    if (own.at(-1) === tokenizer.eosId) own.pop();
    ids.push(...own);
    weights.push(...own.map(() => weight));
  }
  ids.splice(length - 1);
  weights.splice(length - 1);
  ids.push(tokenizer.eosId);
  weights.push(1);
  while (ids.length < length) {
    ids.push(tokenizer.padId);
    weights.push(1);
  }
  return { ids, weights };
}
