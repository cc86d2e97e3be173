// The project's own generator of wordings for the emoji models: paraphrases, synonyms and short
// descriptions of each emoji, built only from its names, keywords and category (emoji-datasource,
// emojibase-data) and the frames written here. Held-out wordings use phrases ("boot for hiking",
// "puppy dog face") that never appear in training for that emoji, in any frame.
//
//   cd training/dataset && npm ci && node wordings.mjs --out DIR [--concepts FILE]
// Writes DIR/wordings.json.gz (vocabulary additions, per-emoji train and held-out wordings), DIR/real32-noto.png
// and DIR/real32-twemoji.png (every emoji at 32×32 on white, 256 colours: the recogniser's training images),
// and FILE (default assets/models/emoji-text/concepts.json: the names the studio falls back to).
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { cleanName, uniqueNames } from './captions.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../..');
const require = createRequire(import.meta.url);

const SEED = 20261204;
const HELD_OUT_PERCENT = 15;
const FRAMES_PER_TRAIN_PHRASE = 4;
const MAX_CLASSES_PER_TRAIN_PHRASE = 3;
const EVAL_WORDINGS = 768;
const REAL_TILE = 32;
const STYLES = [
  { key: 'google', word: 'noto' },
  { key: 'twitter', word: 'twemoji' },
];
// `{x}` is the phrase; `{a}` its article.
const FRAMES = [
  '{x}', '{a} {x}', 'the {x}', 'an image of {a} {x}', 'a picture of {a} {x}', 'an icon of {a} {x}', '{a} {x} icon',
  '{x} emoji', '{a} {x} emoji', 'a drawing of {a} {x}', 'a little {x}', 'a cute {x}', 'a small {x}', 'show me {a} {x}',
  'draw {a} {x}', '{a} {x} symbol', 'a simple {x}', 'one {x}', 'a single {x}', 'a nice {x}', 'a cartoon {x}',
  '{a} {x} sticker', 'an emoji of {a} {x}', 'i want {a} {x}', 'please draw {a} {x}', 'a big {x}', 'this is {a} {x}',
];
const CONNECTORS = ['for', 'of', 'with'];

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A stable 0–99 bucket for a string (FNV-1a), so the held-out split never changes between runs. */
function bucket(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h % 100;
}

const article = (x) => (/^[aeiou]/.test(x) ? 'an' : 'a');
const frame = (f, x) => f.replace('{a}', article(x)).replace('{x}', x);
const hexKey = (hex) => hex.toUpperCase().split('-').filter((p) => p !== 'FE0F').join('-');

function loadClasses() {
  const emoji = require('emoji-datasource-google/emoji.json');
  const base = require('emojibase-data/en/data.json');
  const byHex = new Map(base.map((e) => [hexKey(e.hexcode), e]));
  const heldOut = new Set(readFileSync(join(here, 'holdout.txt'), 'utf8').split('\n').map((l) => l.split('\t')[0].trim()).filter(Boolean));
  const classes = [];
  for (const e of [...emoji].sort((a, b) => a.sort_order - b.sort_order)) {
    if (e.category === 'Component') continue;
    const info = byHex.get(hexKey(e.unified));
    const label = cleanName(info?.label ?? e.name);
    const names = uniqueNames([label, cleanName(e.name ?? ''), ...e.short_names.map(cleanName)]).filter((n) => !/\d/.test(n) || /\d/.test(label));
    const tags = uniqueNames((info?.tags ?? []).map(cleanName)).filter((t) => t && !names.includes(t));
    classes.push({ hexcode: e.unified, label, names, tags, subcategory: cleanName(e.subcategory ?? ''), image: e.image, heldOut: heldOut.has(e.unified) });
  }
  return classes;
}

/** Every phrase that names or describes the emoji (without a frame). */
function phrases(c) {
  const out = [...c.names, ...c.tags];
  const t = c.tags;
  for (let i = 0; i < t.length; i++) for (let j = i + 1; j < Math.min(t.length, 6); j++) out.push(`${t[i]} ${t[j]}`);
  for (const n of c.names) {
    const w = n.split(' ');
    if (w.length === 2) for (const k of CONNECTORS) out.push(`${w[1]} ${k} ${w[0]}`, `${w[1]} ${k} ${article(w[0])} ${w[0]}`);
    for (const tag of t.slice(0, 4)) if (!n.split(' ').includes(tag)) out.push(`${tag} ${n}`, `${n} ${tag}`, `${n} with ${tag}`);
  }
  if (t.length >= 3) out.push(`${t[0]}, ${t[1]} and ${t[2]}`);
  if (c.subcategory) out.push(`${c.label}, ${c.subcategory}`);
  return uniqueNames(out);
}

function build(classes) {
  const random = rng(SEED);
  const pick = (xs) => xs[Math.floor(random() * xs.length)];
  const trained = classes.filter((c) => !c.heldOut);
  const owners = new Map();
  const perClass = trained.map((c) => phrases(c));
  perClass.forEach((ps, i) => ps.forEach((p) => owners.set(p, [...(owners.get(p) ?? []), i])));
  const items = trained.map((c, i) => {
    const train = [];
    const heldOut = [];
    for (const p of perClass[i]) {
      const classesNamed = owners.get(p).length;
      const isHeldOut = p !== c.label && bucket(`${c.hexcode}|${p}`) < HELD_OUT_PERCENT;
      if (isHeldOut) {
        // Scored only when the phrase names this emoji alone.
        if (classesNamed === 1) heldOut.push(frame(pick(FRAMES), p));
      } else if (classesNamed <= MAX_CLASSES_PER_TRAIN_PHRASE) {
        const frames = new Set([FRAMES[0], ...Array.from({ length: FRAMES_PER_TRAIN_PHRASE - 1 }, () => pick(FRAMES))]);
        for (const f of frames) train.push(frame(f, p));
      }
    }
    return { hexcode: c.hexcode, label: c.label, train: uniqueNames(train), heldOut };
  });
  // The held-out wordings that go into the score: a fixed draw, at most one per emoji.
  const scored = items.filter((it) => it.heldOut.length > 0);
  for (let i = scored.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [scored[i], scored[j]] = [scored[j], scored[i]];
  }
  const evalSet = scored.slice(0, EVAL_WORDINGS).map((it) => ({ hexcode: it.hexcode, label: it.label, wording: pick(it.heldOut) }));
  const trainText = new Set(items.flatMap((it) => it.train));
  for (const e of evalSet) if (trainText.has(e.wording)) throw new Error(`held-out wording "${e.wording}" is also a training wording`);
  return { items, evalSet };
}

async function realAtlas(classes, style) {
  const sharp = require(join(repoRoot, 'node_modules/sharp'));
  const T = REAL_TILE;
  const tiles = await Promise.all(
    classes.map((c) => {
      const file = join(dirname(require.resolve(`emoji-datasource-${style.key}/package.json`)), 'img', style.key, '64', c.image);
      return sharp(file).resize(T, T, { fit: 'contain', background: '#ffffff' }).flatten({ background: '#ffffff' }).removeAlpha().raw().toBuffer();
    }),
  );
  const columns = 64;
  const width = columns * T;
  const rows = Math.ceil(tiles.length / columns);
  const pixels = Buffer.alloc(width * rows * T * 3, 255);
  tiles.forEach((tile, i) => {
    const x0 = (i % columns) * T;
    const y0 = Math.floor(i / columns) * T;
    for (let y = 0; y < T; y++) tile.copy(pixels, ((y0 + y) * width + x0) * 3, y * T * 3, (y + 1) * T * 3);
  });
  return sharp(pixels, { raw: { width, height: rows * T, channels: 3 } }).png({ compressionLevel: 9, palette: true, colours: 256, quality: 90 }).toBuffer();
}

async function main() {
  const arg = (name, fallback) => (process.argv.includes(name) ? resolve(process.argv[process.argv.indexOf(name) + 1]) : fallback);
  const out = arg('--out', join(repoRoot, '.cache/emoji-wordings'));
  const conceptsFile = arg('--concepts', join(repoRoot, 'assets/models/emoji-text/concepts.json'));
  const vocab = JSON.parse(readFileSync(join(repoRoot, 'assets/models/emoji-text/words.json'), 'utf8'));
  const classes = loadClasses();
  const { items, evalSet } = build(classes);
  const known = new Set(vocab);
  const words = (s) => s.split(/[^a-z0-9]+/).filter(Boolean);
  const added = [...new Set(items.flatMap((it) => it.train.flatMap(words)))].filter((w) => !known.has(w)).sort();
  const meta = { seed: SEED, tile: REAL_TILE, styles: STYLES.map((s) => s.word), classes: classes.map((c) => ({ hexcode: c.hexcode, label: c.label, heldOut: c.heldOut })), added, items, eval: evalSet };
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'wordings.json.gz'), gzipSync(Buffer.from(JSON.stringify(meta)), { level: 9 }));
  for (const style of STYLES) writeFileSync(join(out, `real32-${style.word}.png`), await realAtlas(classes, style));
  writeFileSync(conceptsFile, `${JSON.stringify(classes.filter((c) => !c.heldOut).map((c) => c.label))}\n`);
  const trainCount = items.reduce((n, it) => n + it.train.length, 0);
  console.log(`${items.length} emoji: ${trainCount} training wordings, ${evalSet.length} held-out wordings scored, ${added.length} new words -> ${out}`);
}

await main();
