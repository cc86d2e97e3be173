// Builds the emoji text-to-image training set: every Noto and Twemoji image (and single-tone skin
// variants) composited on white at 64x64, caption lists per image, and fixed two-emoji left/right
// compositions. Output: one pack file read by training/emoji/data.py (format in writePack below).
//
//   cd training/dataset && npm ci && node build.mjs [--out DIR]
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { captionsForSingle, captionsForPair, cleanName, uniqueNames } from './captions.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../..');
const require = createRequire(import.meta.url);
const sharp = loadSharp();

const TILE = 64;
const ATLAS_COLUMNS = 128;
const PAIRS_PER_STYLE = 2000;
const HOLDOUT_COUNT = 64;
const SEED = 20251122;
const STYLES = [
  { key: 'google', word: 'noto', pkg: 'emoji-datasource-google' },
  { key: 'twitter', word: 'twemoji', pkg: 'emoji-datasource-twitter' },
];
// Prompts the studio's own examples use stay in training, whatever the random pick says.
const NEVER_HOLD_OUT = new Set(['cat face', 'red heart', 'grinning face', 'dog face', 'pizza', 'smiling face with smiling eyes', 'grinning cat']);
const TONE_WORDS = { '1F3FB': 'light', '1F3FC': 'medium light', '1F3FD': 'medium', '1F3FE': 'medium dark', '1F3FF': 'dark' };

function loadSharp() {
  try {
    return require('sharp');
  } catch {
    return require(join(repoRoot, 'node_modules/sharp'));
  }
}

function parseArgs(argv) {
  const outIndex = argv.indexOf('--out');
  const out = outIndex >= 0 ? argv[outIndex + 1] : join(repoRoot, '.cache/emoji-data');
  if (!out) throw new Error('--out needs a directory');
  return { out: resolve(out) };
}

// Deterministic PRNG (mulberry32) so the hold-out list and the compositions never change between builds.
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

const hexKey = (hex) => hex.toUpperCase().split('-').filter((p) => p !== 'FE0F').join('-');

function loadClasses() {
  const emoji = require('emoji-datasource-google/emoji.json');
  const base = require('emojibase-data/en/data.json');
  const byHex = new Map(base.map((e) => [hexKey(e.hexcode), e]));
  const classes = [];
  for (const e of [...emoji].sort((a, b) => a.sort_order - b.sort_order)) {
    if (e.category === 'Component') continue; // bare skin-tone swatches and hair parts
    const info = byHex.get(hexKey(e.unified));
    const label = cleanName(info?.label ?? e.name);
    const names = uniqueNames([label, cleanName(e.name ?? ''), ...e.short_names.map(cleanName)]);
    const tones = Object.entries(e.skin_variations ?? {})
      .filter(([key]) => TONE_WORDS[key])
      .map(([key, v]) => ({ tone: TONE_WORDS[key], image: v.image }));
    classes.push({
      hexcode: e.unified,
      label,
      names,
      tags: (info?.tags ?? []).map(cleanName).filter(Boolean),
      category: e.category,
      image: e.image,
      tones,
    });
  }
  return classes;
}

// A held-out emoji must be expressible with words the generator sees elsewhere, so that its
// prompt tests composition of known words rather than <unk>.
function chooseHoldout(classes) {
  const file = join(here, 'holdout.txt');
  if (existsSync(file)) {
    const wanted = readFileSync(file, 'utf8').split('\n').map((l) => l.split('\t')[0].trim()).filter(Boolean);
    const known = new Set(classes.map((c) => c.hexcode));
    for (const h of wanted) if (!known.has(h)) throw new Error(`holdout.txt names ${h}, which is not in the emoji data; delete the line or the file`);
    return new Set(wanted);
  }
  const random = rng(SEED);
  const wordCount = new Map();
  for (const c of classes) for (const w of new Set(c.names.join(' ').split(' '))) wordCount.set(w, (wordCount.get(w) ?? 0) + 1);
  const candidates = classes.filter(
    (c) => c.category !== 'Flags' && !NEVER_HOLD_OUT.has(c.label) && c.label.split(' ').length >= 2 && c.label.split(' ').every((w) => (wordCount.get(w) ?? 0) >= 3),
  );
  const picked = new Set();
  while (picked.size < HOLDOUT_COUNT) picked.add(candidates[Math.floor(random() * candidates.length)].hexcode);
  const lines = classes.filter((c) => picked.has(c.hexcode)).map((c) => `${c.hexcode}\t${c.label}`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return picked;
}

async function tileOnWhite(file) {
  return sharp(file).resize(TILE, TILE, { fit: 'contain', background: '#ffffff' }).flatten({ background: '#ffffff' }).removeAlpha().raw().toBuffer();
}

async function pairOnWhite(leftFile, rightFile) {
  const half = TILE / 2;
  const small = (f) => sharp(f).resize(half, half, { kernel: 'lanczos3' }).png().toBuffer();
  const [left, right] = await Promise.all([small(leftFile), small(rightFile)]);
  return sharp({ create: { width: TILE, height: TILE, channels: 4, background: '#ffffff' } })
    .composite([
      { input: left, left: 0, top: half / 2 },
      { input: right, left: half, top: half / 2 },
    ])
    .flatten({ background: '#ffffff' })
    .removeAlpha()
    .raw()
    .toBuffer();
}

function imagePath(style, image) {
  const file = join(dirname(require.resolve(`${style.pkg}/package.json`)), 'img', style.key, '64', image);
  if (!existsSync(file)) throw new Error(`missing emoji image ${file}; reinstall training/dataset dependencies (npm ci)`);
  return file;
}

async function main() {
  const { out } = parseArgs(process.argv.slice(2));
  const classes = loadClasses();
  const holdout = chooseHoldout(classes);
  const records = [];
  const jobs = [];
  for (const [cls, c] of classes.entries()) {
    for (const style of STYLES) {
      const variants = [{ tone: null, image: c.image }, ...c.tones];
      for (const v of variants) {
        records.push({ kind: 'single', cls, style: style.word, tone: v.tone, captions: captionsForSingle(c, style.word, v.tone) });
        jobs.push(() => tileOnWhite(imagePath(style, v.image)));
      }
    }
  }
  const random = rng(SEED + 1);
  const trainable = classes.map((c, i) => ({ c, i })).filter(({ c }) => !holdout.has(c.hexcode));
  for (const style of STYLES) {
    for (let k = 0; k < PAIRS_PER_STYLE; k++) {
      const a = trainable[Math.floor(random() * trainable.length)];
      let b = trainable[Math.floor(random() * trainable.length)];
      while (b.i === a.i) b = trainable[Math.floor(random() * trainable.length)];
      records.push({ kind: 'pair', cls: a.i, cls2: b.i, style: style.word, tone: null, captions: captionsForPair(a.c, b.c, style.word) });
      jobs.push(() => pairOnWhite(imagePath(style, a.c.image), imagePath(style, b.c.image)));
    }
  }
  const tiles = await runLimited(jobs, 16);
  const atlas = await packAtlas(tiles);
  const meta = {
    version: 1,
    tile: TILE,
    columns: ATLAS_COLUMNS,
    styles: STYLES.map((s) => s.word),
    classes: classes.map((c) => ({ hexcode: c.hexcode, label: c.label, names: c.names, category: c.category, heldout: holdout.has(c.hexcode) })),
    images: records,
  };
  mkdirSync(out, { recursive: true });
  const file = join(out, 'emoji64.pack');
  writePack(file, meta, atlas);
  const singles = records.filter((r) => r.kind === 'single').length;
  console.log(`${classes.length} emoji (${holdout.size} held out), ${singles} single images, ${records.length - singles} pairs -> ${file}`);
}

async function runLimited(jobs, limit) {
  const results = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return results;
}

async function packAtlas(tiles) {
  const rows = Math.ceil(tiles.length / ATLAS_COLUMNS);
  const width = ATLAS_COLUMNS * TILE;
  const pixels = Buffer.alloc(width * rows * TILE * 3, 255);
  tiles.forEach((tile, i) => {
    const x0 = (i % ATLAS_COLUMNS) * TILE;
    const y0 = Math.floor(i / ATLAS_COLUMNS) * TILE;
    for (let y = 0; y < TILE; y++) tile.copy(pixels, ((y0 + y) * width + x0) * 3, y * TILE * 3, (y + 1) * TILE * 3);
  });
  return sharp(pixels, { raw: { width, height: rows * TILE, channels: 3 }, limitInputPixels: false })
    .png({ compressionLevel: 9, adaptiveFiltering: true })
    .toBuffer();
}

// Pack layout: ASCII "EMJPACK1", uint32 LE byte length of the gzipped JSON metadata, the metadata,
// uint32 LE byte length of the PNG atlas, the atlas (RGB, tiles row-major in metadata.images order).
function writePack(file, meta, png) {
  const json = gzipSync(Buffer.from(JSON.stringify(meta)), { level: 9 });
  const header = Buffer.from('EMJPACK1', 'ascii');
  const len = (n) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  writeFileSync(file, Buffer.concat([header, len(json.length), json, len(png.length), png]));
}

await main();
