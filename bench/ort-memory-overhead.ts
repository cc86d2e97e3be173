// What ORT holds beyond a graph's own need, on this machine's CPU: for parts of the UNet's full-resolution level (SD 1.5
// layout narrowed to 64 channels, latent 128×64, one row, LinFusion, FF in 32 pieces, random weights) and the whole
// UNet, the graph's liveness (bench/lib/liveness.ts) beside the most ORT's arena had in use during one run (native CPU
// sessions, no memory pattern, as the studio's CUDA sessions run), with ORT's allocation planner reusing buffers
// (ORT's default) and without (the studio's CUDA tuning, planner-reuse.ts). In U, one full-resolution tensor.
// bench/NOTES.md, sessions 7 and 8.
//
//   npx tsx bench/ort-memory-overhead.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attentionSchedule } from '../pipelines/attention/registry.ts';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { parseUNetConfig } from '../pipelines/models/unet/config.ts';
import { resnetBlock } from '../pipelines/models/unet/resnet.ts';
import { transformer2d } from '../pipelines/models/unet/transformer.ts';
import { buildUNet, UNET_OUTPUT, unetBody } from '../pipelines/models/unet/unet.ts';
import { Graph, type T } from '../pipelines/onnx/graph.ts';
import * as op from '../pipelines/onnx/ops.ts';
import { NativeSession } from '../pipelines/runtime/native/native-session.ts';
import { Session, serializeGraph, tensor } from '../pipelines/runtime/session.ts';
import { linfusionAttention, LinFusionModules } from '../pipelines/attention/linfusion.ts';
import type { UNetMemory } from '../pipelines/models/unet/memory.ts';
import { openUNetRunner } from '../pipelines/models/unet/runner.ts';
import { livenessPeak, nodesOf } from './lib/liveness.ts';
import { writeRandomUNetWithLinFusion } from './lib/random-safetensors.ts';
import { SD15_UNET_CONFIG } from './lib/unet-tensors.ts';

const [H, W, C] = [64, 128, 64];
const U = H * W * C * 4;
const cfg = parseUNetConfig({ ...SD15_UNET_CONFIG, block_out_channels: [C, 2 * C, 4 * C, 4 * C], cross_attention_dim: 64 }, 'narrow SD 1.5');
const work = mkdtempSync(join(tmpdir(), 'ort-overhead-'));
try {
  const paths = writeRandomUNetWithLinFusion(work, cfg, 'F32', 1);
  const source = SafetensorsFile.open(paths.unet);
  const options = { batch: 1, height: H, width: W, textLength: 77, dtype: 'float32' as const, memory: { ffPieces: 32, attentionPieces: 16 }, selfAttention: attentionSchedule({ kind: 'linfusion', path: paths.linfusion }, 1)(0, 1).build() };

  /** A graph on the full-resolution level's x [1, C, H, W] (with the UNet's time embedding and text inputs) and its peaks. */
  async function measure(label: string, body: (g: Graph, x: T, b: ReturnType<typeof unetBody>) => T): Promise<void> {
    const g = new Graph(label);
    const b = unetBody(source, cfg, { ...options, graph: g }, false);
    g.output(body(g, g.input('x', 'float32', [1, C, H, W]), b), 'y');
    await report(label, g, (n) => n === 'y');
  }
  async function report(label: string, g: Graph, isOutput: (name: string) => boolean): Promise<void> {
    const live = livenessPeak(nodesOf(g), isOutput);
    const model = serializeGraph(g, { providers: ['cpu'] });
    const all = {
      x: tensor(new Float32Array(C * H * W).fill(0.5), [1, C, H, W]),
      sample: tensor(new Float32Array(4 * H * W).fill(0.5), [1, 4, H, W]),
      timestep: tensor(Float32Array.of(999), [1]),
      encoder_hidden_states: tensor(new Float32Array(77 * 64).fill(0.1), [1, 77, 64]),
    };
    const held = async (plannerReuse: boolean) => {
      const s = await NativeSession.create(model, { provider: 'cpu', memPattern: false, intraOpThreads: 2, plannerReuse });
      const atRest = s.arenaStats().InUse;
      await s.run(Object.fromEntries(Object.entries(all).filter(([k]) => s.inputNames.includes(k))));
      const most = s.arenaStats().MaxInUse - atRest;
      await s.release();
      return (most / U).toFixed(2);
    };
    console.log(`| ${label} | ${(live.bytes / U).toFixed(2)} | ${await held(true)} | ${await held(false)} |`);
  }
  const down0 = (b: ReturnType<typeof unetBody>) => b.w.sub('down_blocks.0');
  const resnet = (b: ReturnType<typeof unetBody>, x: T, j: number) => resnetBlock(down0(b).sub(`resnets.${j}`), x, b.timeAct, C, { groups: cfg.normGroups, eps: cfg.normEps });
  const transformer = (b: ReturnType<typeof unetBody>, x: T, j: number, depth = 1) => transformer2d(down0(b).sub(`attentions.${j}`), `down_blocks.0.attentions.${j}`, x, b.text, depth, b.ctx);

  console.log(`Narrow SD 1.5 + LinFusion, latent ${W}×${H}, one row, FF in 32 pieces; U = ${(U / 2 ** 20).toFixed(0)} MiB\n`);
  console.log('| graph | liveness (U) | ORT\'s most in use (U) | without the planner\'s reuse (U) |');
  console.log('| --- | ---: | ---: | ---: |');
  await measure('a 3×3 convolution and a residual add', (g, x) => op.add(op.conv2d(x, g.constant('float32', [C, C, 3, 3], new Float32Array(C * C * 9).fill(0.01)), undefined, { padding: 1 }), x));
  await measure('one resnet', (_g, x, b) => resnet(b, x, 0));
  await measure('the transformer with no blocks', (_g, x, b) => transformer(b, x, 0, 0));
  await measure('one transformer', (_g, x, b) => transformer(b, x, 0));
  await measure('resnet + transformer', (_g, x, b) => transformer(b, resnet(b, x, 0), 0));
  await measure('both layers of down_blocks.0', (_g, x, b) => transformer(b, resnet(b, transformer(b, resnet(b, x, 0), 0), 1), 1));
  // A GEGLU-shaped chain on the tokens, whole: x + W2·(a ⊙ gelu(b)), [a, b] = W1·x (8C wide). No kernel scratch here.
  const geglu = (g: Graph, x: T, layer: number) => {
    const [a, gate] = op.split(op.matmul(x, g.constant('float32', [C, 8 * C], new Float32Array(8 * C * C).fill(0.01 + layer))), -1, [4 * C, 4 * C]);
    return op.add(op.matmul(op.mul(a, op.gelu(gate)), g.constant('float32', [4 * C, C], new Float32Array(4 * C * C).fill(0.01))), x);
  };
  for (const layers of [1, 2, 3]) {
    await measure(`a GEGLU chain on the tokens, ${layers} layer(s)`, (g, x) => {
      let t = op.transpose(op.reshape(x, [1, C, H * W]), [0, 2, 1]);
      for (let l = 0; l < layers; l++) t = geglu(g, t, l);
      return t;
    });
  }
  const whole = buildUNet(source, cfg, { ...options, memory: { ffPieces: 1, attentionPieces: 1 } });
  await report('the whole UNet, FF whole', whole.graph, (n) => n === UNET_OUTPUT);

  // The UNet as the runner splits it (models/unet/runner.ts): the piece that held the most, with and without reuse.
  const linfusion = LinFusionModules.load(paths.linfusion);
  const feeds = {
    sample: tensor(new Float32Array(4 * H * W).fill(0.5), [1, 4, H, W]),
    timestep: tensor(Float32Array.of(999), [1]),
    encoder_hidden_states: tensor(new Float32Array(77 * 64).fill(0.1), [1, 77, 64]),
  };
  const worstPiece = async (memory: UNetMemory, plannerReuse: boolean) => {
    const natives = new Map<string, { session: NativeSession; atRest: number }>();
    const runner = await openUNetRunner(source, cfg, () => ({ height: H, width: W, selfAttention: linfusionAttention(linfusion) }), 1, memory, async (piece, build) => {
      const native = await NativeSession.create(serializeGraph(build()), { provider: 'cpu', memPattern: false, intraOpThreads: 2, plannerReuse });
      natives.set(piece, { session: native, atRest: native.arenaStats().InUse });
      return Session.over(native, 'cpu', piece);
    });
    await runner.run(feeds);
    const peaks = [...natives].map(([piece, n]) => ({ piece, held: (n.session.arenaStats().MaxInUse - n.atRest) / U }));
    await Promise.all([...natives.values()].map((n) => n.session.release()));
    const worst = peaks.reduce((a, b) => (b.held > a.held ? b : a));
    return `${worst.held.toFixed(2)} (${worst.piece})`;
  };
  console.log('\nThe UNet as the runner splits it: the piece that held the most\n');
  console.log('| UNet memory | ORT\'s most in use (U) | without the planner\'s reuse (U) |');
  console.log('| --- | ---: | ---: |');
  const ways: [string, UNetMemory][] = [
    ['whole', { ffPieces: 1, attentionPieces: 1 }],
    ['split by level', { ffPieces: 1, attentionPieces: 1, split: true }],
    ['split by layer', { ffPieces: 1, attentionPieces: 1, split: true, layerSessions: true }],
    ['split by level, FF in 4, attention in 2', { ffPieces: 4, attentionPieces: 2, split: true }],
    ['split by layer, FF in 4, attention in 2', { ffPieces: 4, attentionPieces: 2, split: true, layerSessions: true }],
  ];
  for (const [label, memory] of ways) console.log(`| ${label} | ${await worstPiece(memory, true)} | ${await worstPiece(memory, false)} |`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
