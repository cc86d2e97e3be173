// IP-Adapter through the generate job (as the CLI, server and batch run it): the command line, PNG parity
// with diffusers' golden, the ControlNet extension's unit in the A1111 metadata, the server's path
// confinement, and refusals that say what to do.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { UsageError } from '../app/cli/exit-codes.ts';
import { parseGenerateArgs } from '../app/cli/generate-args.ts';
import { PathPolicy } from '../app/server/confine.ts';
import { BadRequestError, GenerateRequestSchema, parseJob, type GenerateRequestInput } from '../pipelines/jobs/api.ts';
import { run } from '../pipelines/jobs/run.ts';
import { a1111Parameters } from '../pipelines/metadata/generation-metadata.ts';
import { runGenerate } from '../pipelines/recipes/generate.ts';
import { fixture, skipWithoutFixtures } from './fixtures.ts';
import { GOLDEN_RUN, IP_FIXTURES } from './ip-adapter-helpers.ts';

const ADAPTER = join(IP_FIXTURES, 'ip-adapter_sd15.safetensors');
const ENCODER = join(IP_FIXTURES, 'image-encoder');
const IMAGE = join(IP_FIXTURES, 'ip-image.png');

const request = (model: string, ipAdapter: GenerateRequestInput['ipAdapter']) => GenerateRequestSchema.parse({
  model, prompt: GOLDEN_RUN.prompt, negative: GOLDEN_RUN.negative, steps: 5, cfg: 7.5, sampler: 'ddim', seed: 0, width: 64, height: 64, ipAdapter,
});

test('--ip-adapter FILE[:SCALE] --ip-image IMG [--image-encoder DIR]', async () => {
  const args = await parseGenerateArgs(['--prompt', 'x', '--ip-adapter', `${ADAPTER}:0.6`, '--ip-image', IMAGE, '--image-encoder', ENCODER]);
  assert.ok(!args.help);
  assert.deepEqual(args.request.ipAdapter, { model: ADAPTER, image: IMAGE, imageEncoder: ENCODER, scale: 0.6 });
  const plain = await parseGenerateArgs(['--prompt', 'x', '--ip-adapter', ADAPTER, '--ip-image', IMAGE]);
  assert.deepEqual(!plain.help && plain.request.ipAdapter, { model: ADAPTER, image: IMAGE, imageEncoder: undefined, scale: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'ip-args-'));
  const bad: Array<[string[], RegExp]> = [
    [['--prompt', 'x', '--ip-adapter', ADAPTER], /--ip-adapter needs --ip-image IMG \(the image prompt\) too/],
    [['--prompt', 'x', '--ip-image', IMAGE], /--ip-image needs --ip-adapter FILE too/],
    [['--prompt', 'x', '--ip-adapter', `${ADAPTER}:strong`, '--ip-image', IMAGE], /--ip-adapter .*:strong: the scale after ":" is not a number; write FILE\[:SCALE\]/],
    [['--prompt', 'x', '--ip-adapter', `${ADAPTER}:3`, '--ip-image', IMAGE], /--ip-adapter: must be from 0 to 2/],
    [['--prompt', 'x', '--ip-adapter', join(dir, 'missing.safetensors'), '--ip-image', IMAGE], /--ip-adapter: no file at/],
    [['--prompt', 'x', '--ip-adapter', ADAPTER, '--ip-image', join(dir, 'missing.png')], /--ip-image: no file or folder at/],
  ];
  for (const [argv, message] of bad) await assert.rejects(parseGenerateArgs(argv), (e: Error) => e instanceof UsageError && message.test(e.message), argv.join(' '));
});

test('an IP-Adapter job draws diffusers\' image and records the adapter as a ControlNet-extension unit', { skip: skipWithoutFixtures }, async () => {
  const r = request(fixture('sd15-tiny'), { model: ADAPTER, image: IMAGE, imageEncoder: ENCODER, scale: 0.6 });
  const result = await runGenerate(r);
  const { data } = await sharp(join(IP_FIXTURES, 'sd15_ip.png')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const diff = Math.max(...data.map((v, i) => Math.abs(v - result.images[0].pixels[i])));
  assert.ok(diff <= 1, `PNG differs by ${diff}/255`);
  const params = a1111Parameters({ request: r, image: { batchIndex: 0, seed: 0, width: 64, height: 64 }, model: { name: 'sd15-tiny' }, ep: 'cpu', studioVersion: 'test' });
  assert.match(params, /ControlNet 0: "Module: ip-adapter_clip_sd15, Model: ip-adapter_sd15, Weight: 0\.6, Resize Mode: Crop and Resize, Guidance Start: 0, Guidance End: 1, Control Mode: Balanced"/);
});

test('refusals: another family\'s adapter names both, a missing encoder names what to add, a model without IP-Adapter says so', { skip: skipWithoutFixtures }, async () => {
  const sdxl = request(fixture('sdxl-tiny'), { model: ADAPTER, image: IMAGE, imageEncoder: ENCODER });
  await assert.rejects(runGenerate(sdxl), (e: Error) => e instanceof BadRequestError && /--ip-adapter .*ip-adapter_sd15\.safetensors: this IP-Adapter is for a UNet with 32-wide text, but the model sdxl-tiny is Stable Diffusion XL/.test(e.message));
  const noEncoder = request(fixture('sd15-tiny'), { model: join(IP_FIXTURES, 'ip-adapter_sdxl.safetensors'), image: IMAGE });
  await assert.rejects(runGenerate({ ...noEncoder, model: fixture('sdxl-tiny') }), (e: Error) => e instanceof BadRequestError && /add --image-encoder DIR/.test(e.message));
  const emoji = GenerateRequestSchema.parse({ model: 'emoji-dit', prompt: 'x', steps: 1, ipAdapter: { model: ADAPTER, image: IMAGE } });
  await assert.rejects(runGenerate(emoji), /IP-Adapter \(--ip-adapter\)/);
});

test('the server confines the adapter and encoder to the models folder and the image to the outputs folder', () => {
  const policy = new PathPolicy('/srv/models', '/srv/outputs');
  const r = GenerateRequestSchema.parse({ prompt: 'x', ipAdapter: { model: 'ip/ip-adapter_sd15.safetensors', imageEncoder: 'ip/image_encoder', image: 'a.png', scale: 0.5 } });
  assert.deepEqual(policy.request(r).ipAdapter, { model: '/srv/models/ip/ip-adapter_sd15.safetensors', imageEncoder: '/srv/models/ip/image_encoder', image: '/srv/outputs/a.png', scale: 0.5 });
  for (const ipAdapter of [{ model: '/etc/passwd', image: 'a.png' }, { model: 'a.safetensors', image: '../secret.png' }, { model: 'a.safetensors', image: 'a.png', imageEncoder: '../../enc' }]) {
    assert.throws(() => policy.request(GenerateRequestSchema.parse({ prompt: 'x', ipAdapter })), /must name something inside the studio's folders/);
  }
});

test('the model library lists IP-Adapters (A1111 keeps them with the ControlNets) and CLIP image encoders (ComfyUI\'s clip_vision)', async () => {
  const root = mkdtempSync(join(tmpdir(), 'ip-library-'));
  const place = (from: string, to: string) => { mkdirSync(join(root, to, '..'), { recursive: true }); copyFileSync(from, join(root, to)); };
  place(join(IP_FIXTURES, 'ip-adapter_sd15.bin'), 'models/ControlNet/ip-adapter_sd15.bin');
  place(ADAPTER, 'models/ipadapter/ip-adapter_sd15.safetensors');
  place(join(ENCODER, 'model.safetensors'), 'models/clip_vision/clip-vit-tiny.safetensors');
  const library = (await run(parseJob({ kind: 'models.scan', dir: root, library: true }))).library!;
  assert.deepEqual(library.entries.map((e) => [e.relativePath, e.kind, e.problem]), [
    ['models/ControlNet/ip-adapter_sd15.bin', 'ip-adapter', undefined],
    ['models/ipadapter/ip-adapter_sd15.safetensors', 'ip-adapter', undefined],
    ['models/clip_vision/clip-vit-tiny.safetensors', 'image-encoder', undefined],
  ]);
});
