// The model library (`studio models`, the models.scan job): kinds and families from tensor names in A1111
// and ComfyUI layouts, A1111 short hashes through the path+size+mtime cache; A1111's `Lora hashes` /
// `TI hashes` written into PNGs; and `generate --from IMAGE.png` restoring an image's LoRAs and
// embeddings by hash from a library where every file has another name.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { fixture, skipWithoutFixtures } from './fixtures.ts';
import { writeSafetensors } from '../pipelines/io/safetensors.ts';
import { run } from '../pipelines/jobs/run.ts';
import { a1111ImageFiles, findImageFiles, parseJob, parseNamedHashes, GenerateRequestSchema, type LibraryEntry } from '../pipelines/jobs/api.ts';
import { runGenerate } from '../pipelines/recipes/generate.ts';
import { releaseModels } from '../pipelines/families/load.ts';
import { encodePng } from '../pipelines/metadata/encode-png.ts';
import { a1111Parameters, metadataChunks, recordedFiles, type GenerationRecord } from '../pipelines/metadata/generation-metadata.ts';
import { parseA1111, A1111_KEYWORD } from '../pipelines/metadata/a1111.ts';
import { parseGenerateArgs } from '../app/cli/generate-args.ts';
import { LORA_FIXTURES } from './lora-helpers.ts';

const skip = skipWithoutFixtures;
const tmp = mkdtempSync(join(tmpdir(), 'studio-library-'));
after(async () => {
  await releaseModels();
  rmSync(tmp, { recursive: true, force: true });
});

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const f32 = (shape: number[]) => ({ dtype: 'F32' as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.5) });

function place(from: string, to: string): string {
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
  return to;
}

/** The files A1111 and ComfyUI keep that the studio does not run, made here by their tensor names. */
function otherKinds(root: string, folders: { vae: string; controlnet: string; upscaler: string }): void {
  mkdirSync(join(root, folders.vae), { recursive: true });
  writeSafetensors(join(root, folders.vae, 'kl-f8.safetensors'), { 'encoder.conv_in.weight': f32([4, 3, 1, 1]), 'decoder.conv_in.weight': f32([4, 4, 1, 1]) });
  mkdirSync(join(root, folders.controlnet), { recursive: true });
  writeSafetensors(join(root, folders.controlnet, 'canny.safetensors'), {
    'control_model.input_hint_block.0.weight': f32([2, 3, 3, 3]),
    'control_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight': f32([2, 768]),
  });
  mkdirSync(join(root, folders.upscaler), { recursive: true });
  writeSafetensors(join(root, folders.upscaler, '4x-ultra.safetensors'), { 'conv_first.weight': f32([2, 3, 3, 3]), 'RRDB_trunk.0.RDB1.conv1.weight': f32([2, 2, 3, 3]) });
}

function scan(dir: string, cache: string) {
  return run(parseJob({ kind: 'models.scan', dir, library: true, hashes: true, hashCache: cache }));
}

const byFile = (entries: LibraryEntry[]) => Object.fromEntries(entries.map((e) => [e.relativePath, e]));

test('A1111 and ComfyUI layouts: every kind found, family from tensor names, A1111 short hash, cached by path+size+mtime', { skip }, async () => {
  const a1111 = join(tmp, 'a1111');
  place(fixture('sd15-tiny-single-file.safetensors'), join(a1111, 'models', 'Stable-diffusion', 'tiny.safetensors'));
  cpSync(fixture('sd15-tiny'), join(a1111, 'models', 'Stable-diffusion', 'tiny'), { recursive: true }); // its config folder: not listed
  place(join(LORA_FIXTURES, 'sd15-kohya-locon.safetensors'), join(a1111, 'models', 'Lora', 'styles', 'locon.safetensors'));
  place(join(LORA_FIXTURES, 'sdxl-peft.safetensors'), join(a1111, 'models', 'Lora', 'xl.safetensors'));
  place(join(LORA_FIXTURES, 'shinyemb-xl.safetensors'), join(a1111, 'embeddings', 'shiny-xl.safetensors'));
  place(join(LORA_FIXTURES, 'shinyemb.pt'), join(a1111, 'embeddings', 'shiny.pt'));
  otherKinds(a1111, { vae: 'models/VAE', controlnet: 'models/ControlNet', upscaler: 'models/ESRGAN' });
  writeFileSync(join(a1111, 'models', 'Lora', 'broken.safetensors'), 'not a safetensors file');

  const cache = join(tmp, 'hashes.json');
  const first = (await scan(a1111, cache)).library!;
  const files = byFile(first.entries);
  assert.deepEqual(
    first.entries.map((e) => [e.relativePath, e.kind, e.family ?? '-']),
    [
      ['models/Stable-diffusion/tiny.safetensors', 'checkpoint', 'sd1'],
      ['models/Lora/broken.safetensors', 'lora', '-'],
      ['models/Lora/styles/locon.safetensors', 'lora', '-'], // tiny widths: neither metadata nor a real width names its family
      ['models/Lora/xl.safetensors', 'lora', 'sdxl'],
      ['embeddings/shiny-xl.safetensors', 'embedding', 'sdxl'],
      ['embeddings/shiny.pt', 'embedding', '-'],
      ['models/VAE/kl-f8.safetensors', 'vae', '-'],
      ['models/ControlNet/canny.safetensors', 'controlnet', 'sd1'],
      ['models/ESRGAN/4x-ultra.safetensors', 'upscaler', '-'],
    ],
  );
  assert.match(files['models/Lora/broken.safetensors'].problem ?? '', /broken\.safetensors/);
  const ckpt = files['models/Stable-diffusion/tiny.safetensors'];
  assert.equal(ckpt.sha256, sha256(ckpt.path));
  assert.equal(ckpt.shortHash, ckpt.sha256!.slice(0, 10));
  assert.equal(ckpt.sizeBytes, readFileSync(ckpt.path).length);
  assert.deepEqual({ read: first.hashing!.read, cached: first.hashing!.cached }, { read: 9, cached: 0 });

  // The second listing reads no file: a hash planted in the cache (same path, size, mtime) is what it reports.
  const planted = JSON.parse(readFileSync(cache, 'utf8')) as { files: Record<string, { sha256: string }> };
  planted.files[ckpt.path].sha256 = 'ab'.repeat(32);
  writeFileSync(cache, JSON.stringify(planted));
  const second = (await scan(a1111, cache)).library!;
  assert.deepEqual({ read: second.hashing!.read, cached: second.hashing!.cached }, { read: 0, cached: 9 });
  assert.equal(byFile(second.entries)['models/Stable-diffusion/tiny.safetensors'].shortHash, 'ababababab');
  // A changed modification time makes it read that one file again.
  utimesSync(ckpt.path, new Date(), new Date(Date.now() + 5000));
  const third = (await scan(a1111, cache)).library!;
  assert.deepEqual({ read: third.hashing!.read, cached: third.hashing!.cached }, { read: 1, cached: 8 });
  assert.equal(byFile(third.entries)['models/Stable-diffusion/tiny.safetensors'].sha256, sha256(ckpt.path));

  // ComfyUI's layout, given as its models/ folder.
  const comfy = join(tmp, 'ComfyUI', 'models');
  place(fixture('sd15-tiny-single-file.safetensors'), join(comfy, 'checkpoints', 'tiny.safetensors'));
  place(join(LORA_FIXTURES, 'sd15-peft.safetensors'), join(comfy, 'loras', 'peft.safetensors'));
  place(join(LORA_FIXTURES, 'shinyemb.safetensors'), join(comfy, 'embeddings', 'shiny.safetensors'));
  otherKinds(comfy, { vae: 'vae', controlnet: 'controlnet', upscaler: 'upscale_models' });
  const comfyLib = (await run(parseJob({ kind: 'models.scan', dir: comfy, library: true }))).library!;
  assert.deepEqual(
    comfyLib.entries.map((e) => [e.relativePath, e.kind]),
    [
      ['checkpoints/tiny.safetensors', 'checkpoint'],
      ['loras/peft.safetensors', 'lora'],
      ['embeddings/shiny.safetensors', 'embedding'],
      ['vae/kl-f8.safetensors', 'vae'],
      ['controlnet/canny.safetensors', 'controlnet'],
      ['upscale_models/4x-ultra.safetensors', 'upscaler'],
    ],
  );
  assert.equal(comfyLib.hashing, undefined);
  assert.equal(comfyLib.entries[0].shortHash, undefined);
});

test('diffusers folders are one model each, with family and a folder hash that does not depend on name, place or dates', { skip }, async () => {
  const root = join(tmp, 'with-folders');
  const pipeline = join(root, 'models', 'Stable-diffusion', 'tiny-pipeline.v1');
  cpSync(fixture('sd15-tiny'), pipeline, { recursive: true });
  writeFileSync(join(pipeline, 'README.md'), 'notes that change nothing');
  mkdirSync(join(pipeline, '.cache'));
  writeFileSync(join(pipeline, '.cache', 'download.json'), '{}');
  cpSync(join(import.meta.dirname, 'fixtures', 'controlnet', 'controlnet-mini'), join(root, 'models', 'ControlNet', 'edges'), { recursive: true });
  const cache = join(tmp, 'folder-hashes.json');
  const lib = (await scan(root, cache)).library!;
  assert.deepEqual(lib.entries.map((e) => [e.relativePath, e.kind, e.family ?? '-', e.folder]), [
    ['models/Stable-diffusion/tiny-pipeline.v1', 'checkpoint', 'sd1', true],
    ['models/ControlNet/edges', 'controlnet', '-', true],
  ]);
  // The hash, spelled out: SHA-256 over "<path>\t<SHA-256>\n" of the weights, configs and tokenizer files, sorted.
  const content = (readdirSync(pipeline, { recursive: true }) as string[]).map((p) => p.split(sep).join('/')).filter((p) => !p.split('/').some((part) => part.startsWith('.')) && /\.(safetensors|json|txt)$/.test(p)).sort();
  assert.ok(content.includes('model_index.json') && content.includes('unet/diffusion_pytorch_model.safetensors') && !content.includes('README.md'));
  const want = createHash('sha256').update(content.map((p) => `${p}\t${sha256(join(pipeline, p))}\n`).join('')).digest('hex');
  const entry = lib.entries[0];
  assert.equal(entry.sha256, want);
  assert.equal(entry.shortHash, want.slice(0, 10));
  assert.equal(entry.sizeBytes, content.reduce((a, p) => a + statSync(join(pipeline, p)).size, 0));
  assert.ok(lib.entries[1].shortHash);
  // The model picker offers the folder under its path in the library.
  assert.ok((await scan(root, cache)).models.some((m) => m.path === pipeline && m.kind === 'folder' && m.name === 'models/Stable-diffusion/tiny-pipeline.v1'));

  // Moved, renamed and touched: the same hash. A config changed: another.
  const moved = join(root, 'models', 'Stable-diffusion', 'sorted', 'renamed');
  cpSync(pipeline, moved, { recursive: true });
  rmSync(pipeline, { recursive: true });
  utimesSync(join(moved, 'unet', 'config.json'), new Date(), new Date(Date.now() + 5000));
  assert.equal((await scan(root, cache)).library!.entries[0].sha256, want);
  const config = join(moved, 'unet', 'config.json');
  writeFileSync(config, readFileSync(config, 'utf8').replace('{', '{\n  "note": 1,'));
  assert.notEqual((await scan(root, cache)).library!.entries[0].sha256, want);
});

test('`studio models --json` lists the library through the engine, with a clear error for a missing folder', { skip }, async () => {
  const dir = join(tmp, 'cli-lib');
  place(join(LORA_FIXTURES, 'sdxl-peft.safetensors'), join(dir, 'models', 'loras', 'xl.safetensors'));
  const studio = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
      const child = spawn(process.execPath, [join(import.meta.dirname, '..', 'app', 'cli', 'studio.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d));
      child.stderr.on('data', (d: Buffer) => (stderr += d));
      child.on('close', (code) => done({ code, stdout, stderr }));
    });
  const ok = await studio(['models', '--dir', dir, '--json', '--hash-cache', join(tmp, 'cli-hashes.json')]);
  assert.equal(ok.code, 0, ok.stderr);
  const listed = JSON.parse(ok.stdout) as { entries: LibraryEntry[]; hashing: { read: number } };
  assert.deepEqual(listed.entries.map((e) => [e.relativePath, e.kind, e.family, e.shortHash]), [['models/loras/xl.safetensors', 'lora', 'sdxl', sha256(join(dir, 'models', 'loras', 'xl.safetensors')).slice(0, 10)]]);
  const missing = await studio(['models', '--dir', join(tmp, 'nowhere')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /models folder .*nowhere does not exist: give the A1111 or ComfyUI folder .* with --dir DIR/);
});

test('PNG parameters carry Model hash, Lora hashes and TI hashes as A1111 writes them, and read back by name', () => {
  const request = GenerateRequestSchema.parse({ prompt: 'an apple shinyemb <lora:ink:0.5>', seed: 3, width: 64, height: 64, loras: [{ name: '/m/Lora/style.safetensors', weight: 0.8 }] });
  const record: GenerationRecord = {
    request,
    image: { batchIndex: 0, seed: 3, width: 64, height: 64 },
    model: { name: 'tiny', sha256: '1'.repeat(64) },
    loras: [{ name: 'style', sha256: 'a'.repeat(64) }, { name: 'ink', sha256: 'b'.repeat(64) }],
    embeddings: [{ name: 'shinyemb', sha256: 'c'.repeat(64) }],
    ep: 'cpu',
    studioVersion: '0',
  };
  const text = a1111Parameters(record);
  assert.match(text, /Model hash: 1111111111, Model: tiny, .*Lora hashes: "style: aaaaaaaaaa, ink: bbbbbbbbbb", TI hashes: "shinyemb: cccccccccc", RNG: CPU, Version/);
  const files = a1111ImageFiles(parseA1111(text));
  assert.deepEqual(files, {
    model: { name: 'tiny', hash: '1111111111' },
    loras: [{ name: 'ink', weight: 0.5, hash: 'bbbbbbbbbb' }, { name: 'style', weight: 0.8, hash: 'aaaaaaaaaa' }],
    embeddings: [{ name: 'shinyemb', hash: 'cccccccccc' }],
  });
  assert.deepEqual(parseNamedHashes('a: 0123456789, bad, b c: ABCDEF0123'), { a: '0123456789', 'b c': 'abcdef0123' });

  // Found by hash whatever the files are called; a same-named file with another hash is named as another version.
  const entry = (kind: LibraryEntry['kind'], name: string, hash: string): LibraryEntry => ({ kind, name, path: `/lib/${name}`, relativePath: name, sizeBytes: 1, sha256: hash.repeat(64), shortHash: hash.repeat(10) });
  const found = findImageFiles(files, [entry('checkpoint', 'renamed', '1'), entry('lora', 'ink-v2', 'b'), entry('lora', 'style', 'd'), entry('embedding', 'shiny', 'c')]);
  assert.equal(found.model?.name, 'renamed');
  assert.deepEqual(found.loras.map((l) => [l.entry.name, l.weight]), [['ink-v2', 0.5]]);
  assert.deepEqual(found.missing, ['LoRA "style" (hash aaaaaaaaaa) is not in the library; style has that name but hash dddddddddd (another version)']);
  assert.match(found.notes[0], /embedding "shinyemb" is shiny in the library: .*rename the file to shinyemb/);
});

test('generate --from an A1111 PNG restores prompt, settings, LoRAs and embeddings by hash from a library where every file is renamed', { skip }, async () => {
  // The image, made in one library (A1111 layout)...
  const made = join(tmp, 'made');
  const model = place(fixture('sd15-tiny-single-file.safetensors'), join(made, 'models', 'Stable-diffusion', 'tiny.safetensors'));
  cpSync(fixture('sd15-tiny'), join(made, 'models', 'Stable-diffusion', 'tiny'), { recursive: true });
  place(join(LORA_FIXTURES, 'sd15-kohya-locon.safetensors'), join(made, 'models', 'Lora', 'locon.safetensors'));
  place(join(LORA_FIXTURES, 'shinyemb.safetensors'), join(made, 'embeddings', 'shinyemb.safetensors'));
  const request = GenerateRequestSchema.parse({
    model,
    modelsDir: join(made, 'models'),
    embeddingsDir: join(made, 'embeddings'),
    prompt: 'shinyemb apple on a table <lora:locon:0.8>',
    negative: 'blurry',
    steps: 3,
    cfg: 6,
    sampler: 'euler',
    seed: 11,
    width: 64,
    height: 64,
  });
  const result = await runGenerate(request);
  assert.deepEqual(result.loras?.map((l) => [l.name, l.weight]), [['locon', 0.8]]);
  assert.deepEqual(result.embeddings?.map((e) => e.name), ['shinyemb']);
  const files = await recordedFiles(result, request, async (p) => sha256(p));
  const record: GenerationRecord = { request: { ...request, ...result.settings }, image: { batchIndex: 0, seed: 11, width: 64, height: 64 }, ...files, ep: result.ep, studioVersion: '0' };
  // Only A1111's chunk, as A1111 itself would have written it.
  const a1111Only = metadataChunks(record).filter(([k]) => k === A1111_KEYWORD);
  const png = join(tmp, 'a1111.png');
  writeFileSync(png, await encodePng(result.images[0], a1111Only));
  assert.match(a1111Only[0][1], /Lora hashes: "locon: [0-9a-f]{10}", TI hashes: "shinyemb: [0-9a-f]{10}"/);

  // ...read back on a machine where the files have other names (ComfyUI layout).
  const other = join(tmp, 'other', 'models');
  place(model, join(other, 'checkpoints', 'my-model.safetensors'));
  cpSync(fixture('sd15-tiny'), join(other, 'checkpoints', 'my-model'), { recursive: true });
  place(join(made, 'models', 'Lora', 'locon.safetensors'), join(other, 'loras', 'sketchy-v1.safetensors'));
  place(join(made, 'embeddings', 'shinyemb.safetensors'), join(other, 'embeddings', 'shinyemb.safetensors'));
  process.env.XDG_CACHE_HOME = join(tmp, 'xdg-cache');
  const args = await parseGenerateArgs(['--from', png, '--models-dir', other]);
  assert.equal(args.help, false);
  if (args.help) return;
  const r = args.request;
  assert.equal(r.model, join(other, 'checkpoints', 'my-model.safetensors'));
  assert.deepEqual(r.loras, [{ name: join(other, 'loras', 'sketchy-v1.safetensors'), weight: 0.8 }]);
  assert.equal(r.embeddingsDir, join(other, 'embeddings'));
  assert.deepEqual([r.prompt, r.negative, r.steps, r.cfg, r.sampler, r.seed, r.width, r.height], ['shinyemb apple on a table', 'blurry', 3, 6, 'euler', 11, 64, 64]);
  const again = await runGenerate(r);
  assert.deepEqual(again.images[0].pixels, result.images[0].pixels);

  // The studio's own chunk: the exact request, its files found the same way.
  const studioPng = join(tmp, 'studio.png');
  writeFileSync(studioPng, await encodePng(result.images[0], metadataChunks(record)));
  const exact = await parseGenerateArgs(['--from', studioPng, '--models-dir', other]);
  assert.ok(!exact.help);
  if (exact.help) return;
  assert.deepEqual(exact.request, r);

  // A flag overrides the image; a LoRA the library lacks is named with what to do.
  const overridden = await parseGenerateArgs(['--from', png, '--models-dir', other, '--steps', '5', '--seed', '2']);
  assert.ok(!overridden.help && overridden.request.steps === 5 && overridden.request.seed === 2 && overridden.request.cfg === 6);
  rmSync(join(other, 'loras', 'sketchy-v1.safetensors'));
  await assert.rejects(parseGenerateArgs(['--from', png, '--models-dir', other]), (e: Error) => {
    assert.match(e.message, /--from .*a1111\.png: not found in the model library .*other.models: LoRA "locon" \(hash [0-9a-f]{10}\) is not in the library\. Put the files there .*give --model\/--lora\/--embeddings yourself/);
    return true;
  });
});
