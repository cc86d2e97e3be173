// `--heads` for a generation request: the text resolved against the model's architecture (when the
// model is named) into the request's `pag.heads` entries.
import type { HeadWeight } from '../jobs/api.ts';
import { presetDirs, resolveHeads, type HeadsTarget } from './resolve.ts';
import { inspectHeads } from './inspect.ts';
import { NeedsModelError } from './spec.ts';

export function requestHeads(text: string, model: string | undefined, modelsDir: string | undefined): HeadWeight[] {
  let target: HeadsTarget | undefined;
  if (model !== undefined) {
    try {
      target = inspectHeads(model, { modelsDir });
    } catch (e) {
      throw new Error(`the model's layers are needed to check the heads, and reading ${model} failed: ${(e as Error).message}`);
    }
  }
  try {
    return resolveHeads(text, target, presetDirs(modelsDir)).picks.map(({ layer, head, u }) => ({ layer, head, strength: u }));
  } catch (e) {
    if (!(e instanceof NeedsModelError)) throw e;
    throw new Error(`${(e as Error).message}; name the model (--model) so its layers can be read`);
  }
}
