// What `npm run fuzz` feeds: one target per parser of untrusted input. Each says how to make valid
// examples (seeds, mutated), what fast-check generates for it, how to run one input, and which errors
// are the parser's own clear refusals. Anything else thrown, and any input that takes too long, is a finding.
import fc from 'fast-check';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { OPTIONS as GENERATE_OPTIONS } from '../app/cli/generate-args.ts';
import { BatchFileError, readBatchRows } from '../pipelines/jobs/batch/rows.ts';
import { HeadPresetError, parseHeadPreset } from '../pipelines/heads/presets.ts';
import { SafetensorsError, SafetensorsFile, writeSafetensors } from '../pipelines/io/safetensors.ts';
import { TorchPtError, TorchPtFile } from '../pipelines/io/torch-pt.ts';
import { UnsafePickleError, unpickle } from '../pipelines/io/torch-pt/unpickle.ts';
import { parseA1111 } from '../pipelines/metadata/a1111.ts';
import { PngFormatError, readChunks, writeChunks } from '../pipelines/metadata/png-chunks.ts';
import { encodeTextChunk } from '../pipelines/metadata/png-text.ts';
import { readImageMetadata } from '../pipelines/metadata/read-metadata.ts';
import { StoryInputError } from '../pipelines/recipes/story/boxes.ts';
import { parseStory } from '../pipelines/recipes/story/story.ts';
import { apiMethods, CallMessageSchema } from '../pipelines/jobs/api-studio.ts';
import { z } from 'zod';
import { PromptError, parsePromptAttention } from '../pipelines/text/prompt-weights.ts';
import { Pickler, bytes, f32Tensor, writePt } from '../test/torch-pt-writer.ts';
import { mutateBytes, mutateText, type Rng } from './mutate.ts';
import type { FuzzTarget } from './fuzz-target.ts';
import { wsFrameTarget, wsLiveMessageTarget } from './ws-frames.ts';

export type { FuzzTarget } from './fuzz-target.ts';

const MAX_TEXT = 1_200_000;
const MAX_BYTES = 2_000_000;

function textTarget(name: string, seeds: string[], tokens: string[], run: (s: string) => void, expected: (e: unknown) => boolean): FuzzTarget<string> {
  return {
    name,
    seeds: () => seeds,
    arbitrary: fc.oneof(
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.array(fc.constantFrom(...tokens, 'a', ' ', '0', '1.5'), { maxLength: 200 }).map((a) => a.join('')),
    ),
    mutate: (rng, input) => mutateText(rng, input, tokens, MAX_TEXT),
    run,
    expected,
  };
}

const none = () => false;

// ---- A1111 parameters, prompts ----------------------------------------------------------------------

const a1111Seed = 'a (red:1.2) apple, [blurry]\nNegative prompt: "bad", ugly\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x512, Model hash: abc, Lora hashes: "a: 1, b: 2", Version: v1.10';
export const a1111Target = textTarget('A1111 parameters', [a1111Seed, 'x\nSteps: 5, Seed: 2, Size: 64x64'], ['Steps: ', ', ', ': ', '"', '\\"', '\\', '\n', 'Negative prompt: ', 'Size: 9x9', ' ', '\t', 'é', '\u{1F600}'], (s) => void parseA1111(s), none);

export const promptTarget = textTarget(
  'prompt weights',
  ['a (red:1.2) apple [on] a ((table)) BREAK sky', '\\(literal\\) (x:-0.5) [[faded]]'],
  ['(', ')', '[', ']', ':', ':1.5)', '\\', 'BREAK', ' ', '\u3000', '٣', '1e308', '0.0000001'],
  (s) => void parsePromptAttention(s),
  (e) => e instanceof PromptError,
);

// ---- PNG metadata -----------------------------------------------------------------------------------

function png(chunks: Array<{ type: string; data: Uint8Array }>): Uint8Array {
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, 1);
  new DataView(ihdr.buffer).setUint32(4, 1);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const idat = deflateSync(Uint8Array.of(0, 0, 0, 0));
  return writeChunks([{ type: 'IHDR', data: ihdr }, ...chunks, { type: 'IDAT', data: idat }, { type: 'IEND', data: new Uint8Array() }]);
}

const studioChunk = JSON.stringify({ version: 1, request: { prompt: 'a cat', seed: 1, steps: 8 }, image: { width: 64, height: 64, seed: 1, batchIndex: 0 }, model: { name: 'emoji-lit' }, ep: 'cpu', studioVersion: '0.1.0' });
const pngSeeds = [
  png([encodeTextChunk('parameters', a1111Seed)]),
  png([encodeTextChunk('parameters', a1111Seed, { compress: true }), encodeTextChunk('studio', studioChunk)]),
  png([encodeTextChunk('prompt', JSON.stringify({ '3': { class_type: 'KSampler', inputs: { seed: 5, steps: 20, cfg: 7, sampler_name: 'euler', scheduler: 'normal', positive: ['6', 0] } }, '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a cat' } } }))]),
  png([encodeTextChunk('invokeai_metadata', JSON.stringify({ positive_prompt: 'a cat', seed: 3, steps: 30, cfg_scale: 7.5, width: 512, height: 512 }))]),
  png([{ type: 'zTXt', data: new Uint8Array([...Buffer.from('parameters\0\0'), ...deflateSync(Buffer.from(a1111Seed))]) }]),
];

/** Around the 8 MiB per-file budget, and far over it. */
const BOMB_LENGTHS = [8 * 2 ** 20 - 1, 8 * 2 ** 20, 8 * 2 ** 20 + 1, 16 * 2 ** 20, 40_000_000];
const bombs = new Map<number, Buffer>();

/**
 * `length` bytes of 'a', deflated; the large ones are made once (deflating 40 MB for every bomb made
 * the fuzzer, not the parser, the largest user of memory in the PNG campaign).
 */
function deflatedRun(length: number): Buffer {
  const cached = bombs.get(length);
  if (cached) return cached;
  const deflated = deflateSync(Buffer.alloc(length, 0x61), { level: 1 });
  if (BOMB_LENGTHS.includes(length)) bombs.set(length, deflated);
  return deflated;
}

/** Mutates a PNG either as raw bytes (CRCs break) or chunk by chunk with CRCs recomputed (parsers see the edit). */
function mutatePng(rng: Rng, input: Uint8Array, seeds: readonly Uint8Array[]): Uint8Array {
  if (rng.chance(0.3)) return mutateBytes(rng, input, seeds, MAX_BYTES);
  let chunks;
  try {
    chunks = readChunks(input);
  } catch {
    return mutateBytes(rng, rng.pick(seeds), seeds, MAX_BYTES);
  }
  const i = rng.int(chunks.length);
  if (rng.chance(0.2)) {
    // A compressed text chunk of a long repetitive text: per-file inflation limits are what this tests.
    const length = rng.chance(0.1) ? rng.pick(BOMB_LENGTHS) : 1 + rng.int(100_000);
    chunks.splice(i, 0, { type: 'zTXt', data: new Uint8Array(Buffer.concat([Buffer.from('parameters\0\0'), deflatedRun(length)])) });
  } else if (chunks[i].type !== 'IHDR') {
    chunks[i] = { type: chunks[i].type, data: mutateBytes(rng, chunks[i].data, [], MAX_BYTES) };
  }
  return writeChunks(chunks);
}

export const pngTarget: FuzzTarget<Uint8Array> = {
  name: 'PNG metadata',
  seeds: () => pngSeeds,
  arbitrary: fc.uint8Array({ maxLength: 400 }).map((tail) => new Uint8Array([...pngSeeds[0].subarray(0, 33), ...tail])),
  mutate: mutatePng,
  run: (b) => void readImageMetadata(b, 'fuzz.png'),
  expected: (e) => e instanceof PngFormatError,
};

// ---- safetensors ------------------------------------------------------------------------------------

const scratch = join(existsShm() ? '/dev/shm' : tmpdir(), `studio-fuzz-${process.pid}`);
mkdirSync(scratch, { recursive: true });
function existsShm(): boolean {
  try {
    mkdirSync('/dev/shm', { recursive: true });
    return true;
  } catch {
    return false;
  }
}

function safetensorsSeeds(): Uint8Array[] {
  const path = join(scratch, 'seed.safetensors');
  writeSafetensors(path, { 'model.diffusion_model.input_blocks.0.0.weight': { dtype: 'F32', shape: [2, 3], data: new Float32Array(6) }, 'x.bias': { dtype: 'F16', shape: [4], data: new Uint16Array(4) } }, { format: 'pt' });
  const a = new Uint8Array(readFileSync(path));
  return [a];
}

/** Edits the JSON header (and keeps the length prefix right) more often than the raw bytes. */
function mutateSafetensors(rng: Rng, input: Uint8Array, seeds: readonly Uint8Array[]): Uint8Array {
  if (input.length < 8 || rng.chance(0.3)) return mutateBytes(rng, input, seeds, MAX_BYTES);
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const n = Math.min(Number(view.getBigUint64(0, true)), input.length - 8);
  const header = Buffer.from(input.subarray(8, 8 + n)).toString('latin1');
  const edited = Buffer.from(mutateText(rng, header, ['{', '}', '[', ']', '"', ':', ',', '"dtype":"F32"', '"shape":[1,1]', '"data_offsets":[0,4]', '9007199254740993', '-1', '"__metadata__":{}'], MAX_BYTES), 'latin1');
  const out = new Uint8Array(8 + edited.length + (input.length - 8 - n));
  new DataView(out.buffer).setBigUint64(0, BigInt(edited.length), true);
  out.set(edited, 8);
  out.set(input.subarray(8 + n), 8 + edited.length);
  return out;
}

function openFile<T>(data: Uint8Array, name: string, open: (path: string) => T): T {
  const path = join(scratch, name);
  writeFileSync(path, data);
  return open(path);
}

export const safetensorsTarget: FuzzTarget<Uint8Array> = {
  name: 'safetensors header',
  seeds: safetensorsSeeds,
  arbitrary: fc.uint8Array({ maxLength: 300 }),
  mutate: mutateSafetensors,
  run: (b) => void openFile(b, 'fuzz.safetensors', (p) => SafetensorsFile.open(p)),
  expected: (e) => e instanceof SafetensorsError,
};

// ---- .pt: the pickle, and the zip around it ---------------------------------------------------------

function pickleSeeds(): Uint8Array[] {
  const dict = { odict: [['w', f32Tensor('0', [3, 4])], ['b', f32Tensor('1', [4])], ['n', { namespace: [['lr', { float: 0.1 }]] }]] as never, metadata: true };
  return [new Pickler().pickle(dict), new Pickler().pickle({ dict: [['ema', dict], ['args', { tuple: [1, 'x', null, true] }]] })];
}

export const pickleTarget: FuzzTarget<Uint8Array> = {
  name: '.pt pickle',
  seeds: pickleSeeds,
  arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => new Uint8Array([0x80, 2, ...b, 0x2e])),
  mutate: (rng, input, seeds) => mutateBytes(rng, input, seeds, MAX_BYTES),
  run: (b) => void unpickle(b, 'fuzz.pt/data.pkl'),
  expected: (e) => e instanceof UnsafePickleError,
};

function ptSeeds(): Uint8Array[] {
  const path = join(scratch, 'seed.pt');
  writePt(path, { odict: [['w', f32Tensor('0', [3, 4])], ['v', f32Tensor('1', [2], 1, 4)]] }, { '0': bytes(new Float32Array(12)), '1': bytes(new Float32Array(4)) });
  return [new Uint8Array(readFileSync(path))];
}

export const ptFileTarget: FuzzTarget<Uint8Array> = {
  name: '.pt archive',
  seeds: ptSeeds,
  arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => new Uint8Array([0x50, 0x4b, 3, 4, ...b])),
  mutate: (rng, input, seeds) => mutateBytes(rng, input, seeds, MAX_BYTES),
  run: (b) => void openFile(b, 'fuzz.pt', (p) => TorchPtFile.open(p)),
  expected: (e) => e instanceof TorchPtError,
};

// ---- presets, story and batch files -----------------------------------------------------------------

const jsonTokens = ['{', '}', '[', ']', '"', ':', ',', 'null', '-1', '1e999', '"name"', '"heads"', '"subjects"', '"scenes"', '"box"', '[0,0,1,1]', '\\u0000'];

function jsonTarget(name: string, seeds: string[], parse: (v: unknown) => unknown, expected: (e: unknown) => boolean): FuzzTarget<string> {
  return textTarget(name, seeds, jsonTokens, (s) => void parse(JSON.parse(s)), (e) => e instanceof SyntaxError || expected(e));
}

const presetSeed = JSON.stringify({ version: 1, name: 'sharp', model: 'emoji-dit', architecture: { kind: 'emoji-dit', layers: 4, heads: 4 }, scale: 1, heads: [{ layer: 1, head: 2, strength: 0.5 }] });
export const presetTarget = jsonTarget('head preset file', [presetSeed], (v) => parseHeadPreset(v, 'fuzz.json'), (e) => e instanceof HeadPresetError);

const storySeed = JSON.stringify({ subjects: [{ name: 'cat', box: [0, 0, 0.5, 1] }, { name: 'dog' }], scenes: [{ prompt: 'a cat and a dog', subjects: ['cat', 'dog'] }], seed: 1 });
export const storyTarget = jsonTarget('story file', [storySeed], (v) => parseStory(v, 'fuzz.json'), (e) => e instanceof StoryInputError);

const known = new Set(Object.keys(GENERATE_OPTIONS));
const batchKinds = ['fuzz.txt', 'fuzz.csv', 'fuzz.jsonl'];
export const batchTarget: FuzzTarget<string> = {
  ...textTarget('batch file', ['a cat --steps 4 --seed 1\n"a dog" --cfg 3', 'prompt,steps,seed\n"a, cat",4,1\n', '{"prompt":"a cat","steps":4}\n{"prompt":"x"}'], ['\n', ',', '"', '--', '--steps ', '--prompt ', '{', '}', ':', "'", '\\'], () => {}, (e) => e instanceof BatchFileError),
  run: (s) => {
    // The first character picks the format, so every format sees every kind of input.
    void readBatchRows(s, batchKinds[(s.charCodeAt(0) || 0) % 3], known);
  },
};

// ---- WebSocket API messages (parsing and validation; the live phases are in ws-frames.ts) -------------

const wsSeeds = [
  JSON.stringify({ type: 'call', id: 1, method: 'generate', params: { prompt: 'a cat', steps: 4, seed: 1 } }),
  JSON.stringify({ type: 'call', id: 2, method: 'cancel', params: {} }),
  JSON.stringify({ type: 'call', id: 3, method: 'nope', params: null }),
];
export const wsMessageTarget = jsonTarget(
  'WebSocket API message',
  wsSeeds,
  (v) => {
    // The same two steps ws-bridge.ts and dispatch.ts take before a handler runs; their refusals are results, not throws.
    const call = CallMessageSchema.safeParse(v);
    if (!call.success || !Object.hasOwn(apiMethods, call.data.method)) return;
    const parsed = apiMethods[call.data.method as keyof typeof apiMethods].params.safeParse(call.data.params);
    if (!parsed.success) void z.prettifyError(parsed.error);
  },
  none,
);

export const TARGETS = [
  a1111Target,
  promptTarget,
  pngTarget,
  safetensorsTarget,
  pickleTarget,
  ptFileTarget,
  presetTarget,
  storyTarget,
  batchTarget,
  wsMessageTarget,
  wsLiveMessageTarget(wsMessageTarget),
  wsFrameTarget,
] as unknown as FuzzTarget<unknown>[];
