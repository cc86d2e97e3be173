// Inpainting on the tiny Stable Diffusion fixtures: the input survives outside the blurred mask to
// the last bit, the kept latents are the init image's, and bad masks get clear messages.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { BadRequestError, GenerateRequestSchema, type GenerateRequestInput } from '../pipelines/jobs/api.ts';
import { encodePng, metadataChunks, readImageMetadata, requestFromStudioMetadata } from '../pipelines/metadata/index.ts';
import { runGenerate } from '../pipelines/recipes/generate.ts';
import { readImageNchw } from '../pipelines/recipes/images.ts';
import { latentMask, readMask } from '../pipelines/recipes/inpaint/mask.ts';
import * as masked from '../pipelines/recipes/inpaint/masked-area.ts';
import { SdPipeline } from '../pipelines/recipes/sd/pipeline.ts';
import { fixture, skipWithoutFixtures } from './fixtures.ts';

const SIZE = 64;
const BOX = { left: 16, top: 24, size: 24 };
const dir = mkdtempSync(join(tmpdir(), 'inpaint-'));

/** A noisy input image, so a copied pixel cannot match by accident. */
async function writeInit(): Promise<{ path: string; pixels: Uint8Array }> {
  const pixels = new Uint8Array(SIZE * SIZE * 3);
  let s = 12345;
  for (let i = 0; i < pixels.length; i++) pixels[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
  const path = join(dir, 'init.png');
  await sharp(pixels, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toFile(path);
  return { path, pixels };
}

/** Black with a white square (the area to repaint), at `side` pixels. */
async function writeMask(name: string, side = SIZE, box: typeof BOX | null = BOX): Promise<string> {
  const grey = new Uint8Array(side * side);
  const k = side / SIZE;
  if (box) for (let y = box.top * k; y < (box.top + box.size) * k; y++) for (let x = box.left * k; x < (box.left + box.size) * k; x++) grey[y * side + x] = 255;
  const path = join(dir, name);
  await sharp(grey, { raw: { width: side, height: side, channels: 1 } }).png().toFile(path);
  return path;
}

/** Chebyshev distance of a pixel from the white square. */
const distance = (x: number, y: number) =>
  Math.max(BOX.left - x, x - (BOX.left + BOX.size - 1), BOX.top - y, y - (BOX.top + BOX.size - 1), 0);

function request(model: string, extra: Partial<GenerateRequestInput>) {
  return GenerateRequestSchema.parse({ model, prompt: 'a red apple', steps: 4, sampler: 'euler', seed: 7, width: SIZE, height: SIZE, ...extra });
}

for (const model of ['sd15-tiny', 'sdxl-tiny']) {
  test(`${model}: inpainting keeps every pixel outside the blurred mask and repaints inside`, { skip: skipWithoutFixtures }, async () => {
    const init = await writeInit();
    const mask = await writeMask('mask.png');
    const blur = 2;
    const result = await runGenerate(request(fixture(model), { initImage: init.path, mask, maskBlur: blur, strength: 1 }));
    const out = result.images[0].pixels;
    const blend = (await readMask(mask, SIZE, SIZE, blur)).blend;
    let kept = 0;
    let changedInside = 0;
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const p = y * SIZE + x;
        const same = [0, 1, 2].every((c) => out[p * 3 + c] === init.pixels[p * 3 + c]);
        if (blend[p] === 0) {
          assert.ok(same, `pixel (${x}, ${y}) lies outside the blurred mask but changed`);
          kept++;
        }
        if (distance(x, y) === 0 && !same) changedInside++;
      }
    }
    // The blur reaches only a few pixels past the square; everything farther is kept.
    const far = Array.from({ length: SIZE * SIZE }, (_, p) => p).filter((p) => distance(p % SIZE, Math.floor(p / SIZE)) > 3 * blur);
    assert.ok(far.every((p) => blend[p] === 0), 'the blurred mask reaches farther than 3 × its blur');
    assert.ok(kept >= far.length);
    assert.ok(changedInside > BOX.size * BOX.size * 0.9, `only ${changedInside} pixels inside the mask were repainted`);
    assert.deepEqual(result.notes ?? [], []);
  });
}

test('sd15-tiny: after the last step the kept latents are the init image\'s, whatever the prompt', { skip: skipWithoutFixtures }, async () => {
  const init = await writeInit();
  const mask = await readMask(await writeMask('mask-latent.png'), SIZE, SIZE, 0);
  const inpaintMask = latentMask(mask, 8);
  const pipeline = SdPipeline.load(fixture('sd15-tiny'));
  try {
    const initImage = await readImageNchw(init.path, SIZE, SIZE);
    const draw = (prompt: string) => pipeline.generate({ prompt, steps: 3, cfg: 7.5, sampler: 'dpmpp_2m_karras', seed: 3, width: SIZE, height: SIZE, initImage, strength: 0.75, inpaintMask });
    const [a, b] = [await draw('a red apple'), await draw('a blue car at night')];
    const [la, lb] = [a.latentsPerStep.at(-1)!, b.latentsPerStep.at(-1)!];
    const plane = inpaintMask.length;
    let differsInside = false;
    for (let i = 0; i < la.length; i++) {
      if (inpaintMask[i % plane] === 0) assert.equal(la[i], lb[i], `kept latent ${i} differs between prompts`);
      else if (la[i] !== lb[i]) differsInside = true;
    }
    assert.ok(differsInside, 'the prompt changed nothing inside the mask');
  } finally {
    await pipeline.release();
  }
});

test('a mask of another size is stretched to the image, with a notice', { skip: skipWithoutFixtures }, async () => {
  const init = await writeInit();
  const mask = await writeMask('mask-small.png', 32);
  const result = await runGenerate(request(fixture('sd15-tiny'), { initImage: init.path, mask, steps: 2 }));
  assert.match((result.notes ?? []).join('\n'), /mask is 32×32 and the image 64×64: the mask was stretched to fit/);
});

test('an all-black mask is refused: nothing to repaint', { skip: skipWithoutFixtures }, async () => {
  const init = await writeInit();
  const mask = await writeMask('mask-black.png', SIZE, null);
  await assert.rejects(runGenerate(request(fixture('sd15-tiny'), { initImage: init.path, mask, steps: 2 })), (e: Error) => e instanceof BadRequestError && /all black: nothing to repaint/.test(e.message));
});

test('a mask needs an init image, a mask blur needs a mask', () => {
  const parse = (extra: Partial<GenerateRequestInput>) => GenerateRequestSchema.safeParse({ prompt: 'x', ...extra });
  const noInit = parse({ mask: 'm.png' });
  assert.ok(!noInit.success && /give the image to inpaint as the init image/.test(noInit.error.issues[0].message));
  const noMask = parse({ initImage: 'i.png', maskBlur: 4 });
  assert.ok(!noMask.success && /only applies to inpainting: give a mask/.test(noMask.error.issues[0].message));
  const ok = parse({ initImage: 'i.png', mask: 'm.png' });
  assert.ok(ok.success && ok.data.maskBlur === 4 && ok.data.strength === 0.8);
});

test('families without inpainting refuse a mask by name', () => {
  // Checked before any file is read: the embedded emoji model draws no init image.
  const r = GenerateRequestSchema.parse({ prompt: 'x', initImage: 'i.png', mask: 'm.png' });
  return assert.rejects(runGenerate(r), (e: Error) => e instanceof BadRequestError && /^inpainting \(--mask\) does not apply to /.test(e.message));
});

test('sd15-tiny: outpainting extends the canvas and keeps the image inside it', { skip: skipWithoutFixtures }, async () => {
  const init = await writeInit();
  const pads = { left: 16, right: 0, top: 8, bottom: 0 };
  const blur = 2;
  const result = await runGenerate(request(fixture('sd15-tiny'), { initImage: init.path, outpaint: pads, maskBlur: blur, strength: 1 }));
  const { width, height, pixels } = result.images[0];
  assert.deepEqual([width, height], [SIZE + 16, SIZE + 8]);
  let newDiffers = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [ix, iy] = [x - pads.left, y - pads.top];
      const inside = ix >= 0 && iy >= 0 && ix < SIZE && iy < SIZE;
      const same = (p: number) => [0, 1, 2].every((c) => pixels[(y * width + x) * 3 + c] === init.pixels[p * 3 + c]);
      // Past the blur's reach from the new border, every pixel is the input's.
      if (inside && ix > 3 * blur && iy > 3 * blur) assert.ok(same(iy * SIZE + ix), `pixel (${x}, ${y}) of the original image changed`);
      // The border started as copies of the edge pixels and was redrawn.
      if (!inside && !same(Math.max(0, iy) * SIZE + Math.max(0, ix))) newDiffers++;
    }
  }
  assert.ok(newDiffers > (width * height - SIZE * SIZE) * 0.9, `only ${newDiffers} border pixels were generated`);

  // The studio chunk records the inner size, so the image re-runs from its own metadata.
  const r = GenerateRequestSchema.parse({ ...result.settings, model: fixture('sd15-tiny'), prompt: 'a red apple', seed: 7, initImage: init.path, outpaint: pads, maskBlur: blur, strength: 1 });
  const image = result.images[0];
  const png = await encodePng(image, metadataChunks({ request: r, image: { batchIndex: 0, seed: 7, width, height }, model: { name: 'sd15-tiny' }, ep: 'cpu', studioVersion: 'test' }));
  const again = requestFromStudioMetadata(readImageMetadata(png).studio!);
  assert.deepEqual([again.width, again.height], [SIZE, SIZE]);
  assert.deepEqual((await runGenerate(again)).images[0].pixels, pixels);
});

test('--outpaint and --mask on the command line', async () => {
  const init = await writeInit();
  const { parseGenerateArgs } = await import('../app/cli/generate-args.ts');
  const parsed = await parseGenerateArgs(['--prompt', 'x', '--init-image', init.path, '--outpaint', '0,0,128,0']);
  assert.ok(!parsed.help);
  assert.deepEqual([parsed.request.outpaint, parsed.request.maskBlur], [{ left: 0, right: 0, top: 128, bottom: 0 }, 4]);
  await assert.rejects(parseGenerateArgs(['--prompt', 'x', '--init-image', init.path, '--outpaint', '0,0,12,0']), /--outpaint: must be a multiple of 8/);
  await assert.rejects(parseGenerateArgs(['--prompt', 'x', '--init-image', init.path, '--outpaint', '0,0,0,0']), /--outpaint: adds no canvas/);
  await assert.rejects(parseGenerateArgs(['--prompt', 'x', '--outpaint', '8,8']), /--outpaint: expected LEFT,RIGHT,TOP,BOTTOM/);
  await assert.rejects(parseGenerateArgs(['--prompt', 'x', '--init-image', init.path, '--mask', join(dir, 'nope.png')]), /--mask: no file or folder/);
});

test('sd15-tiny: inpainting only the masked area keeps every pixel outside the blurred mask', { skip: skipWithoutFixtures }, async () => {
  const init = await writeInit();
  const mask = await writeMask('mask-area.png');
  const result = await runGenerate(request(fixture('sd15-tiny'), { initImage: init.path, mask, maskBlur: 1, strength: 1, inpaintArea: 'masked', padding: 4 }));
  const out = result.images[0].pixels;
  const blend = (await readMask(mask, SIZE, SIZE, 1)).blend;
  let changedInside = 0;
  for (let p = 0; p < SIZE * SIZE; p++) {
    const same = [0, 1, 2].every((c) => out[p * 3 + c] === init.pixels[p * 3 + c]);
    if (blend[p] === 0) assert.ok(same, `pixel ${p} lies outside the blurred mask but changed`);
    if (distance(p % SIZE, Math.floor(p / SIZE)) === 0 && !same) changedInside++;
  }
  assert.ok(changedInside > BOX.size * BOX.size * 0.9, `only ${changedInside} pixels inside the mask were repainted`);
});

test('the masked area: the mask\'s box plus padding, widened to the image\'s aspect ratio and kept inside it', () => {
  const { maskedRegion } = masked;
  const blend = new Float32Array(100 * 50);
  for (let y = 10; y < 20; y++) for (let x = 40; x < 44; x++) blend[y * 100 + x] = 1;
  // Box 40..44 × 10..20 grown by 5 → 35..49 × 5..25 (14×20); 2:1 → 40 wide, centred on x = 42.
  assert.deepEqual(maskedRegion({ width: 100, height: 50, blend }, 5), { left: 22, top: 5, width: 40, height: 20 });
  // Near the edge it stays inside the image.
  const edge = new Float32Array(100 * 50);
  edge[0] = 1;
  assert.deepEqual(maskedRegion({ width: 100, height: 50, blend: edge }, 3), { left: 0, top: 0, width: 8, height: 4 });
});
