import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, copyFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClipTokenizer } from '../pipelines/text/clip-tokenizer.ts';
import { fixture, skipWithoutFixtures } from './fixtures.ts';

interface TokenizerGolden {
  prompts: string[];
  input_ids: number[][];
  input_ids_pad_bang: number[][];
}

function loadGolden(): TokenizerGolden {
  return JSON.parse(readFileSync(fixture('tokenizer_golden.json'), 'utf8')) as TokenizerGolden;
}

test('ids padded with <|endoftext|> match HF CLIPTokenizer for every golden prompt', { skip: skipWithoutFixtures }, () => {
  const golden = loadGolden();
  const tokenizer = ClipTokenizer.fromFolder(fixture('tokenizer'));
  assert.equal(golden.prompts.length, golden.input_ids.length);
  golden.prompts.forEach((prompt, i) => {
    assert.deepEqual(tokenizer.encodePadded(prompt, { pad: 'eos' }), golden.input_ids[i], `prompt ${JSON.stringify(prompt)}`);
  });
});

test('ids padded with ! match HF CLIPTokenizer (SDXL second tokenizer) for every golden prompt', { skip: skipWithoutFixtures }, () => {
  const golden = loadGolden();
  const tokenizer = ClipTokenizer.fromFolder(fixture('tokenizer'));
  golden.prompts.forEach((prompt, i) => {
    assert.deepEqual(tokenizer.encodePadded(prompt, { pad: '!' }), golden.input_ids_pad_bang[i], `prompt ${JSON.stringify(prompt)}`);
  });
});

test('special token ids come from the vocabulary and encode() leaves them out', { skip: skipWithoutFixtures }, () => {
  const golden = loadGolden();
  const tokenizer = ClipTokenizer.fromFolder(fixture('tokenizer'));
  const empty = golden.input_ids[golden.prompts.indexOf('')];
  assert.equal(tokenizer.bosId, empty[0]);
  assert.equal(tokenizer.eosId, empty[1]);
  const first = golden.input_ids[0];
  assert.deepEqual(tokenizer.encode(golden.prompts[0]), first.slice(1, first.indexOf(tokenizer.eosId)));
});

test('the pad token of tokenizer_config.json becomes the default padding', { skip: skipWithoutFixtures }, () => {
  const golden = loadGolden();
  const first = ClipTokenizer.fromFolder(fixture('sdxl-tiny', 'tokenizer'));
  const second = ClipTokenizer.fromFolder(fixture('sdxl-tiny', 'tokenizer_2'));
  assert.equal(first.defaultPad, 'eos');
  assert.equal(second.defaultPad, '!');
  assert.deepEqual(second.encodePadded(golden.prompts[0]), golden.input_ids_pad_bang[0]);
});

test('a folder without vocab files names the missing files and where they belong', { skip: skipWithoutFixtures }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'clip-tok-'));
  try {
    assert.throws(() => ClipTokenizer.fromFolder(dir), /vocab\.json, merges\.txt.*tokenizer\/.*tokenizers\/clip\//);
    copyFileSync(fixture('tokenizer', 'vocab.json'), join(dir, 'vocab.json'));
    assert.throws(
      () => ClipTokenizer.fromFolder(dir),
      (e: Error) => e.message.includes(`missing in ${dir}: merges.txt.`) && !e.message.includes('vocab.json,'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
