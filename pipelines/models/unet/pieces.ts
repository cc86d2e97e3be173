// The UNet split into pieces, one graph each: a down level, the mid block, an up level. Run one after another
// (runner.ts), only one piece's activations are on the device at a time, and the skip connections wait between
// the down and up pieces where the runner keeps them (host memory with onnxruntime-node). Each piece holds its
// own blocks' weights and recomputes the small time embedding. Boundary tensors are in the compute dtype.
import { Graph, GraphError, type T } from '../../onnx/graph.ts';
import type { TensorSource } from '../../onnx/weights.ts';
import { upIndex, type UNetConfig } from './config.ts';
import { downLevel, midBlock, skipShapes } from './encoder.ts';
import { convIn, convOut, unetBody, upLevel, UNET_OUTPUT, type UNetBuildOptions } from './unet.ts';

/** The hidden states passed from one piece to the next: a piece's output, the next one's input. */
export const HIDDEN_OUT = 'hidden_out';
export const HIDDEN = 'hidden';
export const skipName = (k: number) => `skip_${k}`;

export interface UNetPiece {
  name: string;
  graph: Graph;
}

/** The pieces' names in running order. */
export function unetPieceNames(cfg: UNetConfig): string[] {
  const levels = cfg.blockOutChannels.map((_, i) => i);
  return [...levels.map((i) => `down_blocks.${i}`), ...(cfg.hasMidBlock ? ['mid_block'] : []), ...levels.map((i) => `up_blocks.${i}`)];
}

export function buildUNetPieces(source: TensorSource, cfg: UNetConfig, o: UNetBuildOptions): UNetPiece[] {
  const unsupported = o.controlResiduals ? 'ControlNet residuals' : o.ipAdapter ? 'an IP-Adapter' : o.perturbedRows ? 'head perturbation (PAG)' : o.symbolic ? 'symbolic sizes' : o.graph ? 'a given graph' : undefined;
  if (unsupported) throw new GraphError(`UNet split into sessions: ${unsupported} needs the whole UNet in one graph; build it whole (the memory plan's split off)`);
  const n = cfg.blockOutChannels.length;
  const shapes = skipShapes(cfg, o.height, o.width).down;
  const dtype = o.dtype ?? 'float32';
  const pieces: UNetPiece[] = [];

  /** A piece's graph with the UNet's conditioning inputs; `body` builds its blocks and returns its outputs. */
  const piece = (name: string, body: (b: ReturnType<typeof unetBody>) => Record<string, T>) => {
    const g = new Graph(`unet.${name}`);
    const outputs = body(unetBody(source, cfg, { ...o, graph: g }, false));
    for (const [outName, t] of Object.entries(outputs)) g.output(t, outName);
    pieces.push({ name, graph: g });
  };
  const boundary = (g: Graph, name: string, shape: readonly number[]) => g.input(name, dtype, [o.batch, ...shape]);

  let firstSkip = 0;
  for (let i = 0; i < n; i++) {
    piece(`down_blocks.${i}`, (b) => {
      const x = i === 0 ? convIn(b, b.g.input('sample', 'float32', [o.batch, cfg.inChannels, o.height, o.width])) : boundary(b.g, HIDDEN, shapes[firstSkip - 1]);
      const skips = [...(i === 0 ? [x] : []), ...downLevel(b.w, cfg, b.ctx, i, { x, timeAct: b.timeAct, text: b.text })];
      const named = Object.fromEntries(skips.map((s, k) => [skipName(firstSkip + k), s]));
      firstSkip += skips.length;
      return named;
    });
  }
  if (cfg.hasMidBlock) piece('mid_block', (b) => ({ [HIDDEN_OUT]: midBlock(b.w, cfg, b.ctx, { x: boundary(b.g, HIDDEN, shapes.at(-1)!), timeAct: b.timeAct, text: b.text }) }));

  let hiddenShape = shapes.at(-1)!.slice();
  let pending = shapes.length;
  for (let i = 0; i < n; i++) {
    piece(`up_blocks.${i}`, (b) => {
      const taken = cfg.layersPerBlock[upIndex(cfg, i)] + 1;
      const skips = Array.from({ length: taken }, (_, k) => boundary(b.g, skipName(pending - taken + k), shapes[pending - taken + k]));
      pending -= taken;
      const next = pending > 0 ? { height: shapes[pending - 1][1], width: shapes[pending - 1][2] } : undefined;
      const x = upLevel(b, i, boundary(b.g, HIDDEN, hiddenShape), skips, next);
      hiddenShape = x.shape.slice(1) as number[];
      return { [i === n - 1 ? UNET_OUTPUT : HIDDEN_OUT]: i === n - 1 ? convOut(b, x) : x };
    });
  }
  return pieces;
}
