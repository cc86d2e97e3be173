// The README's examples that need no download, shrunk to tiny sizes and few steps, as `studio`
// command lines. Shared by test/readme-png-pin.test.ts (which checks the PNGs against
// test/readme-png-pin.json) and scripts/record-png-pins.ts (which writes that file).
//
// Every case runs in a scratch folder holding `fx` (a link to the reference fixtures), `single/`
// (the single-file checkpoint beside its config folder), `init.png` and `story.json`, so the paths recorded in each PNG's metadata are the same on every machine.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import sharp from 'sharp';

export interface PinCase {
  name: string;
  args: string[];
  /** A file or a folder (every PNG under it is pinned). */
  out: string;
}

const SD15 = ['--model', 'fx/sd15-tiny', '--prompt', 'a (red:1.2) apple', '--negative', 'blurry', '--steps', '2', '--cfg', '7', '--seed', '42', '--width', '64', '--height', '64'];
const CLASS_VAE = ['--vae', 'fx/sd15-tiny/vae', '--class', '3', '--steps', '2', '--seed', '5'];

export const PIN_CASES: PinCase[] = [
  { name: 'emoji-lit (default model)', args: ['generate', '--prompt', 'a smiling cat face', '--seed', '1', '--out', 'emoji-lit.png'], out: 'emoji-lit.png' },
  { name: 'emoji-dit with PAG on chosen heads', args: ['generate', '--prompt', 'a cat face', '--model', 'emoji-dit', '--pag-scale', '1', '--heads', 'L2H1:0.5,L3:1', '--seed', '2', '--out', 'emoji-dit.png'], out: 'emoji-dit.png' },
  { name: 'emoji-dico', args: ['generate', '--prompt', 'a cat face', '--model', 'emoji-dico', '--seed', '3', '--out', 'emoji-dico.png'], out: 'emoji-dico.png' },
  { name: 'sd15-tiny txt2img, dpmpp_2m_karras', args: ['generate', ...SD15, '--sampler', 'dpmpp_2m_karras', '--out', 'sd15.png'], out: 'sd15.png' },
  { name: 'sd15-tiny img2img', args: ['generate', ...SD15, '--init-image', 'init.png', '--strength', '0.6', '--out', 'sd15-img2img.png'], out: 'sd15-img2img.png' },
  // The README says `--pag-layers mid`; on sd15-tiny that leaves every pixel as it is, so `up`.
  { name: 'sd15-tiny PAG up', args: ['generate', ...SD15, '--pag-scale', '3', '--pag-layers', 'up', '--out', 'sd15-pag.png'], out: 'sd15-pag.png' },
  { name: 'sd15-tiny LinFusion', args: ['generate', ...SD15, '--attention', 'linfusion:fx/sd15-tiny-linfusion', '--out', 'sd15-linfusion.png'], out: 'sd15-linfusion.png' },
  { name: 'sd15-tiny single file', args: ['generate', ...SD15.slice(2), '--model', 'single/sd15-tiny-single-file.safetensors', '--out', 'sd15-single.png'], out: 'sd15-single.png' },
  { name: 'sdxl-tiny txt2img', args: ['generate', ...SD15.slice(2), '--model', 'fx/sdxl-tiny', '--out', 'sdxl.png'], out: 'sdxl.png' },
  { name: 'dit-tiny class-conditional', args: ['generate', '--model', 'fx/dit-tiny.safetensors', ...CLASS_VAE, '--width', '128', '--height', '128', '--out', 'dit.png'], out: 'dit.png' },
  { name: 'dico-tiny class-conditional', args: ['generate', '--model', 'fx/dico-tiny.safetensors', ...CLASS_VAE, '--width', '64', '--height', '64', '--out', 'dico.png'], out: 'dico.png' },
  { name: 'batch sweep with grid', args: ['batch', '--prompt', 'a cat face', '--steps', '2', '--x', 'cfg=2,4', '--y', 'seed=1,2', '--out', 'sweep'], out: 'sweep' },
  { name: 'story (IR-Diffusion on emoji-dit)', args: ['story', 'story.json', '--steps', '2', '--out', 'story'], out: 'story' },
];

const ROOT = resolve(import.meta.dirname, '..');
const STUDIO = join(ROOT, 'app', 'cli', 'studio.js');

/** A scratch folder with `fx` → the fixtures, a gradient `init.png` and the README's story. */
export async function preparePinFolder(fixtures: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'studio-png-pin-'));
  symlinkSync(fixtures, join(dir, 'fx'));
  // A single file takes the configs its tensors cannot tell from the diffusers folder named like it.
  mkdirSync(join(dir, 'single'));
  symlinkSync(join(fixtures, 'sd15-tiny-single-file.safetensors'), join(dir, 'single', 'sd15-tiny-single-file.safetensors'));
  symlinkSync(join(fixtures, 'sd15-tiny'), join(dir, 'single', 'sd15-tiny-single-file'));
  copyFileSync(join(ROOT, 'examples', 'story-emoji.json'), join(dir, 'story.json'));
  const size = 64;
  const pixels = Buffer.alloc(size * size * 3);
  for (let i = 0; i < size * size; i++) {
    const x = i % size;
    const y = Math.floor(i / size);
    pixels.set([x * 4, y * 4, (x + y) * 2], i * 3);
  }
  await sharp(pixels, { raw: { width: size, height: size, channels: 3 } }).png().toFile(join(dir, 'init.png'));
  return dir;
}

/** Runs `studio ARGS` in `cwd`; rejects with its stderr when it exits non-zero. */
export function runStudio(args: string[], cwd: string): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [STUDIO, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? done() : fail(new Error(`studio ${args.join(' ')} exited ${code}:\n${stderr}`))));
  });
}

/** What is pinned of one PNG: SHA-256 of its decoded RGB(A) pixels and of the whole file's bytes. */
export interface PngPin {
  pixels: string;
  png: string;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** The pins of `out` (a PNG, or every PNG under a folder), keyed by path relative to the scratch folder. */
export async function pinsOf(cwd: string, out: string): Promise<Record<string, PngPin>> {
  const path = join(cwd, out);
  const files = statSync(path).isDirectory() ? pngsUnder(path) : [path];
  const pins: Record<string, PngPin> = {};
  for (const file of files) {
    const bytes = readFileSync(file);
    const pixels = await sharp(bytes).raw().toBuffer();
    pins[relative(cwd, file)] = { pixels: sha256(pixels), png: sha256(bytes) };
  }
  return pins;
}

function pngsUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.png'))
    .sort()
    .map((name) => join(dir, name));
}

/** Runs `tasks` in `lanes` chains side by side; the promises keep the tasks' order. */
export function runInLanes<T>(tasks: Array<() => Promise<T>>, lanes: number): Array<Promise<T>> {
  const tails: Array<Promise<unknown>> = Array.from({ length: lanes }, () => Promise.resolve());
  return tasks.map((task, i) => {
    const result = tails[i % lanes].then(task);
    tails[i % lanes] = result.catch(() => undefined);
    return result;
  });
}
