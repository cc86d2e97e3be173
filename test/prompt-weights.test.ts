import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClipTokenizer } from '../pipelines/text/clip-tokenizer.ts';
import { parsePromptAttention, tokenizeWeighted } from '../pipelines/text/prompt-weights.ts';
import { fixture, skipWithoutFixtures } from './fixtures.ts';

// The examples of A1111's parse_prompt_attention docstring (modules/prompt_parser.py), exact floats included.
test('A1111 docstring examples', () => {
  assert.deepEqual(parsePromptAttention('normal text'), [['normal text', 1.0]]);
  assert.deepEqual(parsePromptAttention('an (important) word'), [['an ', 1.0], ['important', 1.1], [' word', 1.0]]);
  assert.deepEqual(parsePromptAttention('(unbalanced'), [['unbalanced', 1.1]]);
  assert.deepEqual(parsePromptAttention('\\(literal\\]'), [['(literal]', 1.0]]);
  assert.deepEqual(parsePromptAttention('(unnecessary)(parens)'), [['unnecessaryparens', 1.1]]);
  assert.deepEqual(parsePromptAttention('a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).'), [
    ['a ', 1.0],
    ['house', 1.5730000000000004],
    [' ', 1.1],
    ['on', 1.0],
    [' a ', 1.1],
    ['hill', 0.55],
    [', sun, ', 1.1],
    ['sky', 1.4641000000000006],
    ['.', 1.1],
  ]);
});

test('square brackets, escapes and unmatched brackets follow A1111', () => {
  const down = 1 / 1.1; // A1111 multiplies by this constant, so products must be formed the same way
  assert.deepEqual(parsePromptAttention('[faded]'), [['faded', down]]);
  assert.deepEqual(parsePromptAttention('[[faded]]'), [['faded', 1 * down * down]]);
  assert.deepEqual(parsePromptAttention('a \\\\ b'), [['a \\ b', 1.0]]);
  assert.deepEqual(parsePromptAttention('smile) face]'), [['smile) face]', 1.0]]);
  assert.deepEqual(parsePromptAttention('ratio 16:9'), [['ratio 16:9', 1.0]]);
  assert.deepEqual(parsePromptAttention('[dark (forest:1.5)'), [['dark ', down], ['forest', 1.5 * down]]);
  assert.deepEqual(parsePromptAttention(''), [['', 1.0]]);
  assert.throws(() => parsePromptAttention('(cat:1.2.3)'), /":1\.2\.3\)" is not a number/);
});

test('BREAK becomes a marker entry, only as a separate word', () => {
  assert.deepEqual(parsePromptAttention('a cat BREAK a dog'), [['a cat', 1.0], ['BREAK', -1], ['a dog', 1.0]]);
  assert.deepEqual(parsePromptAttention('BREAKING news'), [['BREAKING news', 1.0]]);
  assert.deepEqual(parsePromptAttention('(a BREAK b)'), [['a', 1.1], ['BREAK', -1.1], ['b', 1.1]]);
});

const skip = skipWithoutFixtures;
const tokenizer = () => ClipTokenizer.fromFolder(fixture('tokenizer'));

test('weights follow their tokens inside one chunk', { skip }, () => {
  const tok = tokenizer();
  const { chunks, tokenCount } = tokenizeWeighted(tok, 'a (red:1.5) apple on a [table]');
  assert.equal(chunks.length, 1);
  assert.deepEqual(chunks[0].ids, tok.encodePadded('a red apple on a table', { pad: 'eos' }));
  const content = tok.encode('a red apple on a table').length;
  assert.equal(tokenCount, content);
  const expected = [1, 1, 1.5, 1, 1, 1, 1 / 1.1, ...Array<number>(77 - 7).fill(1)];
  assert.deepEqual(chunks[0].weights, expected);
});

test('prompts over 75 tokens continue in further 77-token chunks', { skip }, () => {
  const tok = tokenizer();
  const prompt = Array.from({ length: 90 }, (_, i) => `word${i}`).join(' ');
  const all = tok.encode(prompt);
  const { chunks, tokenCount } = tokenizeWeighted(tok, prompt);
  assert.equal(chunks.length, Math.ceil(all.length / 75));
  for (const chunk of chunks) {
    assert.equal(chunk.ids.length, 77);
    assert.equal(chunk.ids[0], tok.bosId);
    assert.equal(chunk.ids[76], tok.eosId);
  }
  const content = chunks.flatMap((c) => c.ids.slice(1, 76)).slice(0, all.length);
  assert.deepEqual(content, all);
  assert.equal(tokenCount, all.length);
});

test('BREAK starts a new chunk padded like a short prompt', { skip }, () => {
  const tok = tokenizer();
  const { chunks, tokenCount } = tokenizeWeighted(tok, 'a cat BREAK a dog');
  assert.deepEqual(
    chunks.map((c) => c.ids),
    [tok.encodePadded('a cat', { pad: 'eos' }), tok.encodePadded('a dog', { pad: 'eos' })],
  );
  assert.equal(tokenCount, 75 + tok.encode('a dog').length);
});

test('a chunk that fills up within 20 tokens of a comma breaks after the comma', { skip }, () => {
  const tok = tokenizer();
  const [cat] = tok.encode('cat');
  assert.equal(tok.encode('cat cat').length, 2, 'the test needs "cat" to be one token');
  const comma = tok.tokenId(',</w>');
  const prompt = `${'cat '.repeat(70)}, ${'cat '.repeat(10)}`;
  const padded = (ids: number[]) => [tok.bosId, ...ids, ...Array<number>(76 - ids.length).fill(tok.eosId)];
  const cats = (n: number) => Array<number>(n).fill(cat);

  const backtracked = tokenizeWeighted(tok, prompt).chunks.map((c) => c.ids);
  assert.deepEqual(backtracked, [padded([...cats(70), comma]), padded(cats(10))]);

  const plain = tokenizeWeighted(tok, prompt, { commaBacktrack: 0 }).chunks.map((c) => c.ids);
  assert.deepEqual(plain, [padded([...cats(70), comma, ...cats(4)]), padded(cats(6))]);

  const farComma = `${'cat '.repeat(50)}, ${'cat '.repeat(30)}`;
  const far = tokenizeWeighted(tok, farComma).chunks.map((c) => c.ids);
  assert.deepEqual(far, [padded([...cats(50), comma, ...cats(24)]), padded(cats(6))]);
});

test('with ! padding every chunk is padded with ! after its first EOS', { skip }, () => {
  const tok = tokenizer();
  const { chunks } = tokenizeWeighted(tok, 'a cat BREAK a dog', { pad: '!' });
  assert.deepEqual(
    chunks.map((c) => c.ids),
    [tok.encodePadded('a cat', { pad: '!' }), tok.encodePadded('a dog', { pad: '!' })],
  );
});

test('an empty prompt gives one chunk of BOS and EOS padding', { skip }, () => {
  const tok = tokenizer();
  const { chunks, tokenCount } = tokenizeWeighted(tok, '');
  assert.deepEqual(chunks, [{ ids: tok.encodePadded('', { pad: 'eos' }), weights: Array<number>(77).fill(1) }]);
  assert.equal(tokenCount, 0);
});
