// A story: subjects (each with the words that name it, a description for its reference image or an
// image of the user's) and scenes (a prompt naming some subjects, optional boxes). Parsed from JSON
// with errors that name the field, then checked against the model's tokenizer.
import { z } from 'zod';
import { SAMPLER_NAMES } from '../../jobs/api.ts';
import { IR_DEFAULTS } from '../../attention/reposition.ts';
import { checkBox, checkOverlaps, StoryInputError, type Box } from './boxes.ts';

const SubjectSchema = z.strictObject({
  /** How scenes refer to the subject. */
  name: z.string().trim().min(1),
  /** The words naming it in prompts (default: the name); their attention maps locate it. */
  words: z.string().trim().min(1).optional(),
  /** Prompt of its reference image (default: the words). */
  description: z.string().trim().min(1).optional(),
  /** An image of the subject to use instead of generating one. */
  image: z.string().min(1).optional(),
  /** Where the subject is in `image` (default: found from the model's attention). */
  box: z.unknown().optional(),
});

const SceneSchema = z.strictObject({
  prompt: z.string().trim().min(1),
  /** Subjects in this scene (default: every subject whose words the prompt contains). */
  subjects: z.array(z.string()).optional(),
  /** Boxes by subject name; subjects without one get a box proposed from the attention maps. */
  boxes: z.record(z.string(), z.unknown()).optional(),
  seed: z.int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
});

const IrSchema = z.strictObject({
  dropout: z.number().min(0).max(0.99).default(IR_DEFAULTS.dropout),
  crossAttentionLambda: z.number().min(0).max(1).default(IR_DEFAULTS.crossAttentionLambda),
  refLogitBias: z.number().min(-100).max(100).default(IR_DEFAULTS.refLogitBias),
  startStep: z.int().min(0).default(IR_DEFAULTS.startStep),
  /** First self-attention layer (execution order) that reads the references; default: the official depth fraction. */
  mutualFrom: z.int().min(0).optional(),
  isolation: z.boolean().default(true),
  reposition: z.boolean().default(true),
  mutualCrossAttention: z.boolean().default(true),
});

const side = z.int().min(64).max(4096).multipleOf(8, { error: 'must be a multiple of 8' });

export const StorySchema = z.strictObject({
  model: z.string().min(1).optional(),
  seed: z.int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  steps: z.int().min(1).max(500).default(30),
  cfg: z.number().min(0).max(50).default(7),
  sampler: z.enum(SAMPLER_NAMES).default('dpmpp_2m'),
  width: side.optional(),
  height: side.optional(),
  negative: z.string().default(''),
  clipSkip: z.int().min(1).max(12).default(1),
  ir: IrSchema.default(IrSchema.parse({})),
  subjects: z.array(SubjectSchema).min(1, { error: 'a story needs at least one subject' }).max(8),
  scenes: z.array(SceneSchema).min(1, { error: 'a story needs at least one scene' }),
});

export type IrSettings = z.output<typeof IrSchema>;

export interface StorySubject {
  name: string;
  words: string;
  description: string;
  image?: string;
  box?: Box;
}

export interface StoryScene {
  prompt: string;
  /** Names, in the order the batch holds their references; undefined until checked against the tokenizer. */
  subjects?: string[];
  boxes: Record<string, Box>;
  seed?: number;
}

export type Story = Omit<z.output<typeof StorySchema>, 'subjects' | 'scenes'> & { subjects: StorySubject[]; scenes: StoryScene[] };

/** Parses and checks a story (everything that needs no model). `source` names it in errors. */
export function parseStory(json: unknown, source = 'story'): Story {
  const parsed = StorySchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length ? issue.path.join('.') : 'top level';
    throw new StoryInputError(`${source}: ${where}: ${issue.message}`);
  }
  const raw = parsed.data;
  const subjects = raw.subjects.map((s, i): StorySubject => ({
    name: s.name,
    words: s.words ?? s.name,
    description: s.description ?? s.words ?? s.name,
    image: s.image,
    box: s.box === undefined ? undefined : checkBox(s.box, `${source}: subjects.${i} ("${s.name}")`),
  }));
  const names = subjects.map((s) => s.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new StoryInputError(`${source}: two subjects are named "${twice}"; names must be unique`);
  const scenes = raw.scenes.map((scene, k) => parseScene(scene, `${source}: scene ${k + 1}`, names));
  return { ...raw, subjects, scenes };
}

function parseScene(scene: z.output<typeof SceneSchema>, where: string, names: readonly string[]): StoryScene {
  const unknown = [...(scene.subjects ?? []), ...Object.keys(scene.boxes ?? {})].find((n) => !names.includes(n));
  if (unknown !== undefined) throw new StoryInputError(`${where}: no subject is named "${unknown}" (subjects: ${names.join(', ')})`);
  if (scene.subjects && new Set(scene.subjects).size !== scene.subjects.length) throw new StoryInputError(`${where}: a subject is listed twice`);
  const boxes: Record<string, Box> = {};
  for (const [name, box] of Object.entries(scene.boxes ?? {})) {
    if (scene.subjects && !scene.subjects.includes(name)) throw new StoryInputError(`${where}: has a box for "${name}", which is not among its subjects (${scene.subjects.join(', ')})`);
    boxes[name] = checkBox(box, `${where}, box of "${name}"`);
  }
  checkOverlaps(Object.entries(boxes).map(([name, box]) => ({ name, box })), where);
  return { prompt: scene.prompt, subjects: scene.subjects, boxes, seed: scene.seed };
}

/** Token positions of each subject in its description, and of each scene's subjects in the scene prompt. */
export interface StoryTokens {
  subjects: number[][];
  scenes: Array<{ names: string[]; positions: number[][] }>;
}

/** Positions of the first occurrence of `words` in `prompt`'s encoded text row, or undefined. */
export type WordFinder = (prompt: string, words: string) => number[] | undefined;

export interface LocateOptions {
  /** Whether references are located by their words (else `subjects` holds empty lists). */
  referenceWords: boolean;
  /** Added to the message about words missing from a scene prompt (what the model reads of a prompt). */
  reading?: string;
}

/** Resolves scene subjects and their words in the prompts; the errors say which words are missing where. */
export function locateSubjects(story: Story, find: WordFinder, o: LocateOptions): StoryTokens {
  const subjects = story.subjects.map((s, i) => {
    if (!o.referenceWords) return [];
    const at = find(s.description, s.words);
    if (!at && !s.box) {
      throw new StoryInputError(`subject ${i + 1} ("${s.name}"): its words "${s.words}" do not occur in its description "${s.description}"; they locate it in its reference image, so add them (or give a box)`);
    }
    return at ?? [];
  });
  const at = (prompt: string, name: string) => find(prompt, subjectNamed(story, name).words);
  const scenes = story.scenes.map((scene, k) => {
    const listed = scene.subjects ?? story.subjects.filter((s) => at(scene.prompt, s.name) || scene.boxes[s.name]).map((s) => s.name);
    const missing = listed.filter((n) => !at(scene.prompt, n));
    if (missing.length) {
      const named = listed.length - missing.length;
      throw new StoryInputError(
        `scene ${k + 1} ("${scene.prompt}") has ${listed.length} subjects but its prompt names ${named === 0 ? 'none of them' : `only ${named}`}: ` +
          `${missing.map((n) => `"${subjectNamed(story, n).words}" (${n})`).join(', ')} ${missing.length === 1 ? 'does' : 'do'} not occur in it${o.reading ?? ''}; add the words to the prompt or drop the subject from the scene`,
      );
    }
    return { names: listed, positions: listed.map((n) => at(scene.prompt, n)!) };
  });
  return { subjects, scenes };
}

/**
 * Adds the user's boxes of scene k to `boxes` (which holds those proposed from attention for the
 * rest), checks that no two overlap too much, and records the scene's subjects and final boxes.
 */
export function settleSceneBoxes(story: Story, k: number, names: string[], boxes: Record<string, { box: Box; from: 'user' | 'attention' }>): void {
  const scene = story.scenes[k];
  for (const n of names) if (scene.boxes[n]) boxes[n] = { box: scene.boxes[n], from: 'user' };
  checkOverlaps(names.map((name) => ({ name, box: boxes[name].box })), `scene ${k + 1} (boxes proposed from attention for ${names.filter((n) => boxes[n].from === 'attention').join(', ')}; give every box to choose them yourself)`);
  story.scenes[k] = { ...scene, subjects: names, boxes: Object.fromEntries(names.map((n) => [n, boxes[n].box])) };
}

export function subjectNamed(story: Story, name: string): StorySubject {
  const s = story.subjects.find((x) => x.name === name);
  if (!s) throw new StoryInputError(`no subject is named "${name}"`);
  return s;
}
