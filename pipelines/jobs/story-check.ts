// What can be checked of a story before it is queued, without the model: subjects named once, boxes
// of known subjects, inside the image, apart (the story recipe's own rules, so the answer is immediate).
import { checkBox, checkOverlaps, StoryInputError } from '../recipes/story/boxes.ts';
import { BadRequestError, type StoryRequest } from './api.ts';

export function checkStoryDraft(story: Pick<StoryRequest, 'subjects' | 'scenes'>): void {
  const names = story.subjects.map((s) => s.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new BadRequestError(`story: two subjects are named "${twice}"; names must be unique`);
  try {
    story.scenes.forEach((scene, k) => {
      const where = `story scene ${k + 1}`;
      const boxes = Object.entries(scene.boxes ?? {}).map(([name, box]) => {
        if (!names.includes(name)) throw new StoryInputError(`${where}: has a box for "${name}", but no subject has that name (subjects: ${names.join(', ')})`);
        return { name, box: checkBox(box, `${where}, box of "${name}"`) };
      });
      checkOverlaps(boxes, where);
    });
  } catch (e) {
    if (e instanceof StoryInputError) throw new BadRequestError(e.message);
    throw e;
  }
}
