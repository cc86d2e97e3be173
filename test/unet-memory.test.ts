// The UNet's memory plan pieces: the feed-forward over pieces of the tokens and LinFusion over groups of
// (row × head) (models/unet/memory.ts) give the whole graph's output and share its weights; one graph with
// symbolic latent sizes gives each fixed-size graph's output; an fp16 call that overflows is redone in fp32. On
// the ladder's tiny SD 1.x UNet with its LinFusion modules (test/fixtures/hires), on the CPU.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { parseUNetConfig } from '../pipelines/models/unet/config.ts';
import { WHOLE, type UNetMemory } from '../pipelines/models/unet/memory.ts';
import { buildUNet, UNET_OUTPUT } from '../pipelines/models/unet/unet.ts';
import { selfAttentionLayers } from '../pipelines/models/unet/layers.ts';
import { linfusionAttention, LinFusionModules } from '../pipelines/attention/linfusion.ts';
import { Session, tensor } from '../pipelines/runtime/session.ts';
import { WholeUNet } from '../pipelines/models/unet/runner.ts';
import { runRecovering, unetRecoveryNotes } from '../pipelines/recipes/sd/unet-recovery.ts';
import { relL2 } from './fixtures.ts';
import { runGraph } from './run-graph.ts';

const HIRES = resolve(import.meta.dirname, 'fixtures/hires');
const cfg = parseUNetConfig(JSON.parse(readFileSync(join(HIRES, 'unet/config.json'), 'utf8')), 'hires unet config');
const weights = SafetensorsFile.open(join(HIRES, 'unet/diffusion_pytorch_model.safetensors'));
const [batch, height, width] = [2, 16, 24];

/** A deterministic pseudo-random fill in [-scale, scale]. */
const filled = (n: number, seed: number, scale = 1) => Float32Array.from({ length: n }, (_, i) => scale * Math.sin(seed * 12.9898 + i * 78.233));

const feeds = {
  sample: tensor(filled(batch * 4 * height * width, 1), [batch, 4, height, width]),
  timestep: tensor(Float32Array.of(801, 801), [batch]),
  encoder_hidden_states: tensor(filled(batch * 77 * 32, 2), [batch, 77, 32]),
};

function graph(memory: UNetMemory, size: { height: number; width: number; symbolic?: boolean } = { height, width }) {
  const selfAttention = linfusionAttention(LinFusionModules.load(join(HIRES, 'linfusion')));
  return buildUNet(weights, cfg, { batch, ...size, selfAttention, memory }).graph;
}

const feedsAt = (h: number, w: number) => ({ ...feeds, sample: tensor(filled(batch * 4 * h * w, 3), [batch, 4, h, w]) });

test('feed-forward in 5 token pieces and LinFusion in 3 (row × head) groups = the whole graph (rel-L2 ≤ 5e-6, float32 rounding)', async () => {
  const whole = graph(WHOLE);
  const pieces = graph({ ffPieces: 5, attentionPieces: 3 });
  const [a, b] = [whole.summary(), pieces.summary()];
  const blocks = selfAttentionLayers(cfg).length;
  // Per transformer block: the FF's 2 inputs and LinFusion's q, k, v are split, and GEGLU's own split runs 4 more times.
  assert.equal(b.ops.Split - a.ops.Split, blocks * (2 + 3 + 4));
  // New initializers are only the pieces' int64 split sizes; one copied FF weight would add 32 × 256 values.
  assert.ok(b.parameters - a.parameters < 64, `the pieces share the weights (${b.parameters - a.parameters} new values)`);
  const [x, y] = [(await runGraph(whole, feeds))[UNET_OUTPUT], (await runGraph(pieces, feeds))[UNET_OUTPUT]];
  assert.ok(x.every(Number.isFinite));
  const err = relL2(y, x);
  console.log(`pieces vs whole: rel-L2 ${err.toExponential(2)}`);
  assert.ok(err <= 5e-6, `rel-L2 ${err.toExponential(2)}`);
});

test('one graph with symbolic latent sizes (LinFusion, in pieces) = the fixed-size graph at each size (rel-L2 ≤ 3e-5: float32 rounding, the pieces cut elsewhere, the token mean a GEMM whose summation order follows them)', async () => {
  const symbolic = graph({ ffPieces: 2, attentionPieces: 2 }, { height: 8, width: 8, symbolic: true });
  const session = await Session.create(symbolic, { providers: ['cpu'] });
  try {
    for (const [h, w] of [[8, 16], [24, 8]]) {
      const out = (await session.run(feedsAt(h, w)))[UNET_OUTPUT];
      assert.deepEqual(out.dims, [batch, 4, h, w]);
      const fixed = (await runGraph(graph({ ffPieces: 2, attentionPieces: 2 }, { height: h, width: w }), feedsAt(h, w)))[UNET_OUTPUT];
      const err = relL2(out.data as Float32Array, fixed);
      console.log(`symbolic vs fixed at ${h}×${w}: rel-L2 ${err.toExponential(2)}`);
      assert.ok(err <= 3e-5, `${h}×${w}: rel-L2 ${err.toExponential(2)}`);
    }
  } finally {
    await session.release();
  }
});

test('symbolic sizes are refused, naming why, where a part needs the size (ControlNet residuals, PAG, AgentSD)', () => {
  assert.throws(() => buildUNet(weights, cfg, { batch, height: 8, width: 8, symbolic: true, controlResiduals: true }), /symbolic sizes: ControlNet residuals needs a graph built for one size/);
  assert.throws(() => buildUNet(weights, cfg, { batch, height: 8, width: 8, symbolic: true, perturbedRows: 1 }), /head perturbation \(PAG\)/);
  assert.throws(() => buildUNet(weights, cfg, { batch, height: 8, width: 8, symbolic: true, selfAttention: { kind: 'agent', apply: () => { throw new Error('not reached'); } } }), /agent attention \(it reads the token grid\)/);
});

test('fp16 with NaN recovery: an overflowing fp16 call is computed again by the fp32 graph, built only then', async () => {
  const build = (dtype: 'float16' | 'float32') => Session.create(buildUNet(weights, cfg, { batch: 1, height: 8, width: 8, dtype }).graph, { providers: ['cpu'] });
  const at = (k: number) => ({
    sample: tensor(new Float32Array(4 * 64).fill(k), [1, 4, 8, 8]),
    timestep: tensor(Float32Array.of(500), [1]),
    encoder_hidden_states: tensor(new Float32Array(77 * 32).fill(k), [1, 77, 32]),
  });
  const fp16 = await build('float16');
  let fp32: Session | undefined;
  const fallback = async () => new WholeUNet((fp32 ??= await build('float32')));
  try {
    const plain = await runRecovering(new WholeUNet(fp16), fallback, at(1));
    assert.equal(plain.recovered, false);
    assert.equal(fp32, undefined, 'no fp32 graph while fp16 is finite');
    // Latents of 6·10⁴ pass fp16's 65504 inside the graph: NaN/Inf out.
    assert.ok(!(await fp16.run(at(6e4)))[UNET_OUTPUT].data.every((v) => Number.isFinite(v as number)));
    const recovered = await runRecovering(new WholeUNet(fp16), fallback, at(6e4));
    assert.equal(recovered.recovered, true);
    assert.ok(recovered.output.every(Number.isFinite));
    assert.deepEqual(recovered.output, (await fp32!.run(at(6e4)))[UNET_OUTPUT].data);
    assert.deepEqual(unetRecoveryNotes(2), ['2 fp16 UNet calls gave NaN/Inf (fp16 overflow); computed again in fp32']);
  } finally {
    await fp16.release();
    await fp32?.release();
  }
});
