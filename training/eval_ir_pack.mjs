// The recogniser needs only single-emoji images, and training/eval_ir.py a few real pairs as the
// ceiling of its crop protocol: this writes a pack of the same format holding the atlas rows up to the
// last single plus PAIR_ROWS rows of pairs (build.mjs writes singles first), lossless PNG, small
// enough (~18 MB) to travel with the repo to the device machine.
//
//   node training/eval_ir_pack.mjs .cache/emoji-data/emoji64.pack .cache/ir-eval/device/eval.pack
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { gunzipSync, gzipSync } from 'node:zlib';

const sharp = createRequire(new URL('../package.json', import.meta.url))('sharp');
const PAIR_ROWS = 2;

const [src, dst, flag] = process.argv.slice(2);
if (!src || !dst) throw new Error('usage: node training/eval_ir_pack.mjs PACK OUT [--pairs-only]');
// --pairs-only: from the atlas row of the first pair on (a few singles share it), for scoring with a trained recogniser.
const pairsOnly = flag === '--pairs-only';
const raw = readFileSync(src);
if (raw.subarray(0, 8).toString('ascii') !== 'EMJPACK1') throw new Error(`${src} is not an emoji pack (build it with training/dataset/build.mjs)`);
const jsonLen = raw.readUInt32LE(8);
const meta = JSON.parse(gunzipSync(raw.subarray(12, 12 + jsonLen)).toString('utf8'));
const pngLen = raw.readUInt32LE(12 + jsonLen);
const png = raw.subarray(16 + jsonLen, 16 + jsonLen + pngLen);
const singles = meta.images.findIndex((r) => r.kind !== 'single');
if (singles < 0 || meta.images.slice(singles).some((r) => r.kind === 'single')) throw new Error(`${src}: singles do not all come before the pairs`);
const rows = Math.ceil(singles / meta.columns) + PAIR_ROWS;
const first = pairsOnly ? Math.floor(singles / meta.columns) : 0;
const kept = Math.min(meta.images.length, rows * meta.columns);
const { width } = await sharp(png, { limitInputPixels: false }).metadata();
// No `effort`/`quality`: either turns on palette quantisation, which is lossy.
const atlas = await sharp(png, { limitInputPixels: false }).extract({ left: 0, top: first * meta.tile, width, height: (rows - first) * meta.tile }).png({ compressionLevel: 9 }).toBuffer();
const json = gzipSync(Buffer.from(JSON.stringify({ ...meta, images: meta.images.slice(first * meta.columns, kept) })), { level: 9 });
const u32 = (v) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
};
writeFileSync(dst, Buffer.concat([Buffer.from('EMJPACK1', 'ascii'), u32(json.length), json, u32(atlas.length), atlas]));
console.log(`${Math.max(0, singles - first * meta.columns)} singles + ${kept - singles} pairs in ${rows - first} atlas rows: ${atlas.length} bytes of PNG (was ${pngLen})`);
