// ORT's allocation planner without its buffer reuse (planner-reuse.ts, the studio's CUDA tuning): a whole UNet holds
// far less of the arena for the same output. Native CPU sessions, ORT's own arena statistics; an SD 1.5-layout UNet
// narrowed to 32–64 channels, random weights, LinFusion, batch 2 at a 32×64 latent.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import koffi from 'koffi';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { parseUNetConfig } from '../pipelines/models/unet/config.ts';
import { buildUNet, UNET_OUTPUT } from '../pipelines/models/unet/unet.ts';
import { linfusionAttention, LinFusionModules } from '../pipelines/attention/linfusion.ts';
import { serializeGraph, tensor } from '../pipelines/runtime/session.ts';
import { NativeSession } from '../pipelines/runtime/native/native-session.ts';
import { disablePlannerReuse } from '../pipelines/runtime/native/planner-reuse.ts';
import { ortCApi } from '../pipelines/runtime/native/ort-c-api.ts';
import { writeRandomUNetWithLinFusion } from '../bench/lib/random-safetensors.ts';
import { SD15_UNET_CONFIG } from '../bench/lib/unet-tensors.ts';

test('the planner\'s reuse flag is the byte between the memory pattern and CPU arena flags, and only it is written', () => {
  const api = ortCApi();
  const options = api.out('CreateSessionOptions');
  try {
    const bytes = () => Array.from(koffi.decode(options, 'uint8_t', 128) as number[]);
    const before = bytes();
    assert.equal(disablePlannerReuse(api, options), undefined, 'ORT 1.30\'s layout is proven');
    const after = bytes();
    const changed = before.flatMap((b, i) => (b !== after[i] ? [i] : []));
    assert.equal(changed.length, 1, `one byte changed: ${changed.join(', ')}`);
    const at = changed[0];
    // Its neighbours are the two flags that the C API sets: both still on.
    api.check(api.call.DisableMemPattern(options), 'DisableMemPattern');
    assert.equal(bytes()[at - 1], 0);
    api.check(api.call.DisableCpuMemArena(options), 'DisableCpuMemArena');
    assert.equal(bytes()[at + 1], 0);
  } finally {
    api.call.ReleaseSessionOptions(options);
  }
});

test('a whole UNet without the planner\'s reuse: the same output from well under half the arena', async () => {
  const cfg = parseUNetConfig({ ...SD15_UNET_CONFIG, block_out_channels: [32, 64, 64, 64], cross_attention_dim: 32 }, 'narrow SD 1.5');
  const [height, width] = [32, 64];
  const work = mkdtempSync(join(tmpdir(), 'planner-reuse-'));
  try {
    const paths = writeRandomUNetWithLinFusion(work, cfg, 'F32', 5);
    const modules = LinFusionModules.load(paths.linfusion);
    const model = serializeGraph(buildUNet(SafetensorsFile.open(paths.unet), cfg, { batch: 2, height, width, selfAttention: linfusionAttention(modules) }).graph);
    const filled = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233));
    const feeds = {
      sample: tensor(filled(2 * 4 * height * width, 1), [2, 4, height, width]),
      timestep: tensor(Float32Array.of(801, 801), [2]),
      encoder_hidden_states: tensor(filled(2 * 77 * 32, 2), [2, 77, 32]),
    };
    const U = 2 * height * width * cfg.blockOutChannels[0] * 4;
    /** The output and the most the arena had in use above the weights during one run. */
    const measure = async (plannerReuse: boolean) => {
      const s = await NativeSession.create(model, { provider: 'cpu', memPattern: false, intraOpThreads: 1, plannerReuse });
      try {
        assert.equal(s.note, undefined);
        const atRest = s.arenaStats().InUse;
        const out = (await s.run(feeds))[UNET_OUTPUT].data as Float32Array;
        return { out, held: (s.arenaStats().MaxInUse - atRest) / U };
      } finally {
        await s.release();
      }
    };
    const withReuse = await measure(true);
    const without = await measure(false);
    console.log(`whole UNet, arena's most in use above the weights: ${withReuse.held.toFixed(2)} U with the planner's reuse, ${without.held.toFixed(2)} U without`);
    assert.deepEqual(without.out, withReuse.out, 'the same kernels on the same inputs');
    assert.ok(without.held < 0.5 * withReuse.held, `${without.held.toFixed(2)} U without, ${withReuse.held.toFixed(2)} U with`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
