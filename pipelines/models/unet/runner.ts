// How one UNet evaluation runs: the whole graph in one session, or its pieces one after another (pieces.ts), with
// CFG's rows in one call or one row at a time. The pipeline only sees `UNetRunner`, so a runner that keeps the
// boundary tensors on the device can take the place of these.
import type { Graph } from '../../onnx/graph.ts';
import type { TensorSource } from '../../onnx/weights.ts';
import { HeldTensor, ort, type Provider, type Session, type SessionOptions } from '../../runtime/session.ts';
import type { UNetConfig } from './config.ts';
import type { UNetMemory } from './memory.ts';
import { buildUNetPieces, HIDDEN, HIDDEN_OUT, unetPieceNames, type UNetPiece } from './pieces.ts';
import { buildUNet, UNET_OUTPUT, type UNetBuildOptions } from './unet.ts';

export interface UNetRunner {
  readonly provider: Provider;
  /** One evaluation with the whole graph's feeds; its float32 `model_output`. */
  run(feeds: Record<string, ort.Tensor>): Promise<Float32Array>;
}

/** Called after each piece of a split UNet with its run time. */
export type PieceTimer = (piece: string, ms: number) => void;

/**
 * The runner for `memory`'s choices over CFG's `rows`: graphs with `options()` at the batch those choices need,
 * each opened by `open` under its part name (`whole` or the piece's), which builds it only when it has no session yet.
 */
export async function openUNetRunner(
  source: TensorSource,
  cfg: UNetConfig,
  options: () => Omit<UNetBuildOptions, 'batch' | 'memory'>,
  rows: number,
  memory: UNetMemory,
  open: (part: string, build: () => Graph) => Promise<Session>,
  onPiece?: PieceTimer,
): Promise<UNetRunner> {
  const build = () => ({ ...options(), batch: memory.rowByRow ? 1 : rows, memory });
  let pieces: UNetPiece[] | undefined;
  const inner = memory.split
    ? new SplitUNet(
        await Promise.all(unetPieceNames(cfg, memory).map(async (name, i) => ({ name, session: await open(name, () => (pieces ??= buildUNetPieces(source, cfg, build()))[i].graph) }))),
        memory.skipsOnHost,
        onPiece,
      )
    : new WholeUNet(await open('whole', () => buildUNet(source, cfg, build()).graph));
  return memory.rowByRow && rows > 1 ? new RowByRowUNet(inner, rows) : inner;
}

/**
 * How the sessions of a UNet run under `memory` are opened: a split UNet's pieces draw from one arena and hand their
 * outputs on in device memory (runKeeping), so they never capture a CUDA graph; the whole UNet runs the same shapes
 * through run() at every step, so it captures one (CUDA only; when ORT refuses, the session says why and runs without).
 */
export function unetSessionOptions(memory: UNetMemory): Pick<SessionOptions, 'sharedArena' | 'cudaGraph'> {
  return memory.split ? { sharedArena: true, cudaGraph: false } : { cudaGraph: true };
}

export class WholeUNet implements UNetRunner {
  constructor(private readonly session: Session) {}

  get provider(): Provider {
    return this.session.provider;
  }

  async run(feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
    return (await this.session.run(feeds))[UNET_OUTPUT].data as Float32Array;
  }
}

/**
 * The pieces in order, each session fed the conditioning and what the earlier pieces left: a down piece leaves
 * its skips (its last one is the next piece's hidden states), the mid and up pieces their hidden states; an
 * up piece takes its skips, which are released then. Each piece gives its arena back after its run (unless the
 * sessions share one arena, CudaTuning.sharedArena, where the next piece reuses it), so the device holds one
 * piece's activations at a time, beside the skips: kept in GPU memory between the pieces
 * (native CUDA sessions; other backends hold them on the host), or with `skipsOnHost` parked in host memory
 * (native sessions: pinned, copied by ORT at the link's speed) while the hidden states stay on the device.
 */
export class SplitUNet implements UNetRunner {
  constructor(
    private readonly pieces: readonly { name: string; session: Session }[],
    private readonly skipsOnHost = false,
    private readonly onPiece?: PieceTimer,
  ) {}

  get provider(): Provider {
    return this.pieces[0].session.provider;
  }

  async run(feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
    const held = new Map<string, ort.Tensor | HeldTensor>();
    /** Drops a value once its last reader ran (the hidden states of a down piece are also its last skip). */
    const drop = (name: string) => {
      const v = held.get(name);
      held.delete(name);
      if (v instanceof HeldTensor && ![...held.values()].includes(v)) v.release();
    };
    try {
      for (const piece of this.pieces) {
        const { inputNames, outputNames } = piece.session.inner;
        const input: Record<string, ort.Tensor | HeldTensor> = {};
        for (const name of inputNames) {
          const t = held.get(name) ?? feeds[name];
          if (!t) throw new Error(`UNet piece ${piece.name}: no value for its input ${name}`);
          input[name] = t;
        }
        const t0 = performance.now();
        const handed = outputNames.filter((n) => n !== UNET_OUTPUT);
        const park = this.skipsOnHost ? handed.filter((n) => n !== HIDDEN_OUT) : [];
        const keep = handed.filter((n) => !park.includes(n));
        const { host, held: kept } = await piece.session.runKeeping(input, keep, { releaseArena: true }, park);
        this.onPiece?.(piece.name, performance.now() - t0);
        for (const name of inputNames) if (held.has(name)) drop(name);
        if (host[UNET_OUTPUT]) return host[UNET_OUTPUT].data as Float32Array;
        const out = { ...host, ...kept };
        for (const name of outputNames) if (name !== HIDDEN_OUT) held.set(name, out[name]);
        held.set(HIDDEN, out[HIDDEN_OUT] ?? out[outputNames.at(-1)!]);
      }
      throw new Error(`the UNet's pieces (${this.pieces.map((p) => p.name).join(', ')}) end without ${UNET_OUTPUT}`);
    } finally {
      for (const name of [...held.keys()]) drop(name);
    }
  }
}

/** The feeds that hold one value per batch row (the others, e.g. AgentSD's partitions, are the same for every row). */
const PER_ROW = /^(sample|timestep|encoder_hidden_states|text_embeds|time_ids)$/;

/** CFG's rows one at a time through a runner built for one row: each row's output is the batched call's. */
export class RowByRowUNet implements UNetRunner {
  constructor(private readonly inner: UNetRunner, private readonly rows: number) {}

  get provider(): Provider {
    return this.inner.provider;
  }

  async run(feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
    const outputs: Float32Array[] = [];
    for (let r = 0; r < this.rows; r++) {
      const row = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, PER_ROW.test(name) ? rowOf(t, r, this.rows) : t]));
      outputs.push(await this.inner.run(row));
    }
    const all = new Float32Array(outputs.reduce((a, o) => a + o.length, 0));
    outputs.forEach((o, r) => all.set(o, r * o.length));
    return all;
  }
}

function rowOf(t: ort.Tensor, r: number, rows: number): ort.Tensor {
  if (t.dims[0] !== rows) throw new Error(`UNet input of shape [${t.dims}] does not have the call's ${rows} rows first`);
  const per = t.data.length / rows;
  const data = (t.data as Float32Array).subarray(r * per, (r + 1) * per);
  return new ort.Tensor(t.type as 'float32', data, [1, ...t.dims.slice(1)]);
}
