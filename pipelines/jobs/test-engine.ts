// The test-engine override: tests of the CLI, the server and the UI name a module in
// STUDIO_TEST_ENGINE that exports a fake `runGenerate` (tiny gradient images) and optionally
// `listHeads`; the engine host then runs those instead of the real recipes, so front ends can be
// tested end to end without model weights. Not for normal use.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { GenerateOptions, GenerateRequest, GenerateResult, HeadLayer } from './api.ts';

export const TEST_ENGINE_ENV = 'STUDIO_TEST_ENGINE';

export interface TestEngine {
  runGenerate(request: GenerateRequest, options: GenerateOptions): Promise<GenerateResult>;
  listHeads?(query: { model?: string; modelsDir?: string }): Promise<{ layers: HeadLayer[] }> | { layers: HeadLayer[] };
}

let loaded: Promise<TestEngine | undefined> | undefined;

/** The module named by STUDIO_TEST_ENGINE, or undefined when it is not set. */
export function testEngine(): Promise<TestEngine | undefined> {
  loaded ??= (async () => {
    const path = process.env[TEST_ENGINE_ENV];
    if (!path) return undefined;
    const mod: Partial<TestEngine> = await import(pathToFileURL(resolve(path)).href);
    if (typeof mod.runGenerate !== 'function') throw new Error(`${path} (${TEST_ENGINE_ENV}) does not export a runGenerate function`);
    return { runGenerate: mod.runGenerate, ...(typeof mod.listHeads === 'function' ? { listHeads: mod.listHeads } : {}) };
  })();
  return loaded;
}
