// Prompt → UNet conditioning, as A1111 does it: weighted prompts in 77-token chunks, each chunk encoded
// on its own, weights applied to the hidden states with the mean restored, chunks concatenated.
// With plain prompts under 75 tokens this is exactly diffusers' encode_prompt.
import type { ClipTextEncoder } from '../../models/clip/encoder.ts';
import type { ClipTokenizer } from '../../text/clip-tokenizer.ts';
import { tokenizeWeighted, type TokenReplacement } from '../../text/prompt-weights.ts';

export interface TextEncoderStage {
  tokenizer: ClipTokenizer;
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

/** Multiplies each token's hidden state by its weight and restores the chunk's mean (A1111's "Original" emphasis). */
function applyWeights(hidden: Float32Array, weights: readonly number[], width: number): Float32Array {
  if (weights.every((w) => w === 1)) return hidden;
  let before = 0;
  for (const v of hidden) before += v;
  const out = new Float32Array(hidden.length);
  let after = 0;
  for (let t = 0; t < weights.length; t++) {
    for (let c = 0; c < width; c++) {
      const v = hidden[t * width + c] * weights[t];
      out[t * width + c] = v;
      after += v;
    }
  }
  const ratio = after === 0 ? 1 : before / after;
  for (let i = 0; i < out.length; i++) out[i] *= ratio;
  return out;
}

function emptyChunk(tokenizer: ClipTokenizer): Chunk {
  return { ids: tokenizer.encodePadded(''), weights: Array(CHUNK).fill(1) };
}

/**
 * Encodes prompts (one conditioning row each). Every row gets the same number of chunks: shorter
 * prompts are padded with empty chunks, as A1111 does, so that cond and uncond rows line up.
 */
export async function encodePrompts(stages: readonly TextEncoderStage[], prompts: readonly string[], zeroRows: ReadonlySet<number> = new Set()): Promise<Conditioning> {
  const perStage = stages.map((s) => prompts.map((p) => tokenizeWeighted(s.tokenizer, p, { replace: s.replace }).chunks as Chunk[]));
  const chunks = Math.max(...perStage.flat().map((c) => c.length));
  const width = stages.reduce((a, s) => a + s.width, 0);
  const tokens = chunks * CHUNK;
  const hidden = new Float32Array(prompts.length * tokens * width);
  let pooled: Float32Array | undefined;
  let pooledWidth: number | undefined;
  let offset = 0;
  for (let s = 0; s < stages.length; s++) {
    const stage = stages[s];
    const rows = perStage[s].map((list) => [...list, ...Array.from({ length: chunks - list.length }, () => emptyChunk(stage.tokenizer))]);
    for (let k = 0; k < chunks; k++) {
      const out = await stage.encoder.encode(rows.map((r) => r[k].ids));
      for (let r = 0; r < prompts.length; r++) {
        const part = applyWeights(out.hidden.subarray(r * CHUNK * stage.width, (r + 1) * CHUNK * stage.width), rows[r][k].weights, stage.width);
        for (let t = 0; t < CHUNK; t++) {
          const dst = (r * tokens + k * CHUNK + t) * width + offset;
          if (!zeroRows.has(r)) hidden.set(part.subarray(t * stage.width, (t + 1) * stage.width), dst);
        }
      }
      if (k === 0 && s === stages.length - 1 && out.textEmbeds) {
        pooledWidth = out.textEmbeds.length / prompts.length;
        pooled = new Float32Array(out.textEmbeds);
        for (const r of zeroRows) pooled.fill(0, r * pooledWidth, (r + 1) * pooledWidth);
      }
    }
    offset += stage.width;
  }
  return { hidden, tokens, width, pooled, pooledWidth };
}
