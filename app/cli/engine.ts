// The CLI's one way into the engine: runGenerate from pipelines/recipes/generate.ts, loaded only when
// a command needs it (so --help does not load onnxruntime).
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { GenerateOptions, GenerateRequest, GenerateResult } from '../../pipelines/recipes/request.ts';

export type RunGenerate = (request: GenerateRequest, options: GenerateOptions) => Promise<GenerateResult>;

/**
 * Tests of the CLI process point this at a module exporting a fake `runGenerate` (tiny gradient
 * images), so the command line can be tested without model weights. Not for normal use.
 */
export const TEST_ENGINE_ENV = 'STUDIO_TEST_ENGINE';

export async function loadEngine(): Promise<RunGenerate> {
  const override = process.env[TEST_ENGINE_ENV];
  const mod: { runGenerate?: unknown } = override
    ? await import(pathToFileURL(resolve(override)).href)
    : await import('../../pipelines/recipes/generate.ts');
  if (typeof mod.runGenerate !== 'function') {
    throw new Error(`${override ?? 'pipelines/recipes/generate.ts'} does not export a runGenerate function`);
  }
  return mod.runGenerate as RunGenerate;
}
