// The UNet split into pieces, one graph each: a down level, the mid block, an up level (with layer sessions, one
// layer: a resnet with its transformer, the last with the level's down- or upsampler). Run one after another
// (runner.ts), only one piece's activations are on the device at a time, and the skip connections wait between
// the down and up pieces where the runner keeps them (host memory with onnxruntime-node). Each piece holds its
// own blocks' weights and recomputes the small time embedding. Boundary tensors are in the compute dtype.
import { Graph, GraphError, type T } from '../../onnx/graph.ts';
import type { TensorSource } from '../../onnx/weights.ts';
import { upIndex, type UNetConfig } from './config.ts';
import { downLevel, midBlock, skipShapes, type LayerRange } from './encoder.ts';
import type { UNetMemory } from './memory.ts';
import { convIn, convOut, unetBody, upLevel, UNET_OUTPUT, type UNetBuildOptions } from './unet.ts';

/** The hidden states passed from one piece to the next: a piece's output, the next one's input. */
export const HIDDEN_OUT = 'hidden_out';
export const HIDDEN = 'hidden';
export const skipName = (k: number) => `skip_${k}`;

export interface UNetPiece {
  name: string;
  graph: Graph;
}

/** One piece: a down level, the mid block or an up level, or with `layers` one layer of a level. */
interface PieceSpec {
  name: string;
  block: 'down' | 'mid' | 'up';
  level: number;
  layers?: LayerRange;
}

function pieceSpecs(cfg: UNetConfig, memory?: UNetMemory): PieceSpec[] {
  const n = cfg.blockOutChannels.length;
  const levels = cfg.blockOutChannels.map((_, i) => i);
  /** A block's pieces: the whole block, or one per layer when the memory asks for layer sessions. */
  const block = (kind: 'down' | 'up', i: number, layerCount: number): PieceSpec[] => {
    const name = `${kind}_blocks.${i}`;
    if (!memory?.layerSessions || layerCount < 2) return [{ name, block: kind, level: i }];
    return Array.from({ length: layerCount }, (_, j) => ({ name: `${name}.layers.${j}`, block: kind, level: i, layers: { from: j, to: j + 1 } }));
  };
  return [
    ...levels.flatMap((i) => block('down', i, cfg.layersPerBlock[i])),
    ...(cfg.hasMidBlock ? [{ name: 'mid_block', block: 'mid' as const, level: n - 1 }] : []),
    ...levels.flatMap((i) => block('up', i, cfg.layersPerBlock[upIndex(cfg, i)] + 1)),
  ];
}

/** The pieces' names in running order. */
export function unetPieceNames(cfg: UNetConfig, memory?: UNetMemory): string[] {
  return pieceSpecs(cfg, memory).map((p) => p.name);
}

export function buildUNetPieces(source: TensorSource, cfg: UNetConfig, o: UNetBuildOptions): UNetPiece[] {
  const unsupported = o.controlResiduals ? 'ControlNet residuals' : o.ipAdapter ? 'an IP-Adapter' : o.perturbedRows ? 'head perturbation (PAG)' : o.symbolic ? 'symbolic sizes' : o.graph ? 'a given graph' : undefined;
  if (unsupported) throw new GraphError(`UNet split into sessions: ${unsupported} needs the whole UNet in one graph; build it whole (the memory plan's split off)`);
  const n = cfg.blockOutChannels.length;
  const shapes = skipShapes(cfg, o.height, o.width).down;
  const dtype = o.dtype ?? 'float32';
  const boundary = (g: Graph, name: string, shape: readonly number[]) => g.input(name, dtype, [o.batch, ...shape]);

  let made = 0; // skips the down pieces have made so far
  let pending = shapes.length; // skips the up pieces have not taken yet
  let hiddenShape = shapes.at(-1)!.slice();
  return pieceSpecs(cfg, o.memory).map((spec) => {
    const g = new Graph(`unet.${spec.name}`);
    const b = unetBody(source, cfg, { ...o, graph: g }, false);
    const i = spec.level;
    let outputs: Record<string, T>;
    if (spec.block === 'down') {
      const first = i === 0 && (spec.layers?.from ?? 0) === 0;
      const x = first ? convIn(b, g.input('sample', 'float32', [o.batch, cfg.inChannels, o.height, o.width])) : boundary(g, HIDDEN, shapes[made - 1]);
      const skips = [...(first ? [x] : []), ...downLevel(b.w, cfg, b.ctx, i, { x, timeAct: b.timeAct, text: b.text }, spec.layers)];
      outputs = Object.fromEntries(skips.map((s, k) => [skipName(made + k), s]));
      made += skips.length;
    } else if (spec.block === 'mid') {
      outputs = { [HIDDEN_OUT]: midBlock(b.w, cfg, b.ctx, { x: boundary(g, HIDDEN, shapes.at(-1)!), timeAct: b.timeAct, text: b.text }) };
    } else {
      const count = cfg.layersPerBlock[upIndex(cfg, i)] + 1;
      const { from, to } = spec.layers ?? { from: 0, to: count };
      const taken = to - from;
      const skips = Array.from({ length: taken }, (_, k) => boundary(g, skipName(pending - taken + k), shapes[pending - taken + k]));
      pending -= taken;
      const next = to === count && pending > 0 ? { height: shapes[pending - 1][1], width: shapes[pending - 1][2] } : undefined;
      const x = upLevel(b, i, boundary(g, HIDDEN, hiddenShape), skips, next, spec.layers);
      hiddenShape = x.shape.slice(1) as number[];
      const last = i === n - 1 && to === count;
      outputs = { [last ? UNET_OUTPUT : HIDDEN_OUT]: last ? convOut(b, x) : x };
    }
    for (const [name, t] of Object.entries(outputs)) g.output(t, name);
    return { name: spec.name, graph: g };
  });
}
