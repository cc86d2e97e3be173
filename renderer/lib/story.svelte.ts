// The story being edited in the method panel: subjects (a name that scene prompts use, and a
// description for the subject's reference image), scenes (a prompt and a box per subject), and the
// draft the studio's `story` call takes. Boxes are [left, top, right, bottom] as fractions of the image.
import type { StoryDraft } from '../../pipelines/jobs/api-studio.ts';

export type Box = [number, number, number, number];

export interface SubjectDraft {
  id: number;
  name: string;
  description: string;
}

export interface SceneDraft {
  id: number;
  prompt: string;
  /** By subject id, so renaming a subject keeps its boxes. */
  boxes: Record<number, Box>;
}

/** Subject colours in the box editor, by subject position. */
export const SUBJECT_COLOURS = ['#ff8a5c', '#5cc8ff', '#b58cff', '#7ddc6f', '#ffd166', '#ff6fb5', '#4fd1c5', '#c0c0c0'];

/** A box dragged smaller than this (fraction of the side) is dropped. */
export const MIN_BOX_SIDE = 0.04;

const round3 = (v: number) => Math.round(v * 1000) / 1000;
const clamp01 = (v: number) => Math.min(1, Math.max(0, v));

/** Corners in any order → a box inside the image. */
export function boxFrom(x0: number, y0: number, x1: number, y1: number): Box {
  return [round3(clamp01(Math.min(x0, x1))), round3(clamp01(Math.min(y0, y1))), round3(clamp01(Math.max(x0, x1))), round3(clamp01(Math.max(y0, y1)))];
}

/** The box shifted by (dx, dy), kept inside the image with its size unchanged. */
export function moveBox(b: Box, dx: number, dy: number): Box {
  const [w, h] = [b[2] - b[0], b[3] - b[1]];
  const left = Math.min(1 - w, Math.max(0, b[0] + dx));
  const top = Math.min(1 - h, Math.max(0, b[1] + dy));
  return [round3(left), round3(top), round3(left + w), round3(top + h)];
}

export class StoryEditor {
  subjects = $state<SubjectDraft[]>([]);
  scenes = $state<SceneDraft[]>([]);
  /** The model the story runs on (an embedded model name or a model path; the panel picks the first that runs stories). */
  model = $state('');
  /** Empty number fields bind to null: the story's (or the model's) default. */
  seed = $state<number | null>(null);
  steps = $state<number | null>(null);
  cfg = $state<number | null>(null);
  private nextId = 1;

  constructor() {
    this.addSubject('cat face', 'a cat face');
    this.addSubject('pizza', 'a pizza');
    this.addScene('a cat face and a pizza');
  }

  addSubject(name = '', description = ''): void {
    this.subjects.push({ id: this.nextId++, name, description });
  }

  removeSubject(id: number): void {
    this.subjects = this.subjects.filter((s) => s.id !== id);
    for (const scene of this.scenes) delete scene.boxes[id];
  }

  addScene(prompt = ''): void {
    this.scenes.push({ id: this.nextId++, prompt, boxes: {} });
  }

  removeScene(id: number): void {
    this.scenes = this.scenes.filter((s) => s.id !== id);
  }

  colour(subjectId: number): string {
    const at = this.subjects.findIndex((s) => s.id === subjectId);
    return SUBJECT_COLOURS[Math.max(0, at) % SUBJECT_COLOURS.length];
  }

  draft(): StoryDraft {
    const nameOf = new Map(this.subjects.map((s) => [s.id, s.name.trim()]));
    return {
      ...(this.seed == null ? {} : { seed: this.seed }),
      ...(this.steps == null ? {} : { steps: this.steps }),
      ...(this.cfg == null ? {} : { cfg: this.cfg }),
      subjects: this.subjects.map((s) => ({ name: s.name.trim(), ...(s.description.trim() ? { description: s.description.trim() } : {}) })),
      scenes: this.scenes.map((scene) => {
        const boxes = Object.entries(scene.boxes).filter(([id]) => nameOf.has(Number(id)));
        return {
          prompt: scene.prompt.trim(),
          ...(boxes.length ? { boxes: Object.fromEntries(boxes.map(([id, box]) => [nameOf.get(Number(id))!, box])) } : {}),
        };
      }),
    };
  }
}
