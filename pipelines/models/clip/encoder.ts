// A CLIP text encoder ready to run: built graph + ORT session, fed with token id rows.
import type { TensorSource } from '../../onnx/weights.ts';
import { ModelSessions } from '../../runtime/session-cache.ts';
import { ort, type Session, type SessionOptions } from '../../runtime/session.ts';
import type { ClipTextConfig } from './config.ts';
import { buildClipTextGraph, type ClipGraphOptions } from './text-model.ts';

export interface ClipTextOutput {
  /** [rows, S, H] row-major. */
  hidden: Float32Array;
  /** [rows, H] when the encoder was built with `pooled`. */
  pooled?: Float32Array;
  /** [rows, P] when the model has a text projection and was built with `pooled`. */
  textEmbeds?: Float32Array;
  rows: number;
}

export class ClipTextEncoder {
  private constructor(
    readonly session: Session,
    private readonly sessions: ModelSessions,
    readonly config: ClipTextConfig,
    readonly seqLen: number,
    /** Vocabulary plus any textual-inversion rows. */
    readonly tokenCount = config.vocabSize,
  ) {}

  /** `sessions`: where its session lives (a pipeline's component scope); absent: its own. */
  static async create(source: TensorSource, config: ClipTextConfig, o: ClipGraphOptions & { session?: SessionOptions; sessions?: ModelSessions } = {}): Promise<ClipTextEncoder> {
    const sessions = o.sessions ?? ModelSessions.standalone('clip');
    const session = await sessions.get('clip', () => buildClipTextGraph(source, config, o), o.session);
    const extraRows = o.extraTokens ? o.extraTokens.length / config.hiddenSize : 0;
    return new ClipTextEncoder(session, sessions, config, o.seqLen ?? config.maxPositions, config.vocabSize + extraRows);
  }

  /** Encodes rows of token ids (each exactly `seqLen` long, e.g. from `ClipTokenizer.encodePadded`). */
  async encode(rows: readonly (readonly number[])[]): Promise<ClipTextOutput> {
    const ids = new Int32Array(rows.length * this.seqLen);
    rows.forEach((row, r) => {
      if (row.length !== this.seqLen) throw new RangeError(`token row ${r} has ${row.length} ids; the text encoder takes exactly ${this.seqLen}`);
      row.forEach((id, i) => {
        if (!Number.isInteger(id) || id < 0 || id >= this.tokenCount) throw new RangeError(`token id ${id} (row ${r}, position ${i}) is outside the vocabulary of ${this.tokenCount}`);
        ids[r * this.seqLen + i] = id;
      });
    });
    const out = await this.session.run({ input_ids: new ort.Tensor('int32', ids, [rows.length, this.seqLen]) });
    const f32 = (name: string) => (out[name] ? (out[name].data as Float32Array) : undefined);
    return { hidden: f32('hidden_state')!, pooled: f32('pooled_output'), textEmbeds: f32('text_embeds'), rows: rows.length };
  }

  release(): Promise<void> {
    return this.sessions.release();
  }
}
