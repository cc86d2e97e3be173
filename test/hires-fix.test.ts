// The hires fix on the tiny SD fixture: SCALE× the base size, A1111's fields in the PNG, and an
// exact re-run from the image's own studio chunk; the latent upscaler against torch's formulas.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { GenerateRequestSchema, type GenerateRequest } from '../pipelines/jobs/api.ts';
import { encodePng, metadataChunks, readImageMetadata, requestFromStudioMetadata } from '../pipelines/metadata/index.ts';
import { upscaleLatents } from '../pipelines/recipes/hires/latent-upscale.ts';
import { runGenerate } from '../pipelines/recipes/generate.ts';
import { parseGenerateArgs } from '../app/cli/generate-args.ts';
import { fixture, skipWithoutFixtures } from './fixtures.ts';

async function drawAndRecord(request: GenerateRequest) {
  const result = await runGenerate(request);
  const image = result.images[0];
  const png = await encodePng(image, metadataChunks({
    request: { ...request, ...result.settings },
    image: { batchIndex: 0, seed: image.seed, width: image.width, height: image.height },
    model: { name: result.model.name },
    ep: result.ep,
    studioVersion: 'test',
  }));
  return { result, image, png };
}

for (const upscaler of ['latent', 'lanczos'] as const) {
  test(`hires fix (${upscaler}) draws SCALE× the size and re-runs identically from its own metadata`, { skip: skipWithoutFixtures }, async () => {
    const request = GenerateRequestSchema.parse({
      model: fixture('sd15-tiny'), prompt: 'a red apple', steps: 3, sampler: 'euler', seed: 11, width: 64, height: 64,
      hiresFix: { scale: 2, denoise: 0.5, upscaler, steps: 2 },
    });
    const first = await drawAndRecord(request);
    assert.deepEqual([first.image.width, first.image.height], [128, 128]);
    assert.deepEqual(first.result.notes ?? [], []);

    const meta = readImageMetadata(first.png);
    const label = upscaler === 'latent' ? 'Latent' : 'Lanczos';
    const params = meta.a1111?.params ?? {};
    assert.deepEqual(
      [params['Size'], params['Denoising strength'], params['Hires upscale'], params['Hires steps'], params['Hires upscaler']],
      ['64x64', '0.5', '2', '2', label],
    );
    const again = requestFromStudioMetadata(meta.studio!);
    assert.deepEqual([again.width, again.height, again.hiresFix], [64, 64, request.hiresFix]);
    const rerun = await runGenerate(again);
    assert.deepEqual(rerun.images[0].pixels, first.image.pixels);
  });
}

test('--hires-fix SCALE[:DENOISE[:UPSCALER]] and --hires-steps on the command line', async () => {
  const parsed = await parseGenerateArgs(['--prompt', 'x', '--hires-fix', '1.5:0.4:latent-bicubic', '--hires-steps', '12']);
  assert.ok(!parsed.help && parsed.request.hiresFix);
  assert.deepEqual(parsed.request.hiresFix, { scale: 1.5, denoise: 0.4, upscaler: 'latent-bicubic', steps: 12 });
  const short = await parseGenerateArgs(['--prompt', 'x', '--hires-fix', '2']);
  assert.ok(!short.help);
  assert.deepEqual(short.request.hiresFix, { scale: 2, denoise: 0.7, upscaler: 'latent' });
  await assert.rejects(parseGenerateArgs(['--prompt', 'x', '--hires-fix', '2:0.5:esrgan']), /--hires-fix: must be one of: latent latent-nearest latent-bicubic lanczos/);
  await assert.rejects(parseGenerateArgs(['--prompt', 'x', '--hires-steps', '5']), /--hires-steps needs --hires-fix/);
});

test("--from an A1111 PNG restores its hires fix; an upscaler the studio lacks becomes latent, said so", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hires-from-'));
  try {
    const png = async (upscaler: string) => {
      const path = join(dir, `${upscaler.replace(/\W+/g, '-')}.png`);
      const text = `a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 64x64, Denoising strength: 0.55, Hires upscale: 2, Hires steps: 4, Hires upscaler: ${upscaler}`;
      writeFileSync(path, await encodePng({ width: 128, height: 128, pixels: new Uint8Array(128 * 128 * 3) }, [['parameters', text]]));
      return parseGenerateArgs(['--from', path, '--models-dir', dir]);
    };
    const bicubic = await png('Latent (bicubic)');
    assert.ok(!bicubic.help);
    assert.deepEqual([bicubic.request.width, bicubic.request.hiresFix], [64, { scale: 2, denoise: 0.55, upscaler: 'latent-bicubic', steps: 4 }]);
    assert.equal(bicubic.notes, undefined);
    const esrgan = await png('R-ESRGAN 4x+');
    assert.ok(!esrgan.help);
    assert.equal(esrgan.request.hiresFix?.upscaler, 'latent');
    assert.match((esrgan.notes ?? []).join('\n'), /hires upscaler "R-ESRGAN 4x\+" has no equivalent here; latent is used/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a size far above the model\'s native one gets a warning that suggests the hires fix', { skip: skipWithoutFixtures }, async () => {
  // sd15-tiny's family draws at 512 natively; 808 is over 1.5× that. One step at latent 101×101 on the tiny model.
  const r = await runGenerate(GenerateRequestSchema.parse({ model: fixture('sd15-tiny'), prompt: 'x', steps: 1, sampler: 'euler', seed: 1, width: 808, height: 64 }));
  assert.match((r.notes ?? []).join('\n'), /808×64 is far above this model's native 512×512: .*--hires-fix 1\.58/);
});

test('latent upscaling follows torch.nn.functional.interpolate (align_corners=False)', () => {
  const x = Float32Array.from([0, 1, 2, 3]); // one 1×4 row
  const row = (mode: 'nearest' | 'bilinear' | 'bicubic') => Array.from(upscaleLatents(x, 1, 1, 4, 1, 8, mode), (v) => Math.round(v * 1e4) / 1e4);
  // torch.nn.functional.interpolate(torch.arange(4.).view(1,1,1,4), size=(1,8), mode=…); bicubic by hand
  // from torch's upsample_bicubic2d (A = -0.75, edge taps clamped): the first is -0.10546875.
  assert.deepEqual(row('nearest'), [0, 0, 1, 1, 2, 2, 3, 3]);
  assert.deepEqual(row('bilinear'), [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3]);
  assert.deepEqual(row('bicubic'), [-0.1055, 0.1914, 0.668, 1.2969, 1.7031, 2.332, 2.8086, 3.1055]);
});

test('families without the hires fix refuse it by name', async () => {
  // The embedded emoji model (the default) draws at one size.
  const r = GenerateRequestSchema.parse({ prompt: 'x', hiresFix: { scale: 2 } });
  await assert.rejects(runGenerate(r), /^BadRequestError: the hires fix \(--hires-fix\) does not apply to /);
});
