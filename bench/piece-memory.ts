// What the UNet's graph itself needs at its peak, piece by piece, beside what the GPU was measured to hold: the
// full-size SD 1.5 / SDXL UNet with LinFusion as the CUDA sessions build it (fp16, the provider's fused kernels, the
// memory plan's FF and LinFusion pieces), each tensor freed after its last reader in the order the graph was built
// (lib/liveness.ts). Per piece of a split UNet, the runner also holds the skips not yet taken and the hidden states.
// No weights are read (shapes only) and nothing runs, so it takes seconds on any machine.
//
//   npx tsx bench/piece-memory.ts [--unet sd15|sdxl] [--size 16384x8192] [--split [--layer-sessions]] [--row-by-row] [--ff-pieces N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { attentionSchedule } from '../pipelines/attention/registry.ts';
import type { TensorSource } from '../pipelines/onnx/weights.ts';
import { parseUNetConfig } from '../pipelines/models/unet/config.ts';
import { skipShapes } from '../pipelines/models/unet/encoder.ts';
import { buildUNetPieces } from '../pipelines/models/unet/pieces.ts';
import { buildUNet } from '../pipelines/models/unet/unet.ts';
import { memoryFor } from '../pipelines/recipes/hires/memory-plan.ts';
import { fusedKernels } from '../pipelines/runtime/kernels.ts';
import { writeRandomLinFusion } from './lib/random-safetensors.ts';
import { livenessPeak, nodesOf, tensorBytes } from './lib/liveness.ts';
import { SD15_UNET_CONFIG, SDXL_UNET_CONFIG, linfusionModules, parameterCount, unetTensorSpecs, type TensorSpec } from './lib/unet-tensors.ts';

const { values: args } = parseArgs({
  options: {
    unet: { type: 'string', default: 'sd15' },
    size: { type: 'string', default: '16384x8192' },
    split: { type: 'boolean', default: false },
    'layer-sessions': { type: 'boolean', default: false },
    'row-by-row': { type: 'boolean', default: false },
    'ff-pieces': { type: 'string' },
  },
});
const GiB = 2 ** 30;
const cfg = parseUNetConfig(args.unet === 'sdxl' ? SDXL_UNET_CONFIG : SD15_UNET_CONFIG, args.unet);
const [width, height] = args.size.split('x').map(Number);
const [h, w] = [height / 8, width / 8];
const rows = args['row-by-row'] ? 1 : 2;
const planned = memoryFor(h * w, 2, 8);
const memory = { ...planned, ...(args['ff-pieces'] ? { ffPieces: Number(args['ff-pieces']) } : {}), split: args.split || args['layer-sessions'], layerSessions: args['layer-sessions'], rowByRow: args['row-by-row'] };

/** The UNet's tensors by shape alone, fp16, at made-up offsets: enough to build its graph. */
function shapesOnly(specs: readonly TensorSpec[], path: string): TensorSource {
  const byName = new Map(specs.map((s) => [s.name, s]));
  return {
    path,
    has: (name) => byName.has(name),
    info: (name) => {
      const s = byName.get(name);
      if (!s) throw new Error(`${path}: no tensor ${name}`);
      return { name, dtype: 'F16', shape: s.shape, offset: 0, byteLength: s.shape.reduce((a, b) => a * b, 2), file: path };
    },
  };
}

const work = mkdtempSync(join(tmpdir(), 'piece-memory-'));
try {
  // LinFusion's modules are read from their folder (small: written with random values).
  const linfusion = writeRandomLinFusion(join(work, 'linfusion'), cfg, 'F16', 1);
  const source = shapesOnly(unetTensorSpecs(cfg), join(work, 'unet.safetensors'));
  const options = { batch: rows, height: h, width: w, textLength: 77, dtype: 'float16' as const, kernels: fusedKernels('cuda'), memory, selfAttention: attentionSchedule({ kind: 'linfusion', path: linfusion }, 1)(0, 1).build() };
  const weights = 2 * (parameterCount(unetTensorSpecs(cfg)) + parameterCount(linfusionModules(cfg).specs));
  const U = rows * h * w * cfg.blockOutChannels[0] * 2;
  console.log(`${args.unet} UNet + LinFusion at ${width}×${height} (latent ${w}×${h}), ${rows} CFG row(s) per call, FF in ${memory.ffPieces} pieces, LinFusion in ${memory.attentionPieces}; fp16, fused kernels; weights ${(weights / GiB).toFixed(2)} GiB; U (one level-0 tensor) ${(U / GiB).toFixed(2)} GiB\n`);
  if (!memory.split) {
    const { graph } = buildUNet(source, cfg, options);
    const peak = livenessPeak(nodesOf(graph), () => false);
    console.log(`whole UNet: intermediates at most ${(peak.bytes / GiB).toFixed(2)} GiB (${(peak.bytes / U).toFixed(1)} U) at ${peak.node}; with the weights ${((peak.bytes + weights) / GiB).toFixed(2)} GiB`);
  } else {
    const shapes = skipShapes(cfg, h, w).down;
    const skipBytes = (k: number) => shapes[k].reduce((a, b) => a * b, rows * 2);
    const held = new Map<string, number>(); // what the runner holds between pieces: skip name → bytes
    let hidden = 0;
    console.log('| piece | its intermediates at most (GiB / U) | at node | held by the runner meanwhile: skips + hidden (GiB) | sum (GiB) |');
    console.log('| --- | ---: | --- | ---: | ---: |');
    let worst = 0;
    for (const piece of buildUNetPieces(source, cfg, options)) {
      const nodes = nodesOf(piece.graph);
      const outputs = new Set(nodes.flatMap((n) => n.outputs.map((o) => o.name)).filter((n) => /^skip_|^hidden_out$|^model_output$/.test(n)));
      const peak = livenessPeak(nodes, (name) => outputs.has(name));
      const heldBytes = [...held.values()].reduce((a, b) => a + b, 0) + hidden;
      worst = Math.max(worst, peak.bytes + heldBytes);
      console.log(`| ${piece.name} | ${(peak.bytes / GiB).toFixed(2)} / ${(peak.bytes / U).toFixed(1)} | ${peak.node.split('/').pop()} | ${(heldBytes / GiB).toFixed(2)} | ${((peak.bytes + heldBytes) / GiB).toFixed(2)} |`);
      // The piece's inputs are given back after it ran; its outputs wait for their readers.
      for (const t of nodes.flatMap((n) => n.inputs)) if (t && held.has(t.name)) held.delete(t.name);
      hidden = 0;
      for (const n of nodes) for (const o of n.outputs) {
        if (/^skip_\d+$/.test(o.name)) held.set(o.name, skipBytes(Number(o.name.slice(5))));
        if (o.name === 'hidden_out') hidden = tensorBytes(o);
      }
    }
    console.log(`\nworst piece with what the runner holds: ${(worst / GiB).toFixed(2)} GiB; with the weights ${((worst + weights) / GiB).toFixed(2)} GiB`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
