// Inpainting UNets (9 input channels) and masked latent blending (4 channels) against diffusers'
// StableDiffusionInpaintPipeline on the tiny sd15-mini models (test/fixtures/inpaint9, made by
// test/fixtures/controlnet/make-goldens.py): final latents and PNGs.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { readImageNchw } from '../pipelines/recipes/images.ts';
import { binaryMask, latentMask, readMask } from '../pipelines/recipes/inpaint/mask.ts';
import { SdPipeline } from '../pipelines/recipes/sd/pipeline.ts';
import { relL2, skipWithoutFixtures } from './fixtures.ts';
import { goldens, INPAINT9_FIXTURES, maxPngDiff, miniPipelineDir, MINI_RUN } from './mini-sd.ts';

const skip = skipWithoutFixtures;

async function inpaintOptions(strength: number) {
  const mask = await readMask(join(INPAINT9_FIXTURES, 'mask.png'), 128, 128, 0);
  return {
    ...MINI_RUN,
    initImage: await readImageNchw(join(INPAINT9_FIXTURES, 'init.png'), 128, 128),
    inpaintMask: latentMask(mask, 8),
    inpaintPixelMask: binaryMask(mask),
    strength,
  };
}

for (const [kind, unet] of [['inpaint9', join(INPAINT9_FIXTURES, 'unet')], ['inpaint4', undefined]] as const) {
  test(`${kind === 'inpaint9' ? '9-channel inpainting UNet' : 'masked latent blending (4-channel UNet)'} matches diffusers at strength 1 and 0.75`, { skip }, async (t) => {
    const pipe = SdPipeline.load(miniPipelineDir(unet));
    assert.equal(pipe.inpaintingUNet, kind === 'inpaint9');
    const g = goldens();
    for (const strength of [1, 0.75]) {
      await t.test(`strength ${strength}`, async () => {
        const name = `${kind}_s${strength * 100}`;
        const r = await pipe.generate(await inpaintOptions(strength));
        const e = relL2(r.latentsPerStep.at(-1)!, g.readFloat32(`${name}_final_latents`));
        assert.ok(e < 1e-3, `${name} final latents: rel-L2 ${e}`);
        const step0 = relL2(r.latentsPerStep[0], g.readFloat32(`${name}_latents_step0`));
        assert.ok(step0 < 1e-3, `${name} step 0: rel-L2 ${step0}`);
        const png = await maxPngDiff(r.images, join(INPAINT9_FIXTURES, `${name}.png`));
        assert.ok(png <= 1, `${name}: PNG differs by ${png}/255`);
      });
    }
    await pipe.release();
  });
}
