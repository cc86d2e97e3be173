// Layer sessions (UNetMemory.layerSessions): a split UNet one session per layer instead of per level. The same
// output as the level pieces, and less memory at the worst piece: ORT holds more than a graph's own need within one
// session, and that grows with the layers the session spans (bench/NOTES.md, session 7). Measured here with ORT's own
// arena statistics (native CPU sessions, each piece its own arena) on an SD 1.5-layout UNet narrowed to 32–64
// channels with two layers per block, random weights, LinFusion, one CFG row.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { parseUNetConfig } from '../pipelines/models/unet/config.ts';
import type { UNetMemory } from '../pipelines/models/unet/memory.ts';
import { unetPieceNames } from '../pipelines/models/unet/pieces.ts';
import { openUNetRunner } from '../pipelines/models/unet/runner.ts';
import { linfusionAttention, LinFusionModules } from '../pipelines/attention/linfusion.ts';
import { Session, serializeGraph, tensor } from '../pipelines/runtime/session.ts';
import { NativeSession } from '../pipelines/runtime/native/native-session.ts';
import { writeRandomUNetWithLinFusion } from '../bench/lib/random-safetensors.ts';
import { SD15_UNET_CONFIG } from '../bench/lib/unet-tensors.ts';
import { relL2 } from './fixtures.ts';

const cfg = parseUNetConfig({ ...SD15_UNET_CONFIG, block_out_channels: [32, 64, 64, 64], cross_attention_dim: 32 }, 'narrow SD 1.5');
const [height, width] = [32, 64];
const work = mkdtempSync(join(tmpdir(), 'layer-sessions-'));
const paths = writeRandomUNetWithLinFusion(work, cfg, 'F32', 11);
const weights = SafetensorsFile.open(paths.unet);
const filled = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233));
const feeds = {
  sample: tensor(filled(2 * 4 * height * width, 1), [2, 4, height, width]),
  timestep: tensor(Float32Array.of(801, 801), [2]),
  encoder_hidden_states: tensor(filled(2 * 77 * 32, 2), [2, 77, 32]),
};
const sessions: Session[] = [];
test.after(async () => {
  await Promise.all(sessions.map((s) => s.release()));
  rmSync(work, { recursive: true, force: true });
});

/** The UNet run the way `memory` says: its output, and each piece's arena peak above its weights (ORT's statistics). */
async function run(memory: UNetMemory): Promise<{ out: Float32Array; peaks: Map<string, number> }> {
  const natives = new Map<string, { session: NativeSession; atRest: number }>();
  const modules = LinFusionModules.load(paths.linfusion);
  const runner = await openUNetRunner(weights, cfg, () => ({ height, width, selfAttention: linfusionAttention(modules) }), 2, memory, async (piece, build) => {
    const native = await NativeSession.create(serializeGraph(build()), { provider: 'cpu', memPattern: false, intraOpThreads: 1 });
    natives.set(piece, { session: native, atRest: native.arenaStats().InUse });
    const s = Session.over(native, 'cpu', piece);
    sessions.push(s);
    return s;
  });
  const out = await runner.run(feeds);
  return { out, peaks: new Map([...natives].map(([piece, n]) => [piece, n.session.arenaStats().MaxInUse - n.atRest])) };
}

test('layer sessions: one session per layer of every block with more than one, in running order', () => {
  const names = unetPieceNames(cfg, { ffPieces: 1, attentionPieces: 1, split: true, layerSessions: true });
  const layers = (block: string, n: number) => Array.from({ length: n }, (_, j) => `${block}.layers.${j}`);
  assert.deepEqual(names, [...[0, 1, 2, 3].flatMap((i) => layers(`down_blocks.${i}`, 2)), 'mid_block', ...[0, 1, 2, 3].flatMap((i) => layers(`up_blocks.${i}`, 3))]);
  assert.deepEqual(unetPieceNames(cfg, { ffPieces: 1, attentionPieces: 1, split: true }), ['down_blocks.0', 'down_blocks.1', 'down_blocks.2', 'down_blocks.3', 'mid_block', 'up_blocks.0', 'up_blocks.1', 'up_blocks.2', 'up_blocks.3']);
});

test('layer sessions give the level pieces\' output with a lower worst-piece arena peak', async () => {
  const memory: UNetMemory = { ffPieces: 4, attentionPieces: 2, split: true, rowByRow: true };
  const levels = await run(memory);
  const layers = await run({ ...memory, layerSessions: true });
  const err = relL2(layers.out, levels.out);
  assert.ok(err <= 1e-5, `rel-L2 ${err.toExponential(2)}`);
  const worst = (peaks: Map<string, number>) => Math.max(...peaks.values());
  const [before, after] = [worst(levels.peaks), worst(layers.peaks)];
  const U = height * width * cfg.blockOutChannels[0] * 4;
  console.log(`worst piece's arena peak: level pieces ${(before / U).toFixed(2)} U (${[...levels.peaks].map(([p, b]) => `${p} ${(b / U).toFixed(1)}`).join(', ')}); layer sessions ${(after / U).toFixed(2)} U`);
  assert.ok(after < 0.6 * before, `layer sessions ${(after / U).toFixed(2)} U, level pieces ${(before / U).toFixed(2)} U`);
});
