// The ladder's tiny SD 1.x model as a diffusers folder: the UNet and VAE of test/fixtures/hires (its goldens'
// model) with sd15-tiny's text encoder, tokenizer and scheduler from ../shared/fixtures (the goldens' text side).
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fixture } from './fixtures.ts';

export const HIRES = resolve(import.meta.dirname, 'fixtures/hires');

/** Writes the folder at `dir`: symlinks to the parts, or copies of them where a folder scanner must find plain files. */
export function writeLadderModel(dir: string, how: 'link' | 'copy' = 'link'): string {
  mkdirSync(dir, { recursive: true });
  const parts = [...['text_encoder', 'tokenizer', 'scheduler'].map((p) => [fixture('sd15-tiny', p), p]), ...['unet', 'vae'].map((p) => [join(HIRES, p), p])];
  for (const [from, part] of parts) {
    if (how === 'copy') cpSync(from, join(dir, part), { recursive: true, dereference: true });
    else symlinkSync(from, join(dir, part));
  }
  writeFileSync(join(dir, 'model_index.json'), readFileSync(fixture('sd15-tiny', 'model_index.json')));
  return dir;
}
