// Writes the batch's contact sheets whose jobs are all done (once: a sheet already there is kept).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeNewFileAtomic } from '../../queue/atomic-write.ts';
import { renderContactSheet } from './grid.ts';
import type { PlannedJob, PlannedSheet } from './plan.ts';

/** `firstImage(job)`: the file name of the job's first image when the job is done, else undefined. */
export async function writeContactSheets(out: string, sheets: readonly PlannedSheet[], firstImage: (job: PlannedJob) => string | undefined, onSheet?: (file: string) => void): Promise<string[]> {
  const made: string[] = [];
  for (const sheet of sheets) {
    const images = sheet.jobs.map(firstImage);
    if (images.some((f) => f === undefined)) continue;
    const path = join(out, sheet.name);
    if (!existsSync(path)) {
      const { png } = await renderContactSheet({ title: sheet.prompt, cols: sheet.cols, rows: sheet.rows, files: images.map((f) => join(out, f!)) });
      await writeNewFileAtomic(path, png);
    }
    made.push(sheet.name);
    onSheet?.(sheet.name);
  }
  return made;
}
