// Regression tests for the parser findings of issue 17, each with the input that once hung, crashed or
// blew up, plus property tests that the linear-time rewrites read exactly what A1111's regexes read.
// The inputs are far past where the old code took minutes; the test timeout bounds them (no timings).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { SafetensorsError, SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { MAX_MEMO, UnsafePickleError, unpickle } from '../pipelines/io/torch-pt/unpickle.ts';
import { parseA1111 } from '../pipelines/metadata/a1111.ts';
import { scanParams } from '../pipelines/metadata/a1111-params.ts';
import { PngFormatError, writeChunks, type PngChunk } from '../pipelines/metadata/png-chunks.ts';
import { MAX_INFLATED_BYTES_PER_FILE, readPngText } from '../pipelines/metadata/png-text.ts';
import { readImageMetadata } from '../pipelines/metadata/read-metadata.ts';
import { MAX_BRACKET_DEPTH, MAX_PROMPT_CHARS, MAX_WEIGHT, PromptError, parsePromptAttention, splitBreaks } from '../pipelines/text/prompt-weights.ts';

const BOUND = { timeout: 60_000 };
const dir = mkdtempSync(join(tmpdir(), 'studio-reliability-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// A1111's own patterns (modules/infotext_utils.py, prompt_parser.py), the reference the scanners must match.
const PARAM_RE = /\s*([\p{L}\p{N}\p{M}_][\p{L}\p{N}\p{M}_ \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)/gu;
const PY_SPACE = '[\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const BREAK_RE = new RegExp(`${PY_SPACE}*(?<![\\p{L}\\p{N}_])BREAK(?![\\p{L}\\p{N}_])${PY_SPACE}*`, 'u');

const paramText = fc.array(fc.constantFrom('Steps', ': ', ', ', ',', ':', '"', '\\', '\\"', 'a b', '-', '/', ' ', '\t', 'é', '\u{1F600}', '\u0301', '1', 'x', '\r', '\u2028'), { maxLength: 40 }).map((a) => a.join(''));
const breakText = fc.array(fc.constantFrom('BREAK', ' ', '\u3000', '\t', 'a', '_', 'é', '\u{1F600}', 'xBREAK', 'BREAKx'), { maxLength: 30 }).map((a) => a.join(''));

describe('A1111 parameters', () => {
  test('the scanner finds exactly the matches of re_param', () => {
    fc.assert(
      fc.property(fc.oneof(paramText, fc.string({ unit: 'binary' })), (line) => {
        const expected = [...line.matchAll(PARAM_RE)].map((m) => ({ key: m[1], value: m[2] }));
        assert.deepEqual(scanParams(line), expected);
      }),
      { numRuns: 3000 },
    );
  });

  test('a 1,000,000-character line is read (the regex took 9.4 s at 100k, quadratic)', BOUND, () => {
    const keyRun = `${'a'.repeat(1_000_000)}\nSteps: 20, Sampler: Euler, Seed: 3`;
    assert.deepEqual([parseA1111(keyRun).steps, parseA1111(keyRun).seed], [20, 3]);
    const unclosedQuotes = `x\n${'kk: "v,'.repeat(150_000)}`;
    assert.equal(Object.keys(parseA1111(unclosedQuotes).params).length, 1);
  });
});

describe('prompt weights', () => {
  test('BREAK splitting matches the regex split', () => {
    fc.assert(fc.property(breakText, (text) => assert.deepEqual(splitBreaks(text), text.split(BREAK_RE))), { numRuns: 3000 });
  });

  test("'(a'×100k + ')'×100k is refused at once by its length, with what to do", BOUND, () => {
    assert.throws(() => parsePromptAttention('(a'.repeat(100_000) + ')'.repeat(100_000)), (e: Error) => e instanceof PromptError && /300000 characters long; the studio reads at most 20000: shorten it/.test(e.message));
  });

  test('nesting deeper than the limit is refused; the limit itself is read', BOUND, () => {
    const nested = (n: number) => '('.repeat(n) + 'a' + ')'.repeat(n);
    assert.throws(() => parsePromptAttention('(a'.repeat(MAX_PROMPT_CHARS / 4) + ')'.repeat(MAX_PROMPT_CHARS / 4)), (e: Error) => e instanceof PromptError && /nests brackets more than 32 deep/.test(e.message));
    const [[text, weight]] = parsePromptAttention(nested(MAX_BRACKET_DEPTH));
    assert.equal(text, 'a');
    assert.ok(Math.abs(weight - 1.1 ** MAX_BRACKET_DEPTH) < 1e-9);
    assert.throws(() => parsePromptAttention(nested(MAX_BRACKET_DEPTH + 1)), PromptError);
  });

  test('runs of spaces around BREAK are read in one pass', BOUND, () => {
    const spaces = ' '.repeat(MAX_PROMPT_CHARS - 20);
    assert.deepEqual(parsePromptAttention(`a${spaces}BREAK b`), [['a', 1], ['BREAK', -1], ['b', 1]]);
    assert.deepEqual(parsePromptAttention(`a${spaces}b`), [[`a${spaces}b`, 1]]);
  });

  test('weights never become Infinity or denormals', () => {
    assert.throws(() => parsePromptAttention(`(cat:${'9'.repeat(400)})`), (e: Error) => e instanceof PromptError && /out of range; weights go from -100 to 100/.test(e.message));
    assert.throws(() => parsePromptAttention('(cat:101)'), PromptError);
    assert.deepEqual(parsePromptAttention(`(cat:0.${'0'.repeat(320)}1)`), [['cat', 0]]);
    const [[, heavy]] = parsePromptAttention(`${'('.repeat(MAX_BRACKET_DEPTH - 1)}(cat:100)${')'.repeat(MAX_BRACKET_DEPTH - 1)}`);
    assert.equal(heavy, MAX_WEIGHT);
  });
});

// ---- .pt pickles ------------------------------------------------------------------------------------

const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
const str = (s: string) => [0x58, ...u32(s.length), ...Buffer.from(s)];

describe('.pt unpickler', () => {
  test('BINUNICODE8 with a negative length is refused (it looped forever)', BOUND, () => {
    const pickle = Uint8Array.from([0x80, 2, 0x8d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x61, 0x62, 0x63, 0x2e]);
    assert.throws(() => unpickle(pickle, 'x.pkl'), (e: Error) => e instanceof UnsafePickleError && /declares a length of -1/.test(e.message));
  });

  test('300k APPENDS items are appended without overflowing the stack', BOUND, () => {
    const n = 300_000;
    const pickle = Uint8Array.from([0x80, 2, 0x5d, 0x28, ...new Array<number>(n).fill(0x4e), 0x65, 0x2e]);
    const list = unpickle(pickle, 'x.pkl') as unknown[];
    assert.equal(list.length, n);
  });

  test('a list that contains itself in an error message is described, not JSON-stringified', () => {
    // ('storage', torch.FloatStorage, <a list containing itself>, 'cpu', 1) as a persistent id
    const pickle = Uint8Array.from([0x80, 2, 0x28, ...str('storage'), 0x63, ...Buffer.from('torch\nFloatStorage\n'), 0x5d, 0x71, 0, 0x68, 0, 0x61, ...str('cpu'), 0x4b, 1, 0x74, 0x51, 0x2e]);
    assert.throws(() => unpickle(pickle, 'x.pkl'), (e: Error) => e instanceof UnsafePickleError && /storage key a list of 1 items is not a plain name/.test(e.message));
  });

  test('MEMOIZE past the memo bound is refused (20 M ops took 48 s and 766 MiB)', BOUND, () => {
    const pickle = new Uint8Array(MAX_MEMO + 5).fill(0x94);
    pickle.set([0x80, 2, 0x5d]);
    pickle[pickle.length - 1] = 0x2e;
    assert.throws(() => unpickle(pickle, 'x.pkl'), (e: Error) => e instanceof UnsafePickleError && /more than 1000000 memo entries/.test(e.message));
  });
});

// ---- PNG text -------------------------------------------------------------------------------------

function pngWith(chunks: PngChunk[]): Uint8Array {
  const ihdr = Uint8Array.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]);
  return writeChunks([{ type: 'IHDR', data: ihdr }, ...chunks, { type: 'IDAT', data: deflateSync(Uint8Array.of(0, 0, 0, 0)) }, { type: 'IEND', data: new Uint8Array() }]);
}
const zTXt = (keyword: string, inflated: Uint8Array): PngChunk => ({ type: 'zTXt', data: Uint8Array.from([...Buffer.from(`${keyword}\0\0`), ...deflateSync(inflated)]) });

describe('PNG text', () => {
  test('inflation is budgeted per file, not per chunk (16 zTXt chunks cost 57 s and 1.26 GiB)', BOUND, () => {
    const bomb = zTXt('parameters', new Uint8Array(64 * 1024 * 1024));
    const png = pngWith(Array.from({ length: 16 }, () => bomb));
    assert.ok(png.length < 2_000_000);
    assert.throws(() => readImageMetadata(png, 'bomb.png'), (e: Error) => e instanceof PngFormatError && /decompress to more than 8388608 bytes in all/.test(e.message));
    // Two chunks that each fit but together do not.
    const half = zTXt('comment', new Uint8Array(MAX_INFLATED_BYTES_PER_FILE / 2 + 1));
    assert.throws(() => readPngText(pngWith([half, half])), PngFormatError);
    assert.equal(readPngText(pngWith([half])).length, 1);
  });

  test('A1111 parameters far longer than any infotext are reported, not parsed', BOUND, () => {
    const long = pngWith([zTXt('parameters', Buffer.from(`${'a'.repeat(4_000_000)}\nSteps: 2, Seed: 1, Size: 64x64`))]);
    const meta = readImageMetadata(long, 'long.png');
    assert.equal(meta.a1111, undefined);
    assert.match(meta.warnings.join(' '), /A1111 parameters are 4000031 characters long/);
  });
});

// ---- safetensors headers ----------------------------------------------------------------------------

function safetensorsWithHeader(name: string, header: string): string {
  const json = Buffer.from(header);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([len, json]));
  return path;
}

describe('safetensors headers', () => {
  test('too many entries are refused before JSON.parse (a 100 MB header took 45–115 s and 5 GiB)', BOUND, () => {
    const entries = Array.from({ length: 60_000 }, (_, i) => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`);
    const path = safetensorsWithHeader('many.safetensors', `{${entries.join(',')}}`);
    assert.throws(() => SafetensorsFile.open(path), (e: Error) => e instanceof SafetensorsError && /lists 60000 entries; the studio reads at most 50000/.test(e.message));
  });

  test('nesting deeper than safetensors uses is refused', () => {
    const path = safetensorsWithHeader('deep.safetensors', `{"a":{"dtype":"F32","shape":${'['.repeat(100_000)}${']'.repeat(100_000)},"data_offsets":[0,0]}}`);
    assert.throws(() => SafetensorsFile.open(path), (e: Error) => e instanceof SafetensorsError && /nests 100002 levels deep where safetensors has 3/.test(e.message));
  });

  test('brackets and colons inside strings do not count', () => {
    const path = safetensorsWithHeader('strings.safetensors', '{"__metadata__":{"note":"[{:}] \\" {{"},"w":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}');
    assert.deepEqual(SafetensorsFile.open(path).keys(), ['w']);
  });
});
