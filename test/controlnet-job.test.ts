// ControlNet and inpainting UNets through the generate job (as the CLI, server and batch run them): the
// command line, PNG parity with diffusers' goldens, A1111's `ControlNet N` metadata, notices and refusals.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { UsageError } from '../app/cli/exit-codes.ts';
import { parseGenerateArgs } from '../app/cli/generate-args.ts';
import { BadRequestError, GenerateRequestSchema, parseJob, type GenerateRequestInput } from '../pipelines/jobs/api.ts';
import { run } from '../pipelines/jobs/run.ts';
import { storeUploadedImage } from '../app/server/uploaded-image.ts';
import { a1111Parameters } from '../pipelines/metadata/generation-metadata.ts';
import { runGenerate } from '../pipelines/recipes/generate.ts';
import { fixture, skipWithoutFixtures } from './fixtures.ts';
import { CONTROLNET_FIXTURES, INPAINT9_FIXTURES, MINI_RUN, miniPipelineDir } from './mini-sd.ts';

const skip = skipWithoutFixtures;
const CN = join(CONTROLNET_FIXTURES, 'controlnet-mini');
const EDGES = join(CONTROLNET_FIXTURES, 'control-edges.png');
const TRIANGLE = join(CONTROLNET_FIXTURES, 'control-triangle.png');
const dir = mkdtempSync(join(tmpdir(), 'controlnet-job-'));

const miniRequest = (model: string, extra: Partial<GenerateRequestInput>) => GenerateRequestSchema.parse({
  model, prompt: MINI_RUN.prompt, negative: MINI_RUN.negative, steps: 5, cfg: 7.5, sampler: 'ddim', seed: 0, width: 128, height: 128, ...extra,
});

/** Largest difference, in 1/255 steps, between 8-bit RGB pixels and a PNG, over the pixels `where` picks. */
async function maxDiff(pixels: Uint8Array, png: string, where: (p: number) => boolean = () => true): Promise<number> {
  const { data } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let worst = 0;
  for (let i = 0; i < data.length; i++) if (where(Math.floor(i / 3))) worst = Math.max(worst, Math.abs(pixels[i] - data[i]));
  return worst;
}

test('--controlnet FILE[:WEIGHT[:START:END]] --control-image IMG [--preprocess], repeatable in pairs', async () => {
  const base = ['--prompt', 'x', '--controlnet', `${CN}:0.8:0.1:0.9`, '--control-image', EDGES, '--controlnet', CN, '--control-image', TRIANGLE];
  const args = await parseGenerateArgs([...base, '--preprocess', 'canny', '--guess-mode']);
  assert.ok(!args.help);
  assert.deepEqual(args.request.controlNets, [
    { model: CN, image: EDGES, weight: 0.8, start: 0.1, end: 0.9, preprocess: 'canny', guessMode: true },
    { model: CN, image: TRIANGLE, weight: 1, start: 0, end: 1, preprocess: 'canny', guessMode: true },
  ]);
  const perPair = await parseGenerateArgs([...base, '--preprocess', 'softedge', '--preprocess', 'none']);
  assert.deepEqual(!perPair.help && perPair.request.controlNets?.map((u) => u.preprocess), ['softedge', 'none']);
  const bad: Array<[string[], RegExp]> = [
    [['--prompt', 'x', '--controlnet', CN], /1 ControlNet\(s\) but 0 --control-image\(s\)/],
    [['--prompt', 'x', '--control-image', EDGES], /--control-image needs --controlnet FILE too/],
    [['--prompt', 'x', '--controlnet', `${CN}:0.5:0.7:0.2`, '--control-image', EDGES], /--controlnet: start must be below end/],
    [['--prompt', 'x', '--controlnet', `${CN}:3`, '--control-image', EDGES], /--controlnet: must be from 0 to 2/],
    [['--prompt', 'x', '--controlnet', CN, '--control-image', EDGES, '--preprocess', 'sobel'], /--controlnet: must be one of: none canny softedge/],
    [['--prompt', 'x', '--controlnet', join(dir, 'missing.safetensors'), '--control-image', EDGES], /--controlnet: no file or folder at/],
    [['--prompt', 'x', '--controlnet', CN, '--control-image', join(dir, 'missing.png')], /--control-image: no file or folder at/],
  ];
  for (const [argv, message] of bad) await assert.rejects(parseGenerateArgs(argv), (e: Error) => e instanceof UsageError && message.test(e.message), argv.join(' '));
});

test('a ControlNet job draws diffusers\' image and records A1111\'s ControlNet fields', { skip }, async () => {
  const request = miniRequest(miniPipelineDir(), { controlNets: [{ model: CN, image: EDGES, weight: 0.8 }] });
  const result = await runGenerate(request);
  const diff = await maxDiff(result.images[0].pixels, join(CONTROLNET_FIXTURES, 'cn_w08.png'));
  assert.ok(diff <= 1, `PNG differs by ${diff}/255`);
  const params = a1111Parameters({ request, image: { batchIndex: 0, seed: 0, width: 128, height: 128 }, model: { name: 'sd15-mini' }, ep: 'cpu', studioVersion: 'test' });
  assert.match(params, /ControlNet 0: "Module: none, Model: controlnet-mini, Weight: 0\.8, Resize Mode: Just Resize, Guidance Start: 0, Guidance End: 1, Control Mode: Balanced"/);
});

test('a control image of another size is resized with a notice; another family\'s ControlNet is refused naming both', { skip }, async () => {
  const small = join(dir, 'edges-64.png');
  await sharp(EDGES).resize(64, 64).toFile(small);
  const result = await runGenerate(miniRequest(miniPipelineDir(), { steps: 1, controlNets: [{ model: CN, image: small, preprocess: 'canny' }] }));
  assert.match((result.notes ?? []).join('\n'), /the control image .*edges-64\.png is 64×64 and the image 128×128: it was resized to fit/);
  const sdxl = GenerateRequestSchema.parse({ model: fixture('sdxl-tiny'), prompt: 'x', steps: 1, width: 64, height: 64, controlNets: [{ model: CN, image: EDGES }] });
  await assert.rejects(runGenerate(sdxl), (e: Error) => e instanceof BadRequestError && /--controlnet .*controlnet-mini: this ControlNet is for a UNet with 32-wide text, but the model sdxl-tiny is Stable Diffusion XL/.test(e.message));
});

test('an inpainting checkpoint is used with --mask: diffusers\' image inside the mask, the input\'s pixels outside', { skip }, async () => {
  const init = join(INPAINT9_FIXTURES, 'init.png');
  const request = miniRequest(miniPipelineDir(join(INPAINT9_FIXTURES, 'unet')), { initImage: init, mask: join(INPAINT9_FIXTURES, 'mask.png'), maskBlur: 0, strength: 1 });
  const { pixels } = (await runGenerate(request)).images[0];
  const inside = (p: number) => p % 128 >= 40 && p % 128 < 96 && Math.floor(p / 128) >= 32 && Math.floor(p / 128) < 88;
  const diffInside = await maxDiff(pixels, join(INPAINT9_FIXTURES, 'inpaint9_s100.png'), inside);
  assert.ok(diffInside <= 1, `inside the mask the PNG differs by ${diffInside}/255`);
  assert.equal(await maxDiff(pixels, init, (p) => !inside(p)), 0, 'outside the mask the input is kept exactly');
});

test('the control.preview job shows a control image through its preprocessor; the UI\'s uploads keep only images', async () => {
  const { width, height } = await sharp(EDGES).metadata();
  const asIs = (await run(parseJob({ kind: 'control.preview', image: EDGES, preprocess: 'none' }))).image;
  assert.deepEqual([asIs.width, asIs.height], [width, height]);
  const { data } = await sharp(EDGES).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  assert.ok(asIs.pixels.every((v, i) => Math.abs(v - data[i]) <= 1), '"none" is the image as it is');
  const edges = (await run(parseJob({ kind: 'control.preview', image: EDGES, preprocess: 'canny' }))).image;
  assert.ok(edges.pixels.every((v) => v === 0 || v === 255) && edges.pixels.some((v) => v === 255), 'canny: a binary edge map');
  await assert.rejects(run(parseJob({ kind: 'control.preview', image: join(dir, 'missing.png'), preprocess: 'canny' })), /missing\.png: cannot read as an image/);

  const stored = storeUploadedImage(dir, 'edges.png', readFileSync(EDGES).toString('base64'));
  assert.match(stored, /^uploads\/image-[0-9a-f]{16}\.png$/);
  assert.deepEqual(readFileSync(join(dir, stored)), readFileSync(EDGES));
  assert.equal(storeUploadedImage(dir, 'again.png', readFileSync(EDGES).toString('base64')), stored, 'the same image is one file');
  assert.throws(() => storeUploadedImage(dir, 'notes.txt', Buffer.from('not an image').toString('base64')), /notes\.txt: not a PNG, JPEG or WebP image/);
});
