// The models folder as the model picker shows it: checkpoint files and diffusers folders, each with a
// family guessed from its tensor names (safetensors headers only; no weights are read) and the methods
// the studio runs on that family. Files that cannot be read are listed with the reason.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SafetensorsFile } from '../../pipelines/io/safetensors.ts';
import type { ModelEntry } from './api.ts';

const CHECKPOINT_EXTENSIONS = /\.(safetensors|ckpt|pt|pth)$/i;

/** What runs on each family (DESIGN.md §1): attention variants, then guidance methods. */
const METHODS: Record<string, string[]> = {
  sd1: ['softmax', 'agent', 'linfusion', 'pag', 'softpag'],
  sd2: ['softmax', 'agent', 'linfusion', 'pag', 'softpag'],
  sdxl: ['softmax', 'linfusion', 'pag', 'softpag', 'ir-diffusion'],
  dit: ['softmax', 'pag', 'softpag'],
  lit: ['linear', 'pag', 'softpag'],
  dico: [],
  linfusion: [],
};

/** Tensor-name fingerprints, checked in order (SDXL also has the SD1 UNet names). */
const FINGERPRINTS: [family: string, test: (key: string) => boolean][] = [
  ['sdxl', (k) => k.startsWith('conditioner.embedders.1.') || k.startsWith('add_embedding.linear_1.')],
  ['sd2', (k) => k.startsWith('cond_stage_model.model.transformer.')],
  ['sd1', (k) => k.startsWith('cond_stage_model.transformer.') || k.startsWith('model.diffusion_model.input_blocks.')],
  ['linfusion', (k) => /^\d+\.to_q\.weight$/.test(k)],
  ['dit', (k) => k.startsWith('x_embedder.') || k.startsWith('blocks.0.adaLN_modulation.')],
];

export function guessFamily(keys: Iterable<string>): string | undefined {
  const list = [...keys];
  return FINGERPRINTS.find(([, test]) => list.some(test))?.[0];
}

const PIPELINE_FAMILIES: Record<string, string> = {
  StableDiffusionPipeline: 'sd1',
  StableDiffusionXLPipeline: 'sdxl',
  DiTPipeline: 'dit',
  PixArtAlphaPipeline: 'dit',
};

async function describeFolder(path: string, name: string): Promise<ModelEntry | undefined> {
  const index = join(path, 'model_index.json');
  if (!existsSync(index)) return undefined;
  const entry: ModelEntry = { name, path, kind: 'folder', methods: [], sizeBytes: 0 };
  try {
    const parsed = JSON.parse(await readFile(index, 'utf8')) as { _class_name?: unknown };
    const cls = typeof parsed._class_name === 'string' ? parsed._class_name : '';
    entry.family = PIPELINE_FAMILIES[cls];
    if (!entry.family) entry.problem = `model_index.json names pipeline "${cls}", which the studio does not run`;
  } catch (e) {
    entry.problem = `model_index.json cannot be read: ${(e as Error).message}`;
  }
  entry.methods = METHODS[entry.family ?? ''] ?? [];
  return entry;
}

export function describeCheckpointFile(path: string, name: string, sizeBytes: number): ModelEntry {
  const entry: ModelEntry = { name: name.replace(CHECKPOINT_EXTENSIONS, ''), path, kind: 'file', methods: [], sizeBytes };
  if (!/\.safetensors$/i.test(name)) {
    entry.problem = 'pickle checkpoints are read by the engine only; convert it to .safetensors to see its family here';
    return entry;
  }
  try {
    entry.family = guessFamily(SafetensorsFile.open(path).tensors.keys());
    if (!entry.family) entry.problem = 'its tensor names match no model family the studio knows';
  } catch (e) {
    entry.problem = (e as Error).message;
  }
  entry.methods = METHODS[entry.family ?? ''] ?? [];
  return entry;
}

/** Reads one checkpoint's header; the server passes one that runs in its inspector worker. */
export type DescribeCheckpoint = (path: string, name: string, sizeBytes: number) => Promise<ModelEntry>;

/** Every model in `dir` (one level deep), by name. A missing folder is an empty list. */
export async function scanModels(dir: string, describe: DescribeCheckpoint = async (...a) => describeCheckpointFile(...a)): Promise<ModelEntry[]> {
  if (!existsSync(dir)) return [];
  const found: ModelEntry[] = [];
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    if (d.name.startsWith('.')) continue;
    const path = join(dir, d.name);
    if (d.isDirectory()) {
      const folder = await describeFolder(path, d.name);
      if (folder) found.push(folder);
    } else if (d.isFile() && CHECKPOINT_EXTENSIONS.test(d.name)) {
      const sizeBytes = statSync(path).size;
      found.push(
        await describe(path, d.name, sizeBytes).catch((e: Error) => ({
          name: d.name.replace(CHECKPOINT_EXTENSIONS, ''),
          path,
          kind: 'file' as const,
          methods: [],
          sizeBytes,
          problem: e.message,
        })),
      );
    }
  }
  return found.sort((a, b) => a.name.localeCompare(b.name));
}
