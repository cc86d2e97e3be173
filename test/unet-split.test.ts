// The UNet split into sessions (models/unet/pieces.ts, one per down level, mid block and up level, the skips held
// by the runner between them) and CFG's rows one at a time (runner.ts) give the whole batched graph's output. On
// the ladder's tiny SD 1.x UNet with its LinFusion modules (test/fixtures/hires), on the CPU, float32.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { parseUNetConfig } from '../pipelines/models/unet/config.ts';
import { WHOLE, type UNetMemory } from '../pipelines/models/unet/memory.ts';
import { buildUNet, type UNetBuildOptions } from '../pipelines/models/unet/unet.ts';
import { buildUNetPieces, HIDDEN_OUT, unetPieceNames } from '../pipelines/models/unet/pieces.ts';
import { openUNetRunner, type UNetRunner } from '../pipelines/models/unet/runner.ts';
import { linfusionAttention, LinFusionModules } from '../pipelines/attention/linfusion.ts';
import { Session, serializeGraph, tensor, type SessionBackend } from '../pipelines/runtime/session.ts';
import { NativeSession, type NativeDeviceValue } from '../pipelines/runtime/native/native-session.ts';
import { relL2 } from './fixtures.ts';

const HIRES = resolve(import.meta.dirname, 'fixtures/hires');
const cfg = parseUNetConfig(JSON.parse(readFileSync(join(HIRES, 'unet/config.json'), 'utf8')), 'hires unet config');
const weights = SafetensorsFile.open(join(HIRES, 'unet/diffusion_pytorch_model.safetensors'));
const [height, width] = [16, 24];

const filled = (n: number, seed: number, scale = 1) => Float32Array.from({ length: n }, (_, i) => scale * Math.sin(seed * 12.9898 + i * 78.233));

/** Two rows that differ, as CFG's (the unconditional text is another prompt's). */
const feeds = {
  sample: tensor(filled(2 * 4 * height * width, 1), [2, 4, height, width]),
  timestep: tensor(Float32Array.of(801, 801), [2]),
  encoder_hidden_states: tensor(filled(2 * 77 * 32, 2), [2, 77, 32]),
};

const options = (batch: number, memory: UNetMemory, linfusion: boolean): UNetBuildOptions => ({
  batch, height, width, memory, ...(linfusion ? { selfAttention: linfusionAttention(LinFusionModules.load(join(HIRES, 'linfusion'))) } : {}),
});

const sessions: Session[] = [];

async function runner(memory: UNetMemory, linfusion: boolean): Promise<UNetRunner> {
  const { batch: _, ...o } = options(2, memory, linfusion);
  return openUNetRunner(weights, cfg, () => o, 2, memory, async (_part, build) => {
    const s = await Session.create(build(), { providers: ['cpu'] });
    sessions.push(s);
    return s;
  });
}

test.after(() => Promise.all(sessions.map((s) => s.release())));

for (const linfusion of [false, true]) {
  const attention = linfusion ? 'LinFusion' : 'softmax';
  test(`${attention}: split into sessions, one row at a time, with and without FF / LinFusion pieces = the whole batch-2 graph`, async () => {
    const whole = await (await runner(WHOLE, linfusion)).run(feeds);
    assert.equal(whole.length, 2 * 4 * height * width);
    assert.ok(whole.every(Number.isFinite));
    const pieces = { ffPieces: 3, attentionPieces: 2 };
    const cases: [string, UNetMemory, number][] = [
      ['one row at a time', { ...WHOLE, rowByRow: true }, 1e-6],
      ['split', { ...WHOLE, split: true }, 1e-5],
      ['split, FF and LinFusion in pieces', { ...pieces, split: true }, 1e-5],
      ['split, skips through host tensors', { ...WHOLE, split: true, skipsOnHost: true }, 1e-5],
      ['split, one row at a time, in pieces', { ...pieces, split: true, rowByRow: true }, 1e-5],
    ];
    for (const [what, memory, bound] of cases) {
      const out = await (await runner(memory, linfusion)).run(feeds);
      const err = relL2(out, whole);
      console.log(`${attention}, ${what}: rel-L2 ${err.toExponential(2)}`);
      assert.ok(err <= bound, `${what}: rel-L2 ${err.toExponential(2)} > ${bound}`);
    }
  });
}

test('skips parked in host memory by native sessions (the CUDA path, here on the CPU): the whole graph\'s output, the skips parked and the hidden states kept as each piece ends, every value released after the call', async () => {
  const whole = await (await runner(WHOLE, false)).run(feeds);
  const calls: { piece: string; outputs: readonly string[]; keep: readonly string[]; park: readonly string[]; out: NativeDeviceValue[] }[] = [];
  const memory: UNetMemory = { ...WHOLE, split: true, skipsOnHost: true };
  const { batch: _, ...o } = options(2, memory, false);
  const split = await openUNetRunner(weights, cfg, () => o, 2, memory, async (piece, build) => {
    const inner = await NativeSession.create(serializeGraph(build()), { provider: 'cpu' });
    // The native session, its runKeeping calls recorded.
    const recorded: SessionBackend = {
      inputNames: inner.inputNames,
      outputNames: inner.outputNames,
      run: (f, ro) => inner.run(f, ro),
      runKeeping: async (f, keep, ro, park = []) => {
        const result = await inner.runKeeping(f, keep, ro, park);
        calls.push({ piece, outputs: inner.outputNames, keep, park, out: Object.values(result.device) });
        return result;
      },
      release: () => inner.release(),
    };
    const s = Session.over(recorded, 'cpu', piece);
    sessions.push(s);
    return s;
  });
  const out = await split.run(feeds);
  assert.ok(relL2(out, whole) <= 1e-5, `rel-L2 ${relL2(out, whole).toExponential(2)}`);
  assert.deepEqual(calls.map((c) => c.piece), unetPieceNames(cfg));
  for (const c of calls) {
    assert.deepEqual(c.park, c.outputs.filter((n) => n.startsWith('skip_')), `${c.piece} parks its skips`);
    assert.deepEqual(c.keep, c.outputs.includes(HIDDEN_OUT) ? [HIDDEN_OUT] : [], `${c.piece} keeps its hidden states on the device`);
    assert.equal(c.out.length, c.keep.length + c.park.length);
    assert.equal(c.out.filter((v) => v.inHostMemory).length, c.park.length, `${c.piece}: the parked values say they are in host memory`);
    for (const v of c.out) assert.throws(() => v.handle, /released/, `${c.piece}: a value still held after the call`);
  }
});

test('the pieces: one per down level, the mid block and one per up level; each UNet weight in one piece, but the time embedding in each', () => {
  const pieces = buildUNetPieces(weights, cfg, options(2, WHOLE, false));
  assert.deepEqual(pieces.map((p) => p.name), unetPieceNames(cfg));
  assert.equal(pieces.length, 2 * cfg.blockOutChannels.length + 1);
  const whole = buildUNet(weights, cfg, options(2, WHOLE, false)).graph.summary().parameters;
  const timeEmbedding = weights.keys().filter((k) => k.startsWith('time_embedding.')).reduce((a, k) => a + weights.info(k).shape.reduce((x, y) => x * y, 1), 0);
  const split = pieces.reduce((a, p) => a + p.graph.summary().parameters, 0);
  // Beyond the time embedding's copies, only each graph's small constants (shapes, frequencies): fewer values than one 32×32 weight.
  const extra = split - whole - (pieces.length - 1) * timeEmbedding;
  assert.ok(extra >= 0 && extra < 32 * 32, `${extra} values beyond the weights`);
});

test('the split refuses, naming why, what needs the whole graph (ControlNet residuals, PAG)', () => {
  assert.throws(() => buildUNetPieces(weights, cfg, { ...options(2, WHOLE, false), controlResiduals: true }), /split into sessions: ControlNet residuals needs the whole UNet in one graph/);
  assert.throws(() => buildUNetPieces(weights, cfg, { ...options(2, WHOLE, false), perturbedRows: 1 }), /head perturbation \(PAG\)/);
});
