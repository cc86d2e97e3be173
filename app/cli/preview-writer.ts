// `studio generate --previews DIR`: each preview the engine sends is written as a PNG named after its
// denoise step. A preview arrives just before the progress of its step; a step count that starts again
// is hires fix's second pass.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePng } from '../../pipelines/metadata/encode-png.ts';
import type { JobProgress, Rgb8 } from '../../pipelines/jobs/api.ts';

export class PreviewWriter {
  private pending?: Rgb8;
  private lastStep = 0;
  private pass = 0;
  private writes: Promise<void>[] = [];
  readonly files: string[] = [];

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  preview(image: Rgb8): void {
    this.pending = image;
  }

  progress(p: JobProgress): void {
    if (p.phase !== 'denoise') return;
    if (p.step <= this.lastStep) this.pass++;
    this.lastStep = p.step;
    const image = this.pending;
    this.pending = undefined;
    if (!image) return;
    const file = join(this.dir, `${this.pass ? 'hires-' : ''}step-${String(p.step).padStart(3, '0')}.png`);
    this.files.push(file);
    this.writes.push(encodePng(image).then((png) => writeFileSync(file, png)));
  }

  /** Waits for the files still being written. */
  async finished(): Promise<string[]> {
    await Promise.all(this.writes);
    return this.files;
  }
}
