// Contact sheet of the IR evaluation set (training/eval_ir_stories.ts): for a few stories, the two
// references, then the three scenes with IR off, with IR (official settings) and with IR without the
// mutual cross-attention, each row labelled; boxes drawn as thin outlines.
//
//   node --import tsx training/eval_ir_sheet.ts .cache/ir-eval/device docs/ir-emoji-contact.png 0,3,6,9
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Variant } from './eval_ir_stories.ts';

const SCALE = 2;
const TILE = 64 * SCALE;
const GAP = 6;
const LABEL = 190;
const HEADER = 28;
const ROWS: Array<[Variant, string]> = [['off', 'IR off'], ['ir', 'IR (official)'], ['ir-no-cross', 'IR, no mutual cross-attn']];

interface Index {
  count: number;
  file: string;
  stories: Array<{ id: number; subjects: Array<{ name: string; label: string }>; references: number[]; scenes: Array<{ prompt: string; boxes: Record<string, number[]>; images: Record<Variant, number> }> }>;
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function text(lines: string[], width: number, height: number, size = 15, anchor: 'start' | 'middle' = 'start'): Buffer {
  const x = anchor === 'middle' ? width / 2 : 4;
  const body = lines.map((l, i) => `<text x="${x}" y="${size + 2 + i * (size + 3)}" font-family="DejaVu Sans, Arial, sans-serif" font-size="${size}" text-anchor="${anchor}" fill="#111">${escape(l)}</text>`).join('');
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${body}</svg>`);
}

function boxOutline(boxes: number[][]): Buffer {
  const colours = ['#1f77b4', '#d62728'];
  const rects = boxes.map((b, i) => `<rect x="${b[0] * TILE + 0.5}" y="${b[1] * TILE + 0.5}" width="${(b[2] - b[0]) * TILE - 1}" height="${(b[3] - b[1]) * TILE - 1}" fill="none" stroke="${colours[i % 2]}" stroke-width="1" stroke-dasharray="4 3"/>`).join('');
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${TILE}" height="${TILE}">${rects}</svg>`);
}

async function main(): Promise<void> {
  const [dir, out, which = '0,1,2,3'] = process.argv.slice(2);
  if (!dir || !out) throw new Error('usage: eval_ir_sheet.ts IMAGES_DIR OUT.png [STORY,STORY,…]');
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Index;
  const pixels = readFileSync(join(dir, index.file));
  const tile = async (i: number) => sharp(pixels.subarray(i * 64 * 64 * 3, (i + 1) * 64 * 64 * 3), { raw: { width: 64, height: 64, channels: 3 } }).resize(TILE, TILE, { kernel: 'nearest' }).png().toBuffer();
  const stories = which.split(',').map((s) => index.stories[Number(s)]);
  const columns = 2 + 3;
  const width = LABEL + columns * (TILE + GAP) + GAP;
  const blockHeight = HEADER + ROWS.length * (TILE + GAP);
  const height = HEADER + stories.length * blockHeight;
  const layers: Array<{ input: Buffer; left: number; top: number }> = [];
  const colX = (c: number) => LABEL + GAP + c * (TILE + GAP) + (c >= 2 ? GAP : 0);
  const heads = ['reference A', 'reference B', 'scene 1: A | B', 'scene 2: B | A', 'scene 3: A | B'];
  heads.forEach((h, c) => layers.push({ input: text([h], TILE, HEADER, 13, 'middle'), left: colX(c), top: 4 }));
  for (const [s, story] of stories.entries()) {
    const top = HEADER + s * blockHeight;
    const [a, b] = story.subjects;
    layers.push({ input: text([`story ${story.id}: A = ${a.label}, B = ${b.label}`], width - LABEL, HEADER, 15), left: LABEL, top: top + 4 });
    for (const [r, [variant, label]] of ROWS.entries()) {
      const y = top + HEADER + r * (TILE + GAP);
      layers.push({ input: text([label], LABEL, TILE, 15), left: 4, top: y + TILE / 2 - 12 });
      if (r === 0) for (const [c, ref] of story.references.entries()) layers.push({ input: await tile(ref), left: colX(c), top: y });
      for (const [c, scene] of story.scenes.entries()) {
        layers.push({ input: await tile(scene.images[variant]), left: colX(2 + c), top: y });
        layers.push({ input: boxOutline(story.subjects.map((sub) => scene.boxes[sub.name])), left: colX(2 + c), top: y });
      }
    }
  }
  await sharp({ create: { width, height, channels: 3, background: '#ffffff' } }).composite(layers).png({ compressionLevel: 9 }).toFile(out);
  console.log(`${out}: ${stories.length} stories, ${width}×${height}`);
}

await main();
