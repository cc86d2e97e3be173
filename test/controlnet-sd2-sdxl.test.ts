// SD 2.x (single file, v-prediction) and SDXL ControlNets against diffusers: ControlNetModel.from_unet on
// each tiny UNet, run by StableDiffusionControlNetPipeline / StableDiffusionXLControlNetPipeline
// (test/fixtures/ip-adapter/make_goldens.py writes them to test/fixtures/controlnet/sd2 and sdxl).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { readImageNchw } from '../pipelines/recipes/images.ts';
import type { ControlUnit } from '../pipelines/recipes/sd/controlnet.ts';
import { SdPipeline, type SdGenerateOptions } from '../pipelines/recipes/sd/pipeline.ts';
import { fixture, relL2, skipWithoutFixtures } from './fixtures.ts';
import { GOLDEN_RUN, ipGoldens } from './ip-adapter-helpers.ts';
import { LORA_FIXTURES, sharedTokenizerModelsDir } from './lora-helpers.ts';
import { CONTROLNET_FIXTURES, maxPngDiff } from './mini-sd.ts';

const families = [
  { id: 'sd2', label: 'Stable Diffusion 2.x', load: () => SdPipeline.load(join(LORA_FIXTURES, 'sd2-tiny-v.safetensors'), { modelsDir: sharedTokenizerModelsDir() }), cfg: 7.5 },
  { id: 'sdxl', label: 'Stable Diffusion XL', load: () => SdPipeline.load(fixture('sdxl-tiny')), cfg: 5 },
];

for (const f of families) {
  test(`${f.label} ControlNet (from its UNet) matches diffusers: weight 0.8 and guess mode`, { skip: skipWithoutFixtures }, async (t) => {
    const dir = join(CONTROLNET_FIXTURES, f.id);
    const pipe = f.load();
    const net = pipe.controlNet(join(dir, 'controlnet'), f.id);
    const image = await readImageNchw(join(dir, 'control-edges.png'), 64, 64);
    const run: SdGenerateOptions = { ...GOLDEN_RUN, sampler: 'euler', cfg: f.cfg };
    const unit = (o: Partial<ControlUnit>): ControlUnit => ({ net, image, weight: 1, start: 0, end: 1, guessMode: false, ...o });
    const g = ipGoldens();
    for (const [name, controlNets] of [['plain', []], ['cn_w08', [unit({ weight: 0.8 })]], ['cn_guess', [unit({ guessMode: true })]]] as const) {
      await t.test(name, async (st) => {
        const r = await pipe.generate({ ...run, controlNets });
        const e = relL2(r.latentsPerStep.at(-1)!, g.readFloat32(`${f.id}_${name}_final_latents`));
        assert.ok(e < 1e-3, `${name} final latents: rel-L2 ${e}`);
        const png = await maxPngDiff(r.images, join(dir, `${f.id}_${name}.png`));
        assert.ok(png <= 1, `${name}: PNG differs by ${png}/255`);
        st.diagnostic(`final latents rel-L2 ${e.toExponential(2)}, PNG max ${png}/255`);
      });
    }
    await pipe.release();
  });
}
