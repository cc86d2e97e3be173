// Prompt → UNet conditioning, as A1111 does it: weighted prompts in 77-token chunks, each chunk encoded
// on its own, weights applied to the hidden states with the mean restored, chunks concatenated.
// With plain prompts under 75 tokens this is exactly diffusers' encode_prompt.
import type { ClipTextEncoder } from '../../models/clip/encoder.ts';
import type { ClipPad, ClipTokenizer } from '../../text/clip-tokenizer.ts';
import { tokenizeWeighted, type TokenReplacement } from '../../text/prompt-weights.ts';

export interface TextEncoderStage {
  tokenizer: ClipTokenizer;
  /** Padding after the first EOS; default: the tokenizer's own. */
  pad?: ClipPad;
  encoder: ClipTextEncoder;
  /** Hidden width of this encoder's chosen layer. */
  width: number;
  /** Textual-inversion words and the ids of their vectors in this encoder's token table. */
  replace?: readonly TokenReplacement[];
}

export interface Conditioning {
  /** [rows, tokens, width] row-major. */
  hidden: Float32Array;
  tokens: number;
  width: number;
  /** [rows, P]: SDXL's pooled, projected text (from the last encoder). */
  pooled?: Float32Array;
  pooledWidth?: number;
}

const CHUNK = 77;

interface Chunk {
  ids: number[];
  weights: number[];
}

/**
 * A1111's "Original" emphasis on one chunk: each token's hidden state (channels [offset, offset + channels)
 * of rows `width` wide) times its weight, then the whole block rescaled so its mean is what it was.
 */
export function applyEmphasis(hidden: Float32Array, weights: readonly number[], width: number, offset = 0, channels = width): void {
  if (weights.every((w) => w === 1)) return;
  let before = 0;
  let after = 0;
  for (let t = 0; t < weights.length; t++) {
    for (let c = offset; c < offset + channels; c++) {
      before += hidden[t * width + c];
      after += hidden[t * width + c] = hidden[t * width + c] * weights[t];
    }
  }
  const ratio = after === 0 ? 1 : before / after;
  for (let t = 0; t < weights.length; t++) for (let c = offset; c < offset + channels; c++) hidden[t * width + c] *= ratio;
}

function emptyChunk(stage: TextEncoderStage): Chunk {
  return { ids: stage.tokenizer.encodePadded('', { pad: stage.pad }), weights: Array(CHUNK).fill(1) };
}

export interface EncodeOptions {
  /**
   * Where the emphasis restores the mean: over each encoder's hidden states (A1111 on SD 1.x/2.x/XL, where
   * every encoder is its own text model), or over the encoders' states side by side (A1111 on SD3, whose
   * CLIP-L and CLIP-G form one text model).
   */
  emphasis?: 'per-encoder' | 'joint';
  /** Whose pooled output of the first chunk is kept: the last encoder's (SDXL), or every one's side by side (SD3). */
  pooled?: 'last' | 'all';
}

/**
 * Encodes prompts (one conditioning row each). Every row gets the same number of chunks: shorter
 * prompts are padded with empty chunks, as A1111 does, so that cond and uncond rows line up.
 */
export async function encodePrompts(stages: readonly TextEncoderStage[], prompts: readonly string[], zeroRows: ReadonlySet<number> = new Set(), o: EncodeOptions = {}): Promise<Conditioning> {
  const perStage = stages.map((s) => prompts.map((p) => tokenizeWeighted(s.tokenizer, p, { replace: s.replace, pad: s.pad }).chunks as Chunk[]));
  const chunks = Math.max(...perStage.flat().map((c) => c.length));
  const width = stages.reduce((a, s) => a + s.width, 0);
  const tokens = chunks * CHUNK;
  const hidden = new Float32Array(prompts.length * tokens * width);
  const rows = perStage.map((perPrompt, s) => perPrompt.map((list) => [...list, ...Array.from({ length: chunks - list.length }, () => emptyChunk(stages[s]))]));
  const pooledParts: Float32Array[] = [];
  for (let k = 0; k < chunks; k++) {
    let offset = 0;
    for (let s = 0; s < stages.length; s++) {
      const stage = stages[s];
      const out = await stage.encoder.encode(rows[s].map((r) => r[k].ids));
      for (let r = 0; r < prompts.length; r++) {
        if (zeroRows.has(r)) continue;
        for (let t = 0; t < CHUNK; t++) hidden.set(out.hidden.subarray((r * CHUNK + t) * stage.width, (r * CHUNK + t + 1) * stage.width), (r * tokens + k * CHUNK + t) * width + offset);
        if (o.emphasis !== 'joint') applyEmphasis(chunkOf(hidden, r, k, tokens, width), rows[s][r][k].weights, width, offset, stage.width);
      }
      if (k === 0 && out.textEmbeds && (o.pooled === 'all' || s === stages.length - 1)) pooledParts.push(out.textEmbeds);
      offset += stage.width;
    }
    // Joint emphasis: the weights are the same for every encoder (one prompt, one tokenizer's chunks).
    if (o.emphasis === 'joint') for (let r = 0; r < prompts.length; r++) if (!zeroRows.has(r)) applyEmphasis(chunkOf(hidden, r, k, tokens, width), rows[0][r][k].weights, width);
  }
  if (pooledParts.length === 0) return { hidden, tokens, width };
  const parts = pooledParts.map((p) => ({ data: p, width: p.length / prompts.length }));
  const pooledWidth = parts.reduce((a, p) => a + p.width, 0);
  const pooled = new Float32Array(prompts.length * pooledWidth);
  for (let r = 0; r < prompts.length; r++) {
    if (zeroRows.has(r)) continue;
    let at = r * pooledWidth;
    for (const p of parts) {
      pooled.set(p.data.subarray(r * p.width, (r + 1) * p.width), at);
      at += p.width;
    }
  }
  return { hidden, tokens, width, pooled, pooledWidth };
}

/** Row `r`'s chunk `k` of a [rows, tokens, width] conditioning, as a view. */
const chunkOf = (hidden: Float32Array, r: number, k: number, tokens: number, width: number) =>
  hidden.subarray((r * tokens + k * CHUNK) * width, (r * tokens + (k + 1) * CHUNK) * width);
