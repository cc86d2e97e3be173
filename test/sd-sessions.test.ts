// The sessions an SD pipeline holds: every model for the whole image while the plan says they fit (as diffusers
// keeps them on the GPU), the text encoders released after encoding when it does not — with the same image; and
// the fused-kernel graphs of a CUDA-first provider list, built plain for the CPU when CUDA cannot start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, relL2, skipWithoutFixtures } from './fixtures.ts';
import { SdPipeline } from '../pipelines/recipes/sd/pipeline.ts';
import { textResidency } from '../pipelines/recipes/sd/residency.ts';
import { ModelSessions } from '../pipelines/runtime/session-cache.ts';

const skip = skipWithoutFixtures;
const RUN = { prompt: 'a red apple', negative: '', steps: 2, cfg: 5, sampler: 'euler', seed: 3, width: 64, height: 64 };

test('text encoders stay resident while the image fits, and are released after encoding when it does not', { skip }, async () => {
  const roomy = ModelSessions.standalone('roomy');
  const tight = ModelSessions.standalone('tight');
  const keep = SdPipeline.load(fixture('sd15-tiny'), { sessions: roomy, deviceBytes: 2 ** 40 });
  const release = SdPipeline.load(fixture('sd15-tiny'), { sessions: tight, deviceBytes: 2 ** 20 });
  const kept = [await keep.generate(RUN), await keep.generate(RUN)];
  const released = [await release.generate(RUN), await release.generate(RUN)];
  // Text encoder, UNet, VAE decoder once each; the tight pipeline lets its text encoder go after each prompt.
  assert.deepEqual([roomy.cache.stats.created, roomy.cache.stats.released], [3, 0]);
  assert.deepEqual([tight.cache.stats.created, tight.cache.stats.released], [4, 2]);
  assert.deepEqual(released[1].images, kept[1].images, 'the same image either way');
  assert.equal(kept[0].notes?.length, 0);
  assert.match(released[0].notes?.[0] ?? '', /^text encoders released after encoding to make room \(\d+\.\d GiB planned with every model resident, 0\.0 GiB on cpu; they hold \d+\.\d GiB\)/);
  await keep.release();
  await release.release();
});

test('an unknown amount of device memory keeps everything resident', { skip }, () => {
  const pipe = SdPipeline.load(fixture('sd15-tiny'));
  const s = pipe.sources;
  const input = { unet: s.unet, unetConfig: pipe.unetConfig, vae: s.vae, textEncoders: s.textEncoders, provider: 'cuda', bytesPerValue: 2 as const, width: 1024, height: 1024, rows: 2, images: 1, attention: 'softmax' };
  assert.deepEqual(textResidency(input), { release: false });
  assert.equal(textResidency({ ...input, availableBytes: 1 }).release, true);
  assert.equal(textResidency({ ...input, availableBytes: 2 ** 40 }).release, false);
});

test('a CUDA-first pipeline whose CUDA sessions cannot start runs the plain graphs on the CPU, with the CPU image', { skip }, async () => {
  const sessions = ModelSessions.standalone('cuda-first');
  const cudaFirst = SdPipeline.load(fixture('sd15-tiny'), { providers: ['cuda', 'cpu'], sessions });
  const cpu = SdPipeline.load(fixture('sd15-tiny'), { providers: ['cpu'] });
  const [a, b] = [await cudaFirst.generate(RUN), await cpu.generate(RUN)];
  // Where CUDA runs (a GPU machine) the fused graphs are used and the images agree to fp32 rounding.
  const err = relL2(a.images, b.images);
  assert.ok(a.provider === 'cuda' ? err < 1e-4 : err === 0, `${a.provider}: rel-L2 ${err}`);
  // Here: the UNet and the VAE decoder each tried fused (refused everywhere), then plain; the text encoder once.
  if (a.provider === 'cpu') assert.equal(sessions.cache.stats.created, 5);
  await cudaFirst.release();
  await cpu.release();
});
