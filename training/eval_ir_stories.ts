// IR-Diffusion on the emoji-DiT, evaluation set (issue 7): 12 two-subject stories drawn from emoji
// names of the training captions, each 2 generated references + 3 scenes with left/right boxes, made by
// the TS engine with IR off (the plain scene, same seed), IR with the official settings, and IR
// without the mutual cross-attention. Writes raw uint8 images + a JSON index for training/eval_ir.py:
//
//   node --import tsx training/eval_ir_stories.ts .cache/emoji-data/emoji64.pack .cache/ir-eval/device
//
// The pack gives the class index of each subject (the recogniser's label) and the held-out flags.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { EmojiTokenizer } from '../pipelines/models/emoji/tokenizer.ts';
import { resolveEmojiModel } from '../pipelines/recipes/emoji/models.ts';
import { emojiDitStoryModel } from '../pipelines/recipes/story/emoji-dit-story-model.ts';
import { runStory } from '../pipelines/recipes/story/run-story.ts';
import { parseStory, type Story } from '../pipelines/recipes/story/story.ts';
import type { StoryImage } from '../pipelines/recipes/story/story-model.ts';
import { MT19937 } from '../pipelines/random/mt19937.ts';

/** The story's `ir` settings per variant; `off` is the plain scene of the first IR run (same seed). */
export const VARIANTS = {
  off: null,
  ir: {},
  'ir-no-cross': { mutualCrossAttention: false },
} as const;
export type Variant = keyof typeof VARIANTS;

const STORIES = 12;
const LEFT = [0, 0.25, 0.5, 0.75] as const;
const RIGHT = [0.5, 0.25, 1, 0.75] as const;
const SKIPPED_CATEGORIES = new Set(['Flags', 'Component']);

/** One story in index.json; numbers are image indices in images.u8. */
interface EvalStory {
  id: number;
  subjects: Array<{ name: string; label: string; cls: number }>;
  references: number[];
  scenes: Array<{ prompt: string; seed?: number; boxes: Record<string, readonly number[]>; images: Partial<Record<Variant, number>> }>;
}

interface PackClass {
  label: string;
  category: string;
  heldout: boolean;
}

function packClasses(path: string): PackClass[] {
  const raw = readFileSync(path);
  if (raw.subarray(0, 8).toString('ascii') !== 'EMJPACK1') throw new Error(`${path} is not an emoji pack (build it with training/dataset/build.mjs)`);
  return JSON.parse(gunzipSync(raw.subarray(12, 12 + raw.readUInt32LE(8))).toString('utf8')).classes;
}

/** Subjects: training classes (not held out, no flags) with 1–3 word labels the text encoder knows. */
function pickPairs(classes: PackClass[], vocab: ReadonlySet<string>): Array<[number, number]> {
  const ok = classes.flatMap((c, i) => {
    const words = c.label.split(' ');
    return !c.heldout && !SKIPPED_CATEGORIES.has(c.category) && words.length <= 3 && words.every((w) => vocab.has(w)) ? [i] : [];
  });
  const rng = new MT19937(7n);
  const picked: number[] = [];
  while (picked.length < 2 * STORIES) {
    const i = ok[rng.nextUint32() % ok.length];
    if (!picked.includes(i)) picked.push(i);
  }
  return Array.from({ length: STORIES }, (_, k) => [picked[2 * k], picked[2 * k + 1]]);
}

export function evalStory(k: number, a: string, b: string, ir: object): Story {
  const style = k % 2 === 0 ? 'noto' : 'twemoji';
  return parseStory({
    seed: 1000 + 10 * k, steps: 8, cfg: 3.5, ir,
    subjects: [{ name: 'a', words: a, description: `a ${a} in ${style} style` }, { name: 'b', words: b, description: `a ${b} in ${style} style` }],
    scenes: [
      { prompt: `a ${a} and a ${b} in ${style} style`, boxes: { a: LEFT, b: RIGHT } },
      { prompt: `${b} on the left and ${a} on the right, ${style} style`, boxes: { b: LEFT, a: RIGHT } },
      { prompt: `${a} and ${b}, ${style} style`, boxes: { a: LEFT, b: RIGHT } },
    ],
  }, `story ${k}`);
}

async function main(): Promise<void> {
  const [packPath, outDir] = process.argv.slice(2);
  if (!packPath || !outDir) throw new Error('usage: eval_ir_stories.ts PACK OUT_DIR');
  const model = await emojiDitStoryModel('emoji-dit', { providers: ['cpu'] });
  const classes = packClasses(packPath);
  const pairs = pickPairs(classes, new Set(EmojiTokenizer.fromFolder(resolveEmojiModel('emoji-dit').textDir).vocab));
  const images: Uint8Array[] = [];
  const add = (img: StoryImage) => {
    images.push(Uint8Array.from(img.rgb, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255)));
    return images.length - 1;
  };
  const stories: EvalStory[] = [];
  for (const [k, [ca, cb]] of pairs.entries()) {
    const [a, b] = [classes[ca].label, classes[cb].label];
    const story: EvalStory = { id: k, subjects: [{ name: 'a', label: a, cls: ca }, { name: 'b', label: b, cls: cb }], references: [], scenes: [] };
    for (const [variant, ir] of Object.entries(VARIANTS) as Array<[Variant, object | null]>) {
      if (!ir) continue;
      const first = variant === 'ir';
      const t0 = performance.now();
      const result = await runStory(model, evalStory(k, a, b, ir), { plainScenes: first });
      for (const img of result.images) {
        if (img.kind === 'reference') {
          if (first) story.references.push(add(img));
          continue;
        }
        const scene = result.story.scenes[img.index];
        story.scenes[img.index] ??= { prompt: scene.prompt, seed: scene.seed, boxes: scene.boxes, images: {} };
        story.scenes[img.index].images[img.kind === 'plain-scene' ? 'off' : variant] = add(img);
      }
      console.log(`story ${k} (${a} + ${b}) ${variant}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    stories.push(story);
  }
  await model.release();
  mkdirSync(outDir, { recursive: true });
  const flat = new Uint8Array(images.length * 64 * 64 * 3);
  images.forEach((img, i) => flat.set(img, i * img.length));
  writeFileSync(join(outDir, 'images.u8'), flat);
  const index = { format: 'ir-eval-1', image: { height: 64, width: 64, channels: 3, dtype: 'uint8', layout: 'NHWC' }, count: images.length, file: 'images.u8', settings: { model: 'emoji-dit', steps: 8, cfg: 3.5, variants: Object.keys(VARIANTS), ir: VARIANTS }, stories };
  writeFileSync(join(outDir, 'index.json'), `${JSON.stringify(index, null, 1)}\n`);
  console.log(`${images.length} images → ${outDir}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
