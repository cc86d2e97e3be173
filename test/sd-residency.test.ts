// Which sessions an SD pipeline keeps for a whole image: every model while the plan says they fit (as diffusers
// keeps them on the GPU), the text encoders released after encoding when it does not — with the same image.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, skipWithoutFixtures } from './fixtures.ts';
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
