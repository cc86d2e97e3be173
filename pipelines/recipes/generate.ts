// The generate job: a validated request → the model's family (pipelines/families) → RGB images.
// Without a model it draws with the embedded default; the loaded pipeline stays warm for the next
// request on the same model.
import { loadModel } from '../families/load.ts';
import { checkRequest, resolveModel } from '../families/registry.ts';
import { providersFor } from '../families/results.ts';
import type { GenerateOptions, GenerateRequest, GenerateResult } from '../jobs/api.ts';
import { extractLoraTags, resolveLoras } from '../lora/library.ts';

export async function runGenerate(request: GenerateRequest, options: GenerateOptions = {}): Promise<GenerateResult> {
  const resolved = resolveModel(request.model, request.modelsDir);
  const { family, probe } = resolved;
  // `<lora:NAME:W>` tags join the request's LoRAs and leave the text (A1111 ignores them in negatives).
  const tagged = extractLoraTags(request.prompt);
  const negative = extractLoraTags(request.negative).prompt;
  const asked = { ...request, prompt: tagged.prompt, negative, loras: [...(request.loras ?? []), ...tagged.loras] };
  checkRequest(family, probe, asked, request.model);
  const loras = resolveLoras(asked.loras, request.loraDir, request.modelsDir);
  const t0 = performance.now();
  options.onProgress?.({ phase: 'load', step: 0, total: 1 });
  const pipeline = await loadModel(resolved, { modelsDir: request.modelsDir, vae: request.vae, config: request.config, loras, providers: providersFor(request.ep) });
  const loadMs = performance.now() - t0;
  const result = await family.generate(pipeline, probe, asked, options);
  return { ...result, timings: { ...result.timings, load: loadMs } };
}
