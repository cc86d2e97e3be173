import assert from 'node:assert/strict';
import { extractLoraTags } from '../pipelines/lora/library.ts';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import {
  a1111Parameters,
  crc32,
  decodeStudioMetadata,
  encodePng,
  encodeTextChunk,
  formatA1111,
  metadataChunks,
  parseA1111,
  PngFormatError,
  readChunks,
  readImageMetadata,
  readPngText,
  requestFromStudioMetadata,
  sha256File,
  shortHash,
  StudioMetadataError,
  studioMetadata,
  writeChunks,
  type GenerationRecord,
} from '../pipelines/metadata/index.ts';
import { GenerateRequestSchema, SAMPLER_NAMES } from '../pipelines/jobs/api.ts';
import { fromA1111Sampler, toA1111Sampler } from '../pipelines/metadata/sampler-names.ts';

function gradient(width: number, height: number, salt = 0): Uint8Array {
  const px = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      px[i] = (x * 255) / (width - 1);
      px[i + 1] = (y * 255) / (height - 1);
      px[i + 2] = (x * 7 + y * 13 + salt) & 255;
    }
  }
  return px;
}

const te = new TextEncoder();

function record(overrides: Partial<GenerationRecord> = {}): GenerationRecord {
  const request = GenerateRequestSchema.parse({
    prompt: 'a red apple, on a table',
    negative: 'blurry',
    steps: 5,
    cfg: 7.5,
    sampler: 'dpmpp_2m_karras',
    seed: 42,
    batch: 2,
    pag: { scale: 3, layers: ['mid', 'up_blocks.0'] },
    attention: { kind: 'agent' },
    clipSkip: 2,
  });
  return {
    request,
    image: { batchIndex: 1, seed: 42, width: 64, height: 72 },
    model: { name: 'sd15-tiny', sha256: 'ab'.repeat(32) },
    ep: 'cpu',
    studioVersion: '0.1.0',
    ...overrides,
  };
}

describe('PNG chunks', () => {
  test('CRC-32 gives the standard check value and chains', () => {
    assert.equal(crc32(te.encode('123456789')), 0xcbf43926);
    const a = randomBytes(1000);
    const b = randomBytes(777);
    assert.equal(crc32(b, crc32(a)), crc32(Buffer.concat([a, b])));
    const native = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
    if (native) assert.equal(crc32(a), native(a));
  });

  test('text chunks go before IDAT, sharp still decodes the pixels exactly', async () => {
    const pixels = gradient(24, 16);
    const png = await encodePng({ width: 24, height: 16, pixels }, [
      ['parameters', 'hello'],
      ['studio', '{"x":1}'],
    ]);
    const types = readChunks(png).map((c) => c.type);
    assert.ok(types.indexOf('tEXt') < types.indexOf('IDAT'), types.join(' '));
    assert.deepEqual(
      readPngText(png).map((e) => [e.keyword, e.text, e.chunkType]),
      [
        ['parameters', 'hello', 'tEXt'],
        ['studio', '{"x":1}', 'tEXt'],
      ],
    );
    const decoded = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([decoded.info.width, decoded.info.height, decoded.info.channels], [24, 16, 3]);
    assert.ok(Buffer.from(pixels).equals(decoded.data), 'pixels differ after the PNG round trip');
  });

  test('a damaged chunk is reported with its name', async () => {
    const png = await encodePng({ width: 8, height: 8, pixels: gradient(8, 8) }, [['parameters', 'hello']]);
    const bad = png.slice();
    const before = readChunks(png);
    const textAt = before.findIndex((c) => c.type === 'tEXt');
    const textDataStart = before.slice(0, textAt).reduce((pos, c) => pos + 12 + c.data.length, 8) + 8;
    bad[textDataStart + 2] ^= 1;
    assert.throws(() => readPngText(bad, 'x.png'), (e: Error) => e instanceof PngFormatError && /x\.png.*tEXt.*CRC/.test(e.message));
    assert.throws(() => readPngText(te.encode('GIF89a'), 'y.gif'), /y\.gif is not a PNG/);
  });

  test('Latin-1 text → tEXt, other text → iTXt; zTXt, compressed iTXt and UTF-8-in-tEXt are read', async () => {
    const png = await encodePng({ width: 8, height: 8, pixels: gradient(8, 8) }, [
      ['latin', 'café'],
      ['wide', '猫 🐱, ünïcode'],
    ]);
    const chunks = readChunks(png);
    const at = chunks.findIndex((c) => c.type === 'IDAT');
    const ztxt = { type: 'zTXt', data: Buffer.concat([te.encode('ztext'), Buffer.of(0, 0), zlib.deflateSync('zipped text, Latin-1')]) };
    const utf8InText = { type: 'tEXt', data: Buffer.concat([te.encode('sloppy'), Buffer.of(0), te.encode('naïve ☕')]) };
    const compressed = encodeTextChunk('big', 'x'.repeat(5000) + ' 😀', { compress: true });
    assert.equal(compressed.type, 'iTXt');
    assert.ok(compressed.data.length < 200);
    const all = writeChunks([...chunks.slice(0, at), ztxt, utf8InText, compressed, ...chunks.slice(at)]);
    const read = Object.fromEntries(readPngText(all).map((e) => [e.keyword, [e.text, e.chunkType]]));
    assert.deepEqual(read, {
      latin: ['café', 'tEXt'],
      wide: ['猫 🐱, ünïcode', 'iTXt'],
      ztext: ['zipped text, Latin-1', 'zTXt'],
      sloppy: ['naïve ☕', 'tEXt'],
      big: ['x'.repeat(5000) + ' 😀', 'iTXt'],
    });
  });
});

describe('A1111 parameters', () => {
  test('written in create_infotext order with quoting', () => {
    assert.equal(
      a1111Parameters(record()),
      'a red apple, on a table\nNegative prompt: blurry\n' +
        'Steps: 5, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.5, Seed: 42, Size: 64x72, ' +
        'Model hash: ababababab, Model: sd15-tiny, Clip skip: 2, RNG: CPU, PAG scale: 3, ' +
        'PAG layers: "mid, up_blocks.0", Attention: Agent, Batch size: 2, Batch pos: 1, Version: diffusion-studio 0.1.0',
    );
  });

  test('empty negative omits its line; bare keys; JSON-quoted values; whitespace stripped', () => {
    const text = formatA1111({
      prompt: '  a cat  ',
      negativePrompt: '',
      params: [
        ['Steps', 20],
        ['Tiling', 'Tiling'],
        ['Note', 'say "hi": now\nplease'],
        ['Skipped', undefined],
        ['Flag', true],
      ],
    });
    // Python's strip() trims the whole text, not the prompt line
    assert.equal(text, 'a cat  \nSteps: 20, Tiling, Note: "say \\"hi\\": now\\nplease", Flag: True');
  });

  test('LoRAs given with --lora are written as A1111 prompt tags, which the generate request reads back', () => {
    const base = record();
    const r = { ...base, request: { ...base.request, prompt: 'a cat <lora:inline:0.5>', loras: [{ name: '/models/Lora/ink-style.safetensors', weight: 0.8 }] } };
    const parsed = parseA1111(a1111Parameters(r));
    assert.equal(parsed.prompt, 'a cat <lora:inline:0.5> <lora:ink-style:0.8>');
    assert.deepEqual(extractLoraTags(parsed.prompt).loras, [{ name: 'inline', weight: 0.5 }, { name: 'ink-style', weight: 0.8 }]);
  });

  test('round trip through parse keeps every field', () => {
    const r = record();
    const parsed = parseA1111(a1111Parameters(r));
    assert.equal(parsed.prompt, r.request.prompt);
    assert.equal(parsed.negativePrompt, r.request.negative);
    assert.equal(parsed.steps, 5);
    assert.equal(parsed.cfgScale, 7.5);
    assert.equal(parsed.seed, 42);
    assert.deepEqual([parsed.width, parsed.height], [64, 72]);
    assert.equal(parsed.studioSampler, 'dpmpp_2m_karras');
    assert.equal(parsed.modelHash, 'ababababab');
    assert.equal(parsed.clipSkip, 2);
    assert.deepEqual(parsed.extra, {
      RNG: 'CPU',
      'PAG scale': '3',
      'PAG layers': 'mid, up_blocks.0',
      Attention: 'Agent',
      'Batch size': '2',
      'Batch pos': '1',
    });
  });

  test('every sampler name survives the A1111 mapping', () => {
    for (const name of SAMPLER_NAMES) {
      const { sampler, scheduleType } = toA1111Sampler(name);
      assert.equal(fromA1111Sampler(sampler, scheduleType), name, `${name} → ${sampler} / ${scheduleType}`);
    }
  });

  test('hand-written A1111 1.10 infotext with multi-line prompts and hires / LoRA fields', () => {
    const text = [
      'masterpiece, best quality, (smile:1.2)',
      'looking at viewer',
      'Negative prompt: lowres, bad anatomy',
      'worst quality',
      'Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 965400086, Size: 512x768, ' +
        'Model hash: 45dee52b06, Model: v1-5-pruned-emaonly, Denoising strength: 0.5, Clip skip: 2, ' +
        'Hires upscale: 2, Hires steps: 10, Hires upscaler: Latent, ' +
        'Lora hashes: "detail: 0a1b2c3d4e5f, film: 123456789abc", Version: v1.10.1',
    ].join('\n');
    const p = parseA1111(text);
    assert.equal(p.prompt, 'masterpiece, best quality, (smile:1.2)\nlooking at viewer');
    assert.equal(p.negativePrompt, 'lowres, bad anatomy\nworst quality');
    assert.deepEqual(
      [p.steps, p.sampler, p.scheduleType, p.studioSampler, p.cfgScale, p.seed, p.width, p.height],
      [28, 'DPM++ 2M', 'Karras', 'dpmpp_2m_karras', 7, 965400086, 512, 768],
    );
    assert.deepEqual([p.model, p.modelHash, p.denoisingStrength, p.clipSkip, p.version], ['v1-5-pruned-emaonly', '45dee52b06', 0.5, 2, 'v1.10.1']);
    assert.deepEqual(p.hiresFix, { scale: 2, steps: 10, upscaler: 'Latent', studioUpscaler: 'latent' });
    assert.deepEqual(p.extra, { 'Lora hashes': 'detail: 0a1b2c3d4e5f, film: 123456789abc' });
    const esrgan = parseA1111('a cat\nSteps: 20, Sampler: Euler a, Seed: 5, Hires upscale: 1.5, Hires steps: 0, Hires upscaler: R-ESRGAN 4x+');
    assert.deepEqual(esrgan.hiresFix, { scale: 1.5, upscaler: 'R-ESRGAN 4x+' }, "0 steps: the first pass's; an upscaler the studio lacks keeps its name only");
    assert.equal(parseA1111('a cat\nSteps: 20, Sampler: Euler a, Seed: 5, Denoising strength: 0.4').hiresFix, undefined, 'img2img strength alone is no hires fix');
  });

  test("the ControlNet extension's units (A1111 1.10 / Forge): ControlNets with their preprocessor, weight and steps, the IP-Adapter unit as the image prompt", () => {
    const text = [
      'a castle',
      'Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, ' +
        'ControlNet 0: "Module: canny, Model: control_v11p_sd15_canny [d14c016b], Weight: 0.85, Resize Mode: Crop and Resize, Low Vram: False, ' +
        'Processor Res: 512, Threshold A: 100, Threshold B: 200, Guidance Start: 0.1, Guidance End: 0.9, Pixel Perfect: False, Control Mode: Balanced", ' +
        'ControlNet 1: "Module: depth_midas, Model: control_v11f1p_sd15_depth [cfd03158], Weight: 1, Guidance Start: 0, Guidance End: 1, Control Mode: ControlNet is more important", ' +
        'ControlNet 2: "Module: ip-adapter_clip_sd15, Model: ip-adapter_sd15 [6a3f6166], Weight: 0.6, Guidance Start: 0, Guidance End: 1, Control Mode: Balanced", ' +
        'ControlNet 3: "Module: softedge_pidinet, Model: None, Weight: 1", Version: v1.10.1',
    ].join('\n');
    const p = parseA1111(text);
    assert.deepEqual(p.controlNets, [
      { module: 'canny', studioPreprocess: 'canny', model: 'control_v11p_sd15_canny', weight: 0.85, start: 0.1, end: 0.9, guessMode: false },
      { module: 'depth_midas', model: 'control_v11f1p_sd15_depth', weight: 1, start: 0, end: 1, guessMode: true },
    ], 'a unit without a model is off; depth has no preprocessor of ours');
    assert.deepEqual(p.ipAdapter, { model: 'ip-adapter_sd15', weight: 0.6 });
    assert.deepEqual(p.extra, {}, 'the units are read, not left as extra keys');
    assert.equal(parseA1111('a cat\nSteps: 20, Sampler: Euler a, Seed: 5').controlNets, undefined);
  });

  test("the studio's own ControlNet and IP-Adapter fields read back as the units they came from", () => {
    const base = record();
    const request = {
      ...base.request,
      controlNets: [{ model: '/models/ControlNet/edges-mini', image: '/out/uploads/e.png', weight: 0.8, start: 0.1, end: 0.9, preprocess: 'softedge' as const, guessMode: true }],
      ipAdapter: { model: '/models/ipadapter/ip-adapter_sd15.safetensors', image: '/out/uploads/r.png', scale: 0.6 },
    };
    const p = parseA1111(a1111Parameters({ ...base, request }));
    assert.deepEqual(p.controlNets, [{ module: 'softedge', studioPreprocess: 'softedge', model: 'edges-mini', weight: 0.8, start: 0.1, end: 0.9, guessMode: true }]);
    assert.deepEqual(p.ipAdapter, { model: 'ip-adapter_sd15', weight: 0.6 });
  });

  test('pre-1.9 sampler names, and a last line with fewer than 3 params stays prompt', () => {
    const old = parseA1111('a cat\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7.5, Seed: 1, Size: 512x512');
    assert.equal(old.studioSampler, 'dpmpp_2m_karras');
    assert.equal(old.negativePrompt, '');
    assert.equal(parseA1111('x\nSteps: 20, Sampler: Euler a, Seed: 5').studioSampler, 'euler_a');
    const prose = parseA1111('a photo\nStyle: cinematic, Mood: calm');
    assert.equal(prose.prompt, 'a photo\nStyle: cinematic, Mood: calm');
    assert.deepEqual(prose.params, {});
  });
});

describe('studio chunk', () => {
  test('PNG round trip re-creates the exact request, also for non-Latin-1 prompts', async () => {
    const base = record();
    const r = record({ request: { ...base.request, prompt: '猫, 🐱 "quoted"\nline two', negative: 'ünïcode' } });
    const png = await encodePng({ width: 64, height: 72, pixels: gradient(64, 72) }, metadataChunks(r));
    const meta = readImageMetadata(png, 'round.png');
    assert.deepEqual(meta.warnings, []);
    assert.deepEqual(meta.studio, studioMetadata(r));
    const again = GenerateRequestSchema.parse(requestFromStudioMetadata(meta.studio!));
    assert.deepEqual(again, { ...r.request, width: 64, height: 72 });
    assert.equal(meta.settings?.source, 'studio');
    assert.equal(meta.a1111?.prompt, r.request.prompt);
    assert.equal(meta.a1111?.negativePrompt, 'ünïcode');
    assert.deepEqual(readPngText(png).map((e) => e.chunkType), ['iTXt', 'iTXt']);
  });

  test('newer versions and incomplete chunks are refused with a reason', () => {
    const good = studioMetadata(record());
    assert.throws(() => decodeStudioMetadata(JSON.stringify({ ...good, version: 2 }), 'new.png'), (e: Error) => e instanceof StudioMetadataError && /new\.png.*newer.*version 2/.test(e.message));
    const { seed: _seed, ...noSeed } = good.request;
    assert.throws(() => decodeStudioMetadata(JSON.stringify({ ...good, request: noSeed })), /request\.seed/);
    assert.throws(() => decodeStudioMetadata('{oops'), /not valid JSON/);
    const plain = readImageMetadata(pngStub());
    assert.equal(plain.settings, undefined);
    assert.deepEqual(plain.warnings, []);
  });
});

/** A minimal valid PNG (1x1) built with our own chunk writer. */
function pngStub(): Uint8Array {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(1, 0);
  ihdr.writeUInt32BE(1, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const idat = zlib.deflateSync(Buffer.of(0, 1, 2, 3));
  return writeChunks([
    { type: 'IHDR', data: ihdr },
    { type: 'IDAT', data: idat },
    { type: 'IEND', data: new Uint8Array(0) },
  ]);
}

async function pngWith(text: Array<[string, string]>): Promise<Uint8Array> {
  return encodePng({ width: 8, height: 8, pixels: gradient(8, 8) }, text);
}

describe('ComfyUI chunks', () => {
  const apiGraph = {
    '3': {
      class_type: 'KSampler',
      inputs: { seed: 156680208700286, steps: 20, cfg: 8, sampler_name: 'dpmpp_2m', scheduler: 'karras', denoise: 1, model: ['10', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] },
    },
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'v1-5-pruned-emaonly.safetensors' } },
    '5': { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 640, batch_size: 1 } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: 'beautiful scenery, purple galaxy bottle', clip: ['10', 1] } },
    '7': { class_type: 'CLIPTextEncode', inputs: { text: 'text, watermark', clip: ['10', 1] } },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'ComfyUI', images: ['8', 0] } },
    '10': { class_type: 'LoraLoader', inputs: { lora_name: 'detail.safetensors', strength_model: 1, strength_clip: 1, model: ['4', 0], clip: ['4', 1] } },
  };
  const workflow = {
    last_node_id: 7,
    last_link_id: 6,
    nodes: [
      {
        id: 3,
        type: 'KSampler',
        inputs: [
          { name: 'model', type: 'MODEL', link: 1 },
          { name: 'positive', type: 'CONDITIONING', link: 4 },
          { name: 'negative', type: 'CONDITIONING', link: 6 },
          { name: 'latent_image', type: 'LATENT', link: 2 },
        ],
        widgets_values: [42, 'fixed', 25, 6.5, 'euler_ancestral', 'normal', 1],
      },
      { id: 4, type: 'CheckpointLoaderSimple', widgets_values: ['sd_xl_base_1.0.safetensors'] },
      { id: 5, type: 'EmptyLatentImage', widgets_values: [1024, 768, 1] },
      { id: 6, type: 'CLIPTextEncode', inputs: [{ name: 'clip', type: 'CLIP', link: 3 }], widgets_values: ['a lighthouse at dusk'] },
      { id: 7, type: 'CLIPTextEncode', inputs: [{ name: 'clip', type: 'CLIP', link: 5 }], widgets_values: ['fog'] },
    ],
    links: [
      [1, 4, 0, 3, 0, 'MODEL'],
      [2, 5, 0, 3, 3, 'LATENT'],
      [3, 4, 1, 6, 0, 'CLIP'],
      [4, 6, 0, 3, 1, 'CONDITIONING'],
      [5, 4, 1, 7, 0, 'CLIP'],
      [6, 7, 0, 3, 2, 'CONDITIONING'],
    ],
    groups: [],
    config: {},
    extra: {},
    version: 0.4,
  };

  test('API-format prompt graph: settings found through the LoRA loader', async () => {
    const meta = readImageMetadata(await pngWith([['prompt', JSON.stringify(apiGraph)], ['workflow', JSON.stringify(workflow)]]));
    const c = meta.comfyui!;
    assert.deepEqual(
      [c.prompt, c.negativePrompt, c.seed, c.steps, c.cfgScale, c.sampler, c.scheduler, c.studioSampler, c.width, c.height, c.model, c.denoise],
      ['beautiful scenery, purple galaxy bottle', 'text, watermark', 156680208700286, 20, 8, 'dpmpp_2m', 'karras', 'dpmpp_2m_karras', 512, 640, 'v1-5-pruned-emaonly.safetensors', 1],
    );
    assert.equal(meta.settings?.source, 'comfyui');
  });

  test('editor workflow alone: widget values and links', async () => {
    const c = readImageMetadata(await pngWith([['workflow', JSON.stringify(workflow)]])).comfyui!;
    assert.deepEqual(
      [c.prompt, c.negativePrompt, c.seed, c.steps, c.cfgScale, c.studioSampler, c.width, c.height, c.model],
      ['a lighthouse at dusk', 'fog', 42, 25, 6.5, 'euler_a', 1024, 768, 'sd_xl_base_1.0.safetensors'],
    );
  });

  test('custom sampling nodes (noise, guider, sampler select, scheduler)', async () => {
    const graph = {
      '1': { class_type: 'SamplerCustomAdvanced', inputs: { noise: ['2', 0], guider: ['3', 0], sampler: ['4', 0], sigmas: ['5', 0], latent_image: ['8', 0] } },
      '2': { class_type: 'RandomNoise', inputs: { noise_seed: 777 } },
      '3': { class_type: 'CFGGuider', inputs: { cfg: 4.5, model: ['9', 0], positive: ['6', 0], negative: ['7', 0] } },
      '4': { class_type: 'KSamplerSelect', inputs: { sampler_name: 'euler' } },
      '5': { class_type: 'BasicScheduler', inputs: { scheduler: 'karras', steps: 12, denoise: 1, model: ['9', 0] } },
      '6': { class_type: 'CLIPTextEncodeSDXL', inputs: { text_g: 'a red car', text_l: 'a red car', width: 1024, height: 1024, clip: ['9', 1] } },
      '7': { class_type: 'ConditioningCombine', inputs: { conditioning_1: ['10', 0], conditioning_2: ['10', 0] } },
      '8': { class_type: 'EmptyLatentImage', inputs: { width: 832, height: 1216, batch_size: 1 } },
      '9': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sdxl.safetensors' } },
      '10': { class_type: 'CLIPTextEncode', inputs: { text: 'rain', clip: ['9', 1] } },
    };
    const c = readImageMetadata(await pngWith([['prompt', JSON.stringify(graph)]])).comfyui!;
    assert.deepEqual(
      [c.prompt, c.negativePrompt, c.seed, c.steps, c.cfgScale, c.studioSampler, c.width, c.height, c.model],
      ['a red car', 'rain', 777, 12, 4.5, 'euler_karras', 832, 1216, 'sdxl.safetensors'],
    );
  });
});

describe('InvokeAI chunks', () => {
  test('invokeai_metadata', async () => {
    const metadata = {
      generation_mode: 'txt2img',
      positive_prompt: 'a fox in snow',
      negative_prompt: 'blurry',
      width: 768,
      height: 512,
      seed: 123456,
      rand_device: 'cpu',
      cfg_scale: 6,
      cfg_rescale_multiplier: 0,
      steps: 30,
      scheduler: 'dpmpp_2m_k',
      seamless_x: false,
      seamless_y: false,
      clip_skip: 0,
      model: { key: 'f1d2', hash: 'blake3:abc', name: 'Juggernaut XL', base: 'sdxl', type: 'main' },
      loras: [],
      controlnets: [],
    };
    const meta = readImageMetadata(await pngWith([['invokeai_metadata', JSON.stringify(metadata)]]));
    const i = meta.invokeai!;
    assert.deepEqual(
      [i.prompt, i.negativePrompt, i.width, i.height, i.seed, i.cfgScale, i.steps, i.studioSampler, i.model, i.modelHash, i.generationMode],
      ['a fox in snow', 'blurry', 768, 512, 123456, 6, 30, 'dpmpp_2m_karras', 'Juggernaut XL', 'blake3:abc', 'txt2img'],
    );
    assert.equal(meta.settings?.source, 'invokeai');
  });

  test('invokeai_graph alone: around the denoise node, seed from a wired integer node', async () => {
    const graph = {
      id: 'g1',
      nodes: {
        main_model_loader: { id: 'main_model_loader', type: 'main_model_loader', model: { name: 'sd-1.5', base: 'sd-1', hash: 'blake3:1' } },
        positive_conditioning: { id: 'positive_conditioning', type: 'compel', prompt: 'a castle on a hill' },
        negative_conditioning: { id: 'negative_conditioning', type: 'compel', prompt: 'people' },
        seed_node: { id: 'seed_node', type: 'integer', value: 99 },
        noise: { id: 'noise', type: 'noise', width: 512, height: 576, use_cpu: true },
        denoise_latents: { id: 'denoise_latents', type: 'denoise_latents', cfg_scale: 7.5, scheduler: 'euler_a', steps: 25, denoising_start: 0, denoising_end: 1 },
      },
      edges: [
        { source: { node_id: 'main_model_loader', field: 'unet' }, destination: { node_id: 'denoise_latents', field: 'unet' } },
        { source: { node_id: 'positive_conditioning', field: 'conditioning' }, destination: { node_id: 'denoise_latents', field: 'positive_conditioning' } },
        { source: { node_id: 'negative_conditioning', field: 'conditioning' }, destination: { node_id: 'denoise_latents', field: 'negative_conditioning' } },
        { source: { node_id: 'noise', field: 'noise' }, destination: { node_id: 'denoise_latents', field: 'noise' } },
        { source: { node_id: 'seed_node', field: 'value' }, destination: { node_id: 'noise', field: 'seed' } },
      ],
    };
    const i = readImageMetadata(await pngWith([['invokeai_graph', JSON.stringify(graph)]])).invokeai!;
    assert.deepEqual(
      [i.prompt, i.negativePrompt, i.seed, i.width, i.height, i.cfgScale, i.steps, i.studioSampler, i.model],
      ['a castle on a hill', 'people', 99, 512, 576, 7.5, 25, 'euler_a', 'sd-1.5'],
    );
  });
});

test('model hash: SHA-256 of the whole file, read in pieces', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'studio-hash-'));
  try {
    const data = randomBytes(9 * 1024 * 1024 + 123); // crosses the 4 MiB read size twice
    const file = join(dir, 'model.safetensors');
    writeFileSync(file, data);
    const full = await sha256File(file);
    assert.equal(full, createHash('sha256').update(data).digest('hex'));
    assert.equal(shortHash(full), full.slice(0, 10));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
