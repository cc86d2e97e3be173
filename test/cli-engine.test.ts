// The real CLI process on a real checkpoint: the written PNG against diffusers' golden image.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { fixture, skipWithoutFixtures } from './fixtures.ts';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { readImageMetadata } from '../pipelines/metadata/index.ts';
import { readFileSync } from 'node:fs';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');

test('studio generate on sd15-tiny writes the golden DDIM image within 1/255', { skip: skipWithoutFixtures }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'studio-cli-sd-'));
  try {
    const out = join(dir, 'apple.png');
    const { stdout } = await run(process.execPath, [
      '--import', 'tsx', join(ROOT, 'app/cli/main.ts'), 'generate',
      '--model', fixture('sd15-tiny'), '--prompt', 'a red apple on a wooden table', '--negative', 'blurry, watermark',
      '--steps', '5', '--cfg', '7.5', '--sampler', 'ddim', '--seed', '0', '--width', '128', '--height', '128',
      '--out', out, '--json',
    ], { cwd: ROOT });
    const report = JSON.parse(stdout);
    assert.deepEqual(report.files, [out]);
    assert.equal(report.ep, 'cpu');
    const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.width, 128);
    assert.equal(info.channels, 3);
    // The golden image holds channel-first data (see test/sd-pipeline.test.ts).
    const golden = SafetensorsFile.open(fixture('sd15-tiny-golden.safetensors')).readFloat32('txt2img_ddim_image');
    const plane = 128 * 128;
    let sum = 0;
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) sum += Math.abs(data[p * 3 + c] / 255 - golden[c * plane + p]);
    const mad = sum / (plane * 3);
    assert.ok(mad < 1 / 255, `mean absolute difference ${mad * 255}/255`);
    const meta = readImageMetadata(readFileSync(out), out);
    assert.match(JSON.stringify(meta), /a red apple on a wooden table/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('studio generate without --model draws with the embedded model; unknown words, A1111 negatives and SD settings run with notes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'studio-cli-default-'));
  try {
    const out = join(dir, 'cat.png');
    const cli = (args: string[]) => run(process.execPath, ['--import', 'tsx', join(ROOT, 'app/cli/main.ts'), 'generate', ...args], { cwd: ROOT });
    const { stdout } = await cli(['--prompt', 'a smiling cat face', '--seed', '3', '--out', out, '--json']);
    assert.deepEqual(JSON.parse(stdout).files, [out]);
    const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [64, 64]);
    let min = 255;
    let max = 0;
    for (const v of data) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    assert.ok(max - min > 100, `the image has contrast (${min}…${max}), not a flat colour`);
    const text = JSON.stringify(readImageMetadata(readFileSync(out), out));
    assert.match(text, /"Steps":"8"/);
    assert.match(text, /"studioSampler":"flow_euler"/);
    assert.match(text, /emoji-lit/);

    // Once exit 2; now the studio says what it does instead (the UI's own example negative included).
    const odd = join(dir, 'odd.png');
    const { stderr } = await cli(['--prompt', 'zxqv blorptastic', '--negative', 'blurry, [lowres]', '--sampler', 'dpmpp_2m_karras', '--width', '512', '--height', '512', '--steps', '2', '--out', odd]);
    assert.match(stderr, /note: prompt "zxqv blorptastic": emoji-lit knows none of its words \("zxqv", "blorptastic"\); it draws the nearest emoji it knows instead: "[a-z ]+"/);
    assert.match(stderr, /note: negative prompt "blurry, \[lowres\]": emoji-lit knows none of its words \("blurry", "lowres"\), so it is left out/);
    assert.match(stderr, /note: sampler dpmpp_2m_karras is for Stable Diffusion models/);
    assert.match(stderr, /note: size 512×512: emoji-lit draws 64×64 or 128×128; drawing 128×128/);
    const drawn = await sharp(odd).metadata();
    assert.deepEqual([drawn.width, drawn.height], [128, 128]);
    // A prompt beyond the studio's 20,000 characters is the one refusal, and it says what to do.
    await assert.rejects(cli(['--prompt', Array(5000).fill('puppy').join(' '), '--out', join(dir, 'x.png')]), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 2);
      assert.match(e.stderr, /prompt.*is longer than 20000 characters; shorten it/);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
